// greenring — the hub's io_uring (internal).
//
// One ring per hub. Everything that waits on the kernel is an SQE whose
// user_data points at a `completion` living in the waiting frame; the hub
// reaps CQEs in batches and calls each completion's function, which only
// records the result and makes its greenlet ready (it never switches).
// Submissions are batched: SQEs queue up until the hub's next loop turn.
#pragma once

#include <greenring/detail/timer.hpp>

#include <liburing.h>

#include <cstddef>

namespace greenring::detail {

struct completion {
  void (*fn)(completion* self, int res, unsigned flags) noexcept = nullptr;
  completion* prev = nullptr;  // the ring's list of requests in flight
  completion* next = nullptr;
};

/// Test hook: the next ring set-up fails with this errno (0: off).
extern thread_local int uring_setup_fail_next;  // this thread's next ring

class uring {
 public:
  /// Creates the ring; std::system_error names what to do when io_uring is
  /// disabled, blocked by seccomp, or short of locked memory.
  explicit uring(unsigned entries = 256);
  ~uring();
  uring(const uring&) = delete;
  uring& operator=(const uring&) = delete;

  /// A free SQE; when the queue is full, submits what is queued first.
  /// The caller fills it and sets user_data to a completion (or 0).
  io_uring_sqe* sqe();
  /// Records one request whose CQE will reach `c`.
  void add_in_flight(completion& c) noexcept {
    ++in_flight_;
    ++submitted_;
    c.prev = nullptr;
    c.next = head_;
    if (head_) head_->prev = &c;
    head_ = &c;
  }
  /// In a child after fork(): the ring belongs to the parent. Leaves it
  /// untouched (no submit, no cancel, no reap), completes every request this
  /// thread had in flight with -ECANCELED, and makes a fresh ring.
  void reset_after_fork();
  /// Calls fn(completion&) for each request in flight. fn must not reap.
  template <class F>
  void for_each_in_flight(F fn) {
    for (completion* c = head_; c;) {
      completion* next = c->next;
      fn(*c);
      c = next;
    }
  }

  /// Submits what is queued and reaps what has completed; never waits.
  void poll() noexcept;
  /// Submits, then waits for one completion or until `deadline`
  /// (time_point::max() = no limit), then reaps.
  void wait(clock::time_point deadline) noexcept;

  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t queued() const noexcept { return io_uring_sq_ready(&ring_); }
  unsigned long long cq_overflows() const noexcept { return cq_overflows_; }
  unsigned long long submitted() const noexcept { return submitted_; }
  unsigned long long completed() const noexcept { return completed_; }

 private:
  void reap() noexcept;
  void setup();
  void remove(completion& c) noexcept {
    if (c.prev) c.prev->next = c.next; else head_ = c.next;
    if (c.next) c.next->prev = c.prev;
    --in_flight_;
    ++completed_;
  }
  io_uring ring_{};
  unsigned entries_;
  completion* head_ = nullptr;
  std::size_t in_flight_ = 0;
  unsigned long long cq_overflows_ = 0;
  unsigned long long submitted_ = 0;
  unsigned long long completed_ = 0;
};

}  // namespace greenring::detail
