// greenring — a periodic tick for tasks: Go's time.Ticker.
//
//   greenring::ticker every(100ms);
//   for (;;) {
//     switch (greenring::wait_any({every, stop})) {  // Go's select
//       case 0: every.tick(); poll_status(); break;
//       case 1: return;
//     }
//   }
//
// Ticks are due at start + k * period, whatever each one's handling cost
// (no drift). A receiver slower than the period misses ticks rather than
// piling them up: at most one tick waits to be taken (Go's channel of one),
// and the ones it could not hold are counted in missed(). Each tick goes to
// one taker, FIFO. Like everything in greenring, a ticker belongs to the
// thread that made it.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/timer.hpp>
#include <greenring/detail/wait_list.hpp>

#include <chrono>
#include <cstdint>
#include <optional>

namespace greenring {

class ticker {
 public:
  using time_point = detail::clock::time_point;

  /// Starts ticking: the first tick is due one `period` from now. A period
  /// of zero or less is std::invalid_argument (Go panics).
  explicit ticker(duration period);
  template <class Rep, class Period>
  explicit ticker(std::chrono::duration<Rep, Period> period) : ticker(detail::to_duration(period)) {}
  ~ticker();
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;

  /// Takes the next tick, waiting for it when none is pending, and returns
  /// the time it was due. Throws std::logic_error on a stopped ticker (or
  /// one stopped while waiting: a wait that could never end), and what
  /// cancels the caller (the tick it may have been handed goes to the next
  /// taker).
  time_point tick();
  /// The same for at most `timeout`: nullopt when it passed first.
  std::optional<time_point> tick(duration timeout);
  template <class Rep, class Period>
  std::optional<time_point> tick(std::chrono::duration<Rep, Period> d) {
    return tick(detail::to_duration(d));
  }

  /// No more ticks; a pending one is dropped and waiting takers get
  /// std::logic_error. reset() starts it again.
  void stop() noexcept;
  /// Starts again with `period` (zero or less: std::invalid_argument), the
  /// next tick one period from now; a pending tick is dropped.
  void reset(duration period);
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> period) {
    reset(detail::to_duration(period));
  }

  /// True when tick() would not wait: a tick is pending, or it is stopped
  /// (tick() then throws at once), as a closed queue is ready.
  bool ready() const noexcept { return pending_ || !running_; }
  bool running() const noexcept { return running_; }
  duration period() const noexcept { return period_; }
  /// Ticks that fell due while one was already pending or while the hub
  /// was busy past them, since the start (or the last reset).
  std::uint64_t missed() const noexcept { return missed_; }

  /// Internal: for wait()/wait_any.
  detail::wait_list& watchers() noexcept { return watchers_; }

 private:
  static void on_due(detail::timer_node* t) noexcept;
  void deliver(time_point due) noexcept;

  detail::timer_node timer_;
  duration period_{};
  time_point next_{};
  time_point pending_at_{};
  std::uint64_t missed_ = 0;
  bool pending_ = false;
  bool running_ = false;
  detail::wait_list takers_;    // in tick(); wait_node::data points at the taker's slot
  detail::wait_list watchers_;  // in wait()/wait_any
};

}  // namespace greenring
