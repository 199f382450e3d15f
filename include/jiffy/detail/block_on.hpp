// jiffy/detail/block_on.hpp — carries runtime::block_on's result from the
// fiber that computes it to the caller that waits for it.
//
// Rules:
//  * The fiber writes the slot (run) before it finishes; the caller reads it
//    (take) only after joining that fiber, so the join's synchronisation
//    orders the two and the slot needs none of its own.
//  * With exceptions enabled, an exception escaping f is captured and
//    rethrown by take() on the caller's side; without them f cannot throw.
#pragma once

#include <jiffy/detail/config.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace jiffy::detail {

template <class R>
struct block_on_slot {
  struct nothing {};
  std::optional<std::conditional_t<std::is_void_v<R>, nothing, R>> value;
#if JIFFY_EXCEPTIONS
  std::exception_ptr error;
#endif

  // Runs f on the fiber and keeps what it returned or threw.
  template <class F>
  void run(F& f) noexcept {
#if JIFFY_EXCEPTIONS
    try {
      store(f);
    } catch (...) {
      error = std::current_exception();
    }
#else
    store(f);
#endif
  }

  // On the caller, after the join: hands back the value or rethrows.
  R take() {
#if JIFFY_EXCEPTIONS
    if (error) std::rethrow_exception(error);
#endif
    if constexpr (!std::is_void_v<R>) return std::move(*value);
  }

 private:
  template <class F>
  void store(F& f) {
    if constexpr (std::is_void_v<R>) {
      f();
      value.emplace();
    } else {
      value.emplace(f());
    }
  }
};

}  // namespace jiffy::detail
