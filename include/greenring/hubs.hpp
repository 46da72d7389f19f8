// greenring — one hub per core: the same program on several threads.
//
// A hub never leaves its thread and a task never leaves its hub, so the way
// to use more than one core is more than one hub: a thread each, sharing
// nothing but what the program shares on purpose (a listening port through
// SO_REUSEPORT, a hub_handle to post work to another hub, atomics). This is
// how Boost.Asio runs an io_context per thread and how PhotonLibOS runs a
// vcpu per thread.
//
//   greenring::run_hubs(0, [](std::size_t i) {       // 0: one per core
//     auto listener = greenring::tcp_listener::bind(at, 1024, /*reuse_port=*/true);
//     greenring::stream_server(std::move(listener), echo).serve_forever();
//   });
#pragma once

#include <greenring/detail/duration.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace greenring {

struct hubs_options {
  /// Pins hub i's thread to the i-th CPU the process may run on (modulo
  /// their number); the calling thread's affinity is restored on return.
  bool pin = false;
};

/// The CPUs this process may run on (its affinity mask): how many hubs
/// run_hubs(0, ...) makes.
std::size_t default_hub_count();

/// Runs `fn(i)` for every i in [0, n) as the main task of its own hub, each
/// on its own thread: hub 0 on the calling thread (as run() does), the
/// others on new threads. n = 0: one hub per CPU the process may run on.
/// Returns once every fn has finished and every thread has ended.
///
/// When one fn throws, the main tasks of the other hubs are killed
/// (greenlet_exit at their switch points, so their destructors run) and,
/// after every thread has ended, the first failure is rethrown here. While
/// run_hubs runs, each hub can be woken by its siblings, so a task waiting
/// for something that only another hub can do waits, where on a lone hub
/// it would get loop_exit. As with run(), every task still alive on a hub
/// when its fn returns is killed, and calling it from inside a task throws
/// std::logic_error.
void run_hubs(std::size_t n, std::function<void(std::size_t)> fn, hubs_options options = {});

namespace detail {
struct shared_event_state;
}

/// A flag that tasks on any hub can wait for and any thread can set once:
/// the "stop" of a program running several hubs (Go's closed done channel,
/// seen by goroutines on every thread). set() wakes every waiter on its own
/// hub; a waiter keeps its hub able to be woken (no loop_exit) while it
/// waits. Unlike `event` it cannot be cleared.
///
///   greenring::shared_event stop;
///   greenring::run_hubs(0, [&](std::size_t i) {
///     greenring::stream_server srv(listeners[i], echo);
///     srv.start();
///     stop.wait();          // set by hub 0's signal task, or any thread
///     srv.stop(5s);
///   });
class shared_event {
 public:
  shared_event();
  ~shared_event();
  shared_event(const shared_event&) = delete;
  shared_event& operator=(const shared_event&) = delete;

  /// Sets the flag and wakes every waiter, on whatever hub it waits. From
  /// any thread, inside a task or not; never blocks on a task. Idempotent.
  void set();
  bool is_set() const noexcept;
  /// Waits, in a task, until the flag is set (true at once if it is) or
  /// `timeout` passes (false). Throws what cancels the caller.
  bool wait(duration timeout = forever);
  template <class Rep, class Period>
  bool wait(std::chrono::duration<Rep, Period> d) {
    return wait(detail::to_duration(d));
  }
  /// Tasks waiting now, over all hubs.
  std::size_t waiting() const;

 private:
  std::unique_ptr<detail::shared_event_state> st_;
};

}  // namespace greenring
