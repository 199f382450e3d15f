// jiffy/detail/config.hpp — build configuration shared by every header.
//
// Rules:
//  * Debug checks ("scheduling while atomic", preempt underflow, misuse of
//    handles) are on unless NDEBUG is defined; JIFFY_DEBUG=1 forces them on,
//    JIFFY_DEBUG=0 forces them off.
//  * Only x86-64 and AArch64 Linux are supported; anything else fails here,
//    at compile time, with a message rather than somewhere deep in assembly.
#pragma once

#include <cstddef>

#if !defined(__linux__)
#error "jiffy supports Linux only"
#endif
#if !defined(__x86_64__) && !defined(__aarch64__)
#error "jiffy supports x86-64 and AArch64 only"
#endif
#if __cplusplus < 202002L
#error "jiffy needs C++20"
#endif

#ifndef JIFFY_DEBUG
#ifdef NDEBUG
#define JIFFY_DEBUG 0
#else
#define JIFFY_DEBUG 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define JIFFY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JIFFY_ASAN 1
#endif
#endif
#ifndef JIFFY_ASAN
#define JIFFY_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define JIFFY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define JIFFY_TSAN 1
#endif
#endif
#ifndef JIFFY_TSAN
#define JIFFY_TSAN 0
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define JIFFY_EXCEPTIONS 1
#else
#define JIFFY_EXCEPTIONS 0
#endif

namespace jiffy::detail {
inline constexpr bool debug_checks = JIFFY_DEBUG != 0;
inline constexpr std::size_t cache_line = 64;
}  // namespace jiffy::detail
