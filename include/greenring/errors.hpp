// greenring — the exception types the runtime throws.
//
// Two kinds. Cancellation (`greenlet_exit`, `timeout_error`) is delivered at a
// task's switch point and deliberately does NOT derive from std::exception, so
// `catch (const std::exception&)` in user code cannot swallow a kill or an
// expired timeout. Errors (`loop_exit`, `task_killed`) are std::exceptions.
#pragma once

#include <stdexcept>
#include <string>

namespace greenring {

class timeout;

/// Raised inside a greenlet or task to make it exit: by `task::kill()`, by
/// destroying a suspended `greenlet`, and at hub shutdown. Letting it escape
/// the body ends the greenlet normally. Catch it only to rethrow.
struct greenlet_exit {
  const char* what() const noexcept { return "greenring::greenlet_exit"; }
};

/// Raised at the switch point of the task that owns an expired
/// `greenring::timeout` scope. `source` identifies the scope (compare it with
/// the address of your own `timeout` to tell nested timeouts apart); it is
/// nullptr for the timeouts of `join`-like calls that report by return value.
struct timeout_error {
  const timeout* source = nullptr;
  /// The IO call it interrupted and its peer ("recv 127.0.0.1:80"), when
  /// it interrupted one.
  std::string where = {};
  const char* what() const noexcept {
    return where.empty() ? "greenring::timeout_error: timeout expired" : where.c_str();
  }
};

/// The current greenlet waits for something that nothing can ever wake: no
/// task is ready, no timer is armed and no IO is in flight (gevent's
/// LoopExit). The message lists the greenlets that are waiting and on what.
class loop_exit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown by `task<T>::get()` for a task that was killed with the default
/// `greenlet_exit` instead of finishing.
class task_killed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace greenring
