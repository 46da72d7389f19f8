// greenring — the per-thread scheduler, seen from user code.
//
// Each OS thread gets a hub the first time it calls into the scheduler
// (`spawn`, `sleep`, `join`, ...), exactly as gevent does, so a plain main()
// can use it directly. The hub is a greenlet and the parent of every task. It
// runs ready tasks in FIFO order (switching straight from one to the next),
// fires due timers and waits in io_uring, bounded by the next timer.
//
// At thread exit (for the main thread: when main returns or exit() is
// called) the hub kills every task still alive, waits for them to unwind and
// releases their stacks: destructors run, nothing is left behind.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace greenring {

/// Suspends the calling greenlet for `d`. A zero or negative `d` yields:
/// every other ready task runs first, and the hub polls IO and timers.
/// Throws what cancels the caller (kill, an expired `timeout` scope).
void sleep(duration d);
template <class Rep, class Period>
void sleep(std::chrono::duration<Rep, Period> d) {
  sleep(detail::to_duration(d));
}
/// Suspends the calling greenlet until `deadline` (steady clock). A
/// deadline already past yields, as sleep(0) does.
void sleep_until(std::chrono::steady_clock::time_point deadline);

/// Same as sleep(0).
void yield();

/// gevent's spelling: `sleep(0)`, `sleep(0.25)` (seconds).
inline void sleep(double seconds) {
  if (!(seconds > 0))
    yield();
  else
    sleep(std::chrono::duration<double>(seconds));
}
inline void sleep(int seconds) {
  if (seconds <= 0)
    yield();
  else
    sleep(std::chrono::seconds(seconds));
}

/// Runs `fn()` as a task on this thread's hub, waits for it, then kills and
/// unwinds every task still alive on the hub. Returns fn's result or
/// rethrows its exception. The explicit form of using the hub from main();
/// called from inside a task or greenlet it throws std::logic_error.
namespace detail {
void kill_all_tasks();
void check_run_from_main();
}  // namespace detail

template <class F>
auto run(F&& fn) {
  detail::check_run_from_main();
  auto t = spawn(task_options{.name = "main"}, std::forward<F>(fn));
  try {
    t.join();
  } catch (...) {
    detail::kill_all_tasks();
    throw;
  }
  detail::kill_all_tasks();
  return t.get();
}

namespace detail {
struct remote_shared;
}

/// A thread-safe way into one thread's hub, for code on other threads (a C
/// library's callback thread, a std::thread doing blocking work): post(fn)
/// runs fn as a new task on that hub, as Boost.Asio's post(executor, fn)
/// or gevent's run_callback_threadsafe do. Copy it freely, use it from any
/// thread. While a handle exists its hub counts as able to be woken (no
/// loop_exit for lack of work). A handle does not survive fork().
///
///   auto home = greenring::hub_handle::current();
///   std::thread worker([home, &result] {
///     int v = crunch();                              // blocking is fine here
///     home.post([&result, v] { result.set(v); });    // runs on home's hub
///   });
///   int v = result.get();                            // parks this task only
class hub_handle {
 public:
  /// The calling thread's hub (made if it has none).
  static hub_handle current();
  /// From any thread: queues fn to run as a task on the hub, in FIFO order
  /// with other posts. False (fn dropped, on the calling thread) when that
  /// hub has gone (its thread ended).
  bool post(std::function<void()> fn) const;

  hub_handle(const hub_handle& o) noexcept;
  hub_handle& operator=(const hub_handle& o) noexcept;
  ~hub_handle();

 private:
  explicit hub_handle(std::shared_ptr<detail::remote_shared> s) noexcept : s_(std::move(s)) {}
  std::shared_ptr<detail::remote_shared> s_;
};

/// What monitor_blocking() reports: a greenlet that ran too long without
/// switching, holding up every other task of its thread.
struct blocking_report {
  std::uint64_t id = 0;            // the greenlet's id (0: the thread's main greenlet)
  std::string name;                // its name, or "main greenlet", "hub"
  std::chrono::milliseconds ran{}; // at least this long without a switch
};

/// A debug aid (gevent's monitor thread and max_blocking_time): from now
/// on, this thread's hub reports each greenlet that runs longer than
/// `threshold` without switching: a blocking call (::sleep, a blocking
/// read) or a long computation that belongs in a threadpool. A watcher
/// thread notices the stall; the report is made on this thread when that
/// greenlet next switches, to `on_report`, or by default as one line on
/// stderr. Time the hub spends waiting for IO or timers is not counted. A
/// zero threshold turns it off. GREENRING_MAX_BLOCKING_MS=N in the
/// environment turns it on, with the stderr report, for every hub made. It
/// costs nothing per switch when off, and one counter update when on. A
/// forked child starts without it.
void monitor_blocking(duration threshold, std::function<void(const blocking_report&)> on_report = {});

/// A snapshot of the calling thread's hub (all zero when it has none).
struct runtime_stats {
  std::size_t live_tasks = 0;     // spawned and not yet dead
  std::size_t ready = 0;          // in the ready queue
  std::size_t timers = 0;         // armed timers
  std::size_t io_in_flight = 0;   // submitted, completion not yet reaped
  std::size_t stacks_in_use = 0;  // mapped and owned by a live greenlet
  std::size_t stacks_pooled = 0;  // mapped and kept for reuse
  unsigned long long io_submitted = 0;  // requests ever queued on this thread's ring
  unsigned long long io_completed = 0;  // their completions ever reaped
  unsigned long long cq_overflows = 0;  // times the kernel had to hold completions back
};
runtime_stats stats();

}  // namespace greenring
