// greenring — semaphore and rlock. Permits are handed over, not grabbed:
// release() gives the permit straight to the longest waiter (which is then
// `granted`), so a newcomer can never overtake a waiter. A waiter killed or
// timed out after it was granted a permit passes it on before leaving.
#include "detail/hub.hpp"

#include <greenring/lock.hpp>

#include <string>

namespace greenring {

bool semaphore::acquire_slow(duration timeout) {
  detail::wait_node n;
  try {
    waiters_.park(n, detail::deadline_in(timeout), "semaphore.acquire");
  } catch (...) {
    if (n.granted) release();  // handed a permit, killed before using it
    throw;
  }
  return n.granted;
}

void semaphore::release_slow() {
  if (detail::wait_node* w = waiters_.front()) {
    w->granted = true;
    detail::wait_list::wake(*w);
    return;
  }
  if (count_ >= limit_)
    throw std::logic_error("greenring: bounded semaphore released more often than acquired (limit " +
                           std::to_string(limit_) + ")");
  ++count_;
}

bool rlock::owned() const noexcept {
  detail::thread_state* ts = detail::tls_state();
  return ts && owner_ == ts->current;
}

bool rlock::acquire(duration timeout) {
  greenlet* me = &greenlet::current();
  if (owner_ == me) {
    ++depth_;
    return true;
  }
  if (!sem_.acquire(timeout)) return false;
  owner_ = me;
  depth_ = 1;
  return true;
}

bool rlock::try_acquire() noexcept {
  greenlet* me = detail::tls_state() ? detail::tls_state()->current : nullptr;
  if (me && owner_ == me) {
    ++depth_;
    return true;
  }
  if (!me || !sem_.try_acquire()) return false;
  owner_ = me;
  depth_ = 1;
  return true;
}

void rlock::release() {
  if (!owned()) throw std::logic_error("greenring::rlock: released by a task that does not hold it");
  if (--depth_ == 0) {
    owner_ = nullptr;
    sem_.release();
  }
}

std::size_t rlock::release_all() {
  if (!owned()) throw std::logic_error("greenring::rlock: condition wait without holding the lock");
  std::size_t d = depth_;
  depth_ = 0;
  owner_ = nullptr;
  sem_.release();
  return d;
}

void rlock::reacquire(std::size_t depth) {
  sem_.acquire();
  owner_ = &greenlet::current();
  depth_ = depth;
}

// ---- rwlock ----
// Grants are handed over like the semaphore's permits: grant() counts the
// lock as taken by the head of the line and marks it `granted` before it
// runs, so nobody can slip in between. A waiter leaving without the lock
// (timeout, kill) may have been what held the line up: a writer at the
// head keeps the readers behind it waiting. It calls grant() on its way out.

bool rwlock::acquire(duration timeout) {
  if (try_lock()) return true;
  return wait(false, timeout);
}

bool rwlock::acquire_shared(duration timeout) {
  if (try_lock_shared()) return true;
  return wait(true, timeout);
}

bool rwlock::try_lock() noexcept {
  if (writer_ || readers_ > 0 || !waiters_.empty()) return false;
  writer_ = true;
  return true;
}

bool rwlock::try_lock_shared() noexcept {
  if (writer_ || !waiters_.empty()) return false;
  ++readers_;
  return true;
}

bool rwlock::wait(bool shared, duration timeout) {
  detail::wait_node n;
  n.data = shared ? static_cast<void*>(this) : nullptr;
  try {
    waiters_.park(n, detail::deadline_in(timeout), shared ? "rwlock.lock_shared" : "rwlock.lock");
  } catch (...) {
    if (!n.granted)
      grant();
    else if (shared)
      unlock_shared();  // handed the lock, killed before using it
    else
      unlock();
    throw;
  }
  if (!n.granted) grant();
  return n.granted;
}

void rwlock::grant() noexcept {
  while (detail::wait_node* w = waiters_.front()) {
    const bool shared = w->data != nullptr;
    if (writer_ || (!shared && readers_ > 0)) return;
    if (shared)
      ++readers_;
    else
      writer_ = true;
    w->granted = true;
    detail::wait_list::wake(*w);
    if (!shared) return;
  }
}

void rwlock::unlock() {
  if (!writer_) throw std::logic_error("greenring::rwlock: unlock() while not locked by a writer");
  writer_ = false;
  grant();
}

void rwlock::unlock_shared() {
  if (readers_ == 0) throw std::logic_error("greenring::rwlock: unlock_shared() while no reader holds it");
  if (--readers_ == 0) grant();
}

}  // namespace greenring
