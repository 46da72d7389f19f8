// greenring — wait_list: FIFO parking for the coordination primitives.
//
// Invariants: a node is linked into at most one list at a time (`list`
// says which); wake_* unlink the node before notifying it, so a woken
// node is never woken twice; park() leaves the node unlinked however it
// returns or throws.
#include "detail/hub.hpp"

#include <greenring/detail/wait_list.hpp>

namespace greenring::detail {

wait_list::~wait_list() {
  // A list must outlive its waiters; if it does not, at least do not leave
  // them pointing at it.
  while (wait_node* n = head_) unlink(*n);
}

duration time_left(clock::time_point deadline) noexcept {
  if (deadline == clock::time_point::max()) return forever;
  const auto left = deadline - clock::now();
  return left.count() > 0 ? left : duration::zero();
}

void wait_list::push(wait_node& n) noexcept {
  n.list = this;
  n.next = nullptr;
  n.prev = tail_;
  if (tail_)
    tail_->next = &n;
  else
    head_ = &n;
  tail_ = &n;
}

void wait_list::enqueue_current(wait_node& n, hub& h) noexcept {
  n.ctx = &h.current();
  n.notify = nullptr;
  n.woken = false;
  n.granted = false;
  push(n);
}

void wait_list::link(wait_node& n) noexcept {
  n.woken = false;
  push(n);
}

void wait_list::unlink(wait_node& n) noexcept {
  wait_list* l = n.list;
  if (!l) return;
  if (n.prev) n.prev->next = n.next; else l->head_ = n.next;
  if (n.next) n.next->prev = n.prev; else l->tail_ = n.prev;
  n.prev = n.next = nullptr;
  n.list = nullptr;
}

void wait_list::wake(wait_node& n) noexcept {
  unlink(n);
  n.woken = true;
  if (n.notify)
    n.notify(&n);
  else
    hub::get().schedule(*static_cast<greenlet*>(n.ctx));
}

bool wait_list::wake_one() noexcept {
  if (!head_) return false;
  wake(*head_);
  return true;
}

std::size_t wait_list::wake_all() noexcept {
  std::size_t k = 0;
  while (head_) {
    wake(*head_);
    ++k;
  }
  return k;
}

std::size_t wait_list::size() const noexcept {
  std::size_t k = 0;
  for (wait_node* n = head_; n; n = n->next) ++k;
  return k;
}

bool wait_list::park(wait_node& n, clock::time_point deadline, const char* what) {
  hub& h = hub::get();
  enqueue_current(n, h);
  if (deadline == clock::time_point::max()) {
    // No deadline (the common case): no timer to arm or cancel.
    try {
      do h.block(what); while (!n.woken);
    } catch (...) {
      unlink(n);
      throw;
    }
    return true;  // wake() unlinked it
  }
  wake_timer timer(h, h.current(), deadline);
  try {
    while (!n.woken && !timer.fired) h.block(what);
  } catch (...) {
    unlink(n);
    throw;
  }
  unlink(n);
  return n.woken;  // woken beats a timeout that fired in the same turn
}

}  // namespace greenring::detail

namespace greenring::detail {

void wait_list::park_uninterruptible(wait_node& n, const char* what) noexcept {
  hub& h = hub::get();
  enqueue_current(n, h);
  while (!n.woken) h.block_uninterruptible(what);
}

}  // namespace greenring::detail
