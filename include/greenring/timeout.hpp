// greenring — Timeout as an RAII scope (gevent.Timeout).
//
//   try {
//     greenring::timeout t(2s);
//     body();                        // blocked here for 2 s? timeout_error
//   } catch (const greenring::timeout_error& e) { ... }
//
// When the scope's time is up while its greenlet is blocked (sleep, join,
// IO), `timeout_error` is raised at that switch point. It is not a
// std::exception, so generic handlers let it pass. Leaving the scope
// disarms it. Scopes nest: `e.source` says which one expired.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/timer.hpp>
#include <greenring/errors.hpp>

#include <chrono>
#include <type_traits>
#include <utility>

namespace greenring {

class greenlet;

class timeout {
 public:
  /// Arms a timeout of `d` for the calling greenlet. `forever` never fires;
  /// zero or negative fires at the next switch point.
  template <class Rep, class Period>
  explicit timeout(std::chrono::duration<Rep, Period> d) : timeout(detail::to_duration(d), 0) {}
  ~timeout() { cancel(); }
  timeout(const timeout&) = delete;
  timeout& operator=(const timeout&) = delete;

  /// True once this timeout has fired.
  bool expired() const noexcept { return fired_; }
  /// Disarms the timeout (leaving the scope does this too).
  void cancel() noexcept { detail::timer_cancel(node_); }
  /// True when `e` was raised by this scope.
  bool is(const timeout_error& e) const noexcept { return e.source == this; }

 private:
  timeout(duration d, int);
  static void fire(detail::timer_node* n) noexcept;
  detail::timer_node node_;
  greenlet* owner_;
  bool fired_ = false;
};

/// Runs `fn()` under a timeout of `d`; `timeout_error` propagates.
template <class Rep, class Period, class F>
decltype(auto) with_timeout(std::chrono::duration<Rep, Period> d, F&& fn) {
  timeout t(d);
  return std::forward<F>(fn)();
}

/// Runs `fn()` under a timeout of `d`; returns `fallback` if that timeout
/// expires (an enclosing timeout still propagates).
template <class Rep, class Period, class F, class T>
auto with_timeout(std::chrono::duration<Rep, Period> d, F&& fn, T fallback) {
  timeout t(d);
  try {
    return std::forward<F>(fn)();
  } catch (const timeout_error& e) {
    if (!t.is(e)) throw;
    return static_cast<std::invoke_result_t<F>>(std::move(fallback));
  }
}

}  // namespace greenring
