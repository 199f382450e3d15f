// jiffy/detail/context.hpp — picks the context switch for the target.
#pragma once

#include <jiffy/detail/config.hpp>

#if defined(__x86_64__)
#include <jiffy/detail/context_x86_64.hpp>
#elif defined(__aarch64__)
#include <jiffy/detail/context_aarch64.hpp>
#endif
