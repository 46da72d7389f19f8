// greenring — a FIFO of parked greenlets, the building block of every
// coordination primitive (internal, but used by public templates).
//
// A wait_node lives on the waiting greenlet's stack. park() links it, blocks
// until wake_one()/wake_all() picks it or the deadline passes, and unlinks
// it on every way out (return, timeout, kill). A node that was woken and is
// then killed before it runs has been handed something (an item, a permit):
// park() reports that through `woken`, and the primitive passes it on.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/timer.hpp>

#include <cstddef>

namespace greenring {
class greenlet;
namespace detail {

class wait_list;
class hub;

struct wait_node {
  wait_node* prev = nullptr;
  wait_node* next = nullptr;
  wait_list* list = nullptr;  // non-null while linked
  /// Called by wake_one/wake_all; default (nullptr): make `ctx` (a
  /// greenlet) ready. Never switches.
  void (*notify)(wait_node*) noexcept = nullptr;
  void* ctx = nullptr;
  void* data = nullptr;   // for the primitive: what the waiter offers or wants
  bool woken = false;
  bool granted = false;   // for the primitive: the waker handed it something
};

class wait_list {
 public:
  wait_list() = default;
  wait_list(const wait_list&) = delete;
  wait_list& operator=(const wait_list&) = delete;
  ~wait_list();

  /// Parks the calling greenlet at the tail until it is woken (returns
  /// true) or `deadline` passes (false; time_point::max(): no limit).
  /// Throws what cancels the caller (kill, timeout scope); `n.woken` then
  /// says whether it had been woken first. `what` names the wait in
  /// loop_exit diagnostics.
  bool park(wait_node& n, clock::time_point deadline, const char* what);

  /// As park() with no deadline, but deaf to kills and timeouts (they stay
  /// pending): for waits that must not be cut short.
  void park_uninterruptible(wait_node& n, const char* what) noexcept;

  /// Links `n` (with its own notify) without blocking: for waits on several
  /// lists at once. unlink() removes it again (no-op when not linked).
  void link(wait_node& n) noexcept;
  static void unlink(wait_node& n) noexcept;

  /// Wakes the node at the head; false when nobody waits.
  bool wake_one() noexcept;
  /// The longest waiter (nullptr when none), and waking one chosen node.
  wait_node* front() const noexcept { return head_; }
  static void wake(wait_node& n) noexcept;
  /// Wakes everybody; returns how many.
  std::size_t wake_all() noexcept;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept;

 private:
  void push(wait_node& n) noexcept;
  void enqueue_current(wait_node& n, hub& h) noexcept;
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

/// The deadline `d` from now (saturating; forever stays max()). Inline:
/// every put/get/wait computes one, almost always from `forever`.
inline clock::time_point deadline_in(duration d) noexcept {
  return d == forever ? clock::time_point::max() : deadline_after(d);
}
/// What is left until `deadline`: forever for max(), never negative.
duration time_left(clock::time_point deadline) noexcept;

}  // namespace detail
}  // namespace greenring
