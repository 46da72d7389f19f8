// greenring — wait groups, barriers and one-time initialisation for tasks:
// the rest of Go's sync package and Python's threading.Barrier.
//
//   greenring::wait_group wg;
//   for (auto& url : urls) {
//     wg.add();
//     spawn([&, url] { fetch(url); wg.done(); });
//   }
//   wg.wait();                                  // every fetch has finished
//
//   greenring::once_flag ready;
//   greenring::call_once(ready, [] { connect_pool(); });  // once, even if it parks
//
// Waits are FIFO, take a timeout, and are cut short by kill() and Timeout
// scopes, which take the waiter out of line. Like everything in greenring,
// an object belongs to one thread's tasks.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/wait_list.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace greenring {

class greenlet;

/// Go's sync.WaitGroup: a counter of work in progress that tasks wait to
/// reach zero. add() before starting the work, done() when it ends.
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  /// Adds `n` (negative: subtracts). Reaching zero wakes every waiter.
  /// Going below zero is an error (std::logic_error; the count is kept).
  void add(std::ptrdiff_t n = 1);
  void done() { add(-1); }
  /// Waits until the count is zero (at once if it is), for at most
  /// `timeout`; returns whether it is zero.
  bool wait(duration timeout = forever);
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> d) {
    return wait(detail::to_duration(d));
  }
  std::size_t count() const noexcept { return count_; }
  /// For greenring::wait over several objects: ready when the count is 0.
  bool ready() const noexcept { return count_ == 0; }
  detail::wait_list& watchers() noexcept { return waiters_; }

 private:
  std::size_t count_ = 0;
  detail::wait_list waiters_;
};

/// A barrier that could not be passed: a waiter timed out or was killed,
/// the action threw, or abort()/reset() was called (Python's
/// BrokenBarrierError).
class barrier_broken : public std::runtime_error {
 public:
  explicit barrier_broken(const char* why) : std::runtime_error(std::string("greenring::barrier: ") + why) {}
};

/// Python's threading.Barrier (and Boost.Fiber's barrier): `parties` tasks
/// wait() until all of them have arrived, then all go on; it is ready for
/// the next round at once. The optional action runs in the last task to
/// arrive, before the others are released.
///
/// If a waiter times out or is killed, or the action throws, the barrier
/// breaks: every task waiting and every later wait() gets barrier_broken
/// (the timed-out one too; the killed one gets its kill, the last arriver
/// the action's exception) until reset().
class barrier {
 public:
  explicit barrier(std::size_t parties, std::function<void()> action = {});
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  /// Waits for the other parties; returns this task's place in the round's
  /// arrival order, 0 to parties()-1 (the last to arrive gets parties()-1).
  std::size_t wait(duration timeout = forever);
  template <class Rep, class Period>
  std::size_t wait(std::chrono::duration<Rep, Period> d) {
    return wait(detail::to_duration(d));
  }
  /// Breaks it: the waiters get barrier_broken, as does every wait() until
  /// reset().
  void abort() noexcept;
  /// Back to a fresh round; tasks waiting now get barrier_broken.
  void reset() noexcept;
  bool broken() const noexcept { return broken_; }
  std::size_t parties() const noexcept { return parties_; }
  /// Tasks waiting in this round.
  std::size_t waiting() const noexcept { return arrived_; }

 private:
  void break_round() noexcept;
  std::size_t parties_;
  std::function<void()> action_;
  std::size_t arrived_ = 0;
  std::size_t round_ = 0;  // bumped whenever a round ends (released, broken, reset)
  bool broken_ = false;
  detail::wait_list waiters_;  // node.granted: released by a full round
};

/// For call_once: not yet run, running (in `runner`), or done.
class once_flag {
 public:
  once_flag() = default;
  once_flag(const once_flag&) = delete;
  once_flag& operator=(const once_flag&) = delete;
  /// The function has run to completion once.
  bool done() const noexcept { return state_ == state::done; }

 private:
  template <class F, class... Args>
  friend void call_once(once_flag&, F&&, Args&&...);
  // True: the caller is to run the function (and then call finish()).
  // False: it is done. Waits while another task runs it.
  bool begin();
  void finish(bool ok) noexcept;
  enum class state : unsigned char { idle, running, done };
  state state_ = state::idle;
  greenlet* runner_ = nullptr;
  detail::wait_list waiters_;
};

/// std::call_once for tasks (Go's sync.Once): runs fn(args...) the first
/// time; other callers meanwhile park until it has finished (the function
/// may park too; std::call_once would block the whole thread, and so the
/// task running the function). If it throws (or its task is killed), the
/// flag stays unset, the exception goes to that caller, and the next
/// caller in line runs it. Calling it again from inside fn on the same
/// flag is an error (std::logic_error), not a deadlock.
template <class F, class... Args>
void call_once(once_flag& flag, F&& fn, Args&&... args) {
  if (flag.done() || !flag.begin()) return;
  try {
    std::invoke(std::forward<F>(fn), std::forward<Args>(args)...);
  } catch (...) {
    flag.finish(false);
    throw;
  }
  flag.finish(true);
}

}  // namespace greenring
