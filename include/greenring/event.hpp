// greenring — event and async_result: one task signals, others wait.
//
//   greenring::event ready;
//   spawn([&] { prepare(); ready.set(); });
//   ready.wait();                       // parks until set()
//
//   greenring::async_result<int> r;
//   spawn([&] { r.set(compute()); });
//   int v = r.get(1s);                  // the value, or the exception set
//
// Waiters wake in FIFO order. A wait can be bounded by a timeout; a kill or
// a `timeout` scope takes the waiter out of line and propagates.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/wait_list.hpp>
#include <greenring/errors.hpp>

#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

namespace greenring {

/// gevent.event.Event: a flag that tasks wait on.
class event {
 public:
  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  /// Sets the flag and wakes every waiter. Never blocks.
  void set() noexcept {
    flag_ = true;
    waiters_.wake_all();
  }
  void clear() noexcept { flag_ = false; }
  bool is_set() const noexcept { return flag_; }
  bool ready() const noexcept { return flag_; }
  /// Waits until the flag is set (returns true at once if it is), for at
  /// most `timeout`; returns is_set().
  bool wait(duration timeout = forever) {
    if (flag_) return true;
    detail::wait_node n;
    waiters_.park(n, detail::deadline_in(timeout), "event.wait");
    return flag_ || n.woken;
  }
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> d) {
    return wait(detail::to_duration(d));
  }

  /// Internal: for wait()/wait_any over several objects.
  detail::wait_list& watchers() noexcept { return waiters_; }

 private:
  detail::wait_list waiters_;
  bool flag_ = false;
};

/// Raised by async_result::get() when the wait timed out.
class result_timeout : public std::runtime_error {
 public:
  result_timeout() : std::runtime_error("greenring::async_result: get() timed out") {}
};

namespace detail {
/// What async_result<T> and async_result<void> share: the one-shot state,
/// the exception, and the waiting.
class result_base {
 public:
  result_base() = default;
  result_base(const result_base&) = delete;
  result_base& operator=(const result_base&) = delete;

  void set_exception(std::exception_ptr e) {
    if (!e) throw std::invalid_argument("greenring::async_result: set_exception(nullptr)");
    begin_set();
    error_ = std::move(e);
    finish_set();
  }
  bool ready() const noexcept { return done_; }
  bool successful() const noexcept { return done_ && !error_; }
  std::exception_ptr exception() const noexcept { return error_; }

  /// Waits until set, for at most `timeout`; returns ready().
  bool wait(duration timeout = forever) {
    if (done_) return true;
    detail::wait_node n;
    waiters_.park(n, detail::deadline_in(timeout), "async_result.wait");
    return done_;  // set() wakes every waiter: woken means set
  }
  detail::wait_list& watchers() noexcept { return waiters_; }

 protected:
  void begin_set() const {
    if (done_) throw std::logic_error("greenring::async_result: set twice");
  }
  void finish_set() noexcept {
    done_ = true;
    waiters_.wake_all();
  }
  // Waits, then rethrows the stored exception; result_timeout on timeout.
  void wait_and_check(duration timeout) {
    if (!wait(timeout)) throw result_timeout();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  bool done_ = false;
  std::exception_ptr error_;
  detail::wait_list waiters_;
};
}  // namespace detail

/// gevent.event.AsyncResult: a one-shot value or exception that any number
/// of tasks can wait for. Setting it twice is an error (std::logic_error).
template <class T>
class async_result : public detail::result_base {
 public:
  /// Stores the value and wakes every waiter.
  template <class... A>
  void set(A&&... a) {
    begin_set();
    value_.emplace(std::forward<A>(a)...);
    finish_set();
  }
  /// Waits, then returns the value (a reference: move from it to take it)
  /// or rethrows the exception. Throws result_timeout after `timeout`.
  T& get(duration timeout = forever) {
    wait_and_check(timeout);
    return *value_;
  }
  template <class Rep, class Period>
  T& get(std::chrono::duration<Rep, Period> d) {
    return get(detail::to_duration(d));
  }

 private:
  std::optional<T> value_;
};

/// async_result<void>: set() with no value.
template <>
class async_result<void> : public detail::result_base {
 public:
  void set() {
    begin_set();
    finish_set();
  }
  void get(duration timeout = forever) { wait_and_check(timeout); }
};

}  // namespace greenring
