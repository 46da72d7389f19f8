// greenring — per-descriptor bookkeeping shared by sockets and files.
#pragma once

#include <greenring/detail/wait_list.hpp>

#include <cstddef>

namespace greenring {
class greenlet;
namespace detail {

/// Requests in flight on one file descriptor, and who is closing it.
struct io_counter {
  io_counter() = default;
  io_counter(const io_counter&) = delete;
  io_counter& operator=(const io_counter&) = delete;
  std::size_t in_flight = 0;
  greenlet* closer = nullptr;  // woken when in_flight drops to zero
  bool closing = false;        // close_fd is running
  wait_list close_waiters;     // other closers, woken when it is done
};

/// Wakes `c`'s closer (the count has just dropped to zero).
void wake_closer(io_counter& c) noexcept;

/// One user of a descriptor for a scope (a request in flight, a task
/// waiting for the write turn): close_fd waits until every one has left,
/// so that the object holding the counter outlives them. Null: no count.
class io_counter_use {
 public:
  explicit io_counter_use(io_counter* c) noexcept : c_(c) {
    if (c_) ++c_->in_flight;
  }
  ~io_counter_use() {
    if (c_ && --c_->in_flight == 0 && c_->closer) wake_closer(*c_);
  }
  io_counter_use(const io_counter_use&) = delete;
  io_counter_use& operator=(const io_counter_use&) = delete;

 private:
  io_counter* c_;
};

/// Cancels every request on `fd`, waits (deaf to kills) until `c` counts
/// none, closes fd and sets it to -1. A second caller while that runs waits
/// until it is done, so the object holding `fd` and `c` outlives the first
/// closer's use of them. The common ending of every socket and file.
void close_fd(int& fd, io_counter& c) noexcept;

}  // namespace detail
}  // namespace greenring
