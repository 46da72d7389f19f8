// greenring — timer entries (internal). A timer_node lives in the object that
// waits (a sleeping frame, a timeout scope, a task record); the hub's heap
// only points at it, and cancelling it on the way out keeps that valid.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace greenring::detail {

using clock = std::chrono::steady_clock;

struct timer_node {
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t in_fifo = npos - 1;
  clock::time_point when{};
  std::uint64_t seq = 0;
  std::size_t index = npos;  // heap position, in_fifo, or npos when not armed
  void (*fire)(timer_node*) noexcept = nullptr;
  void* ctx = nullptr;
  timer_node* prev = nullptr;  // FIFO links (see the hub)
  timer_node* next = nullptr;
  bool armed() const noexcept { return index != npos; }
};

/// t + d for d >= 0, saturating at time_point::max().
inline clock::time_point time_after(clock::time_point t, clock::duration d) noexcept {
  return d >= clock::time_point::max() - t ? clock::time_point::max() : t + d;
}
/// now + d, saturating at time_point::max() (so `forever` never overflows).
clock::time_point deadline_after(clock::duration d) noexcept;

/// Arms `t` on the calling thread's hub; re-arming moves it.
void timer_arm(timer_node& t, clock::time_point when);
/// Disarms `t` if armed.
void timer_cancel(timer_node& t) noexcept;

}  // namespace greenring::detail
