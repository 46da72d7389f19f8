// greenring — semaphores, locks and condition variables for tasks.
//
//   greenring::lock m;
//   { std::lock_guard<greenring::lock> g(m); ... }     // parks, never spins
//
// All of them hand over in FIFO order: a release gives the permit to the
// task that has waited longest (no barging), and a waiter that is killed
// or times out leaves the line without taking or losing a permit. They
// belong to one thread's tasks (like everything in greenring).
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/wait_list.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>

namespace greenring {

class greenlet;

/// gevent.lock.Semaphore: a counter of permits.
class semaphore {
 public:
  explicit semaphore(std::size_t initial = 1) noexcept : count_(initial) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  /// Takes a permit, waiting up to `timeout` for one; returns false on
  /// timeout. Throws what cancels the caller (and then holds no permit).
  bool acquire(duration timeout = forever) { return try_acquire() || acquire_slow(timeout); }
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> d) {
    return acquire(detail::to_duration(d));
  }
  /// Takes a permit if one is free and nobody waits; never blocks. Inline:
  /// acquire()'s uncontended case.
  bool try_acquire() noexcept {
    if (count_ == 0 || !waiters_.empty()) return false;
    --count_;
    return true;
  }
  /// Returns a permit: to the longest waiter, or to the counter.
  void release() {
    if (waiters_.empty() && count_ < limit_) {  // nobody to wake, inline
      ++count_;
      return;
    }
    release_slow();
  }
  /// Free permits.
  std::size_t count() const noexcept { return count_; }
  bool locked() const noexcept { return count_ == 0; }
  /// Tasks waiting.
  std::size_t waiting() const noexcept { return waiters_.size(); }

  // Lockable, for std::lock_guard, std::unique_lock, std::scoped_lock.
  void lock() { acquire(); }
  bool try_lock() noexcept { return try_acquire(); }
  void unlock() { release(); }

  detail::wait_list& watchers() noexcept { return waiters_; }

 protected:
  semaphore(std::size_t initial, std::size_t limit) noexcept : count_(initial), limit_(limit) {}

 private:
  bool acquire_slow(duration timeout);
  void release_slow();
  std::size_t count_;
  std::size_t limit_ = static_cast<std::size_t>(-1);  // bounded_semaphore: at most this many free
  detail::wait_list waiters_;
};

/// A semaphore that refuses to be released more often than acquired
/// (std::logic_error naming the limit).
class bounded_semaphore : public semaphore {
 public:
  explicit bounded_semaphore(std::size_t initial = 1) noexcept : semaphore(initial, initial) {}
};

/// A mutual-exclusion lock for tasks. Releasing a mutex that is not locked
/// is an error (std::logic_error). It has no owner (like Python's Lock):
/// any task may release it; use rlock for an owner-checked, re-entrant one.
class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;
  bool acquire(duration timeout = forever) { return sem_.acquire(timeout); }
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> d) {
    return sem_.acquire(detail::to_duration(d));
  }
  bool try_acquire() noexcept { return sem_.try_acquire(); }
  void release() {
    if (!sem_.locked()) throw std::logic_error("greenring::lock: released while not locked");
    sem_.release();
  }
  bool locked() const noexcept { return sem_.locked(); }

  void lock() { sem_.acquire(); }
  bool try_lock() noexcept { return sem_.try_acquire(); }
  void unlock() { release(); }

 private:
  bounded_semaphore sem_{1};
};

/// Python's and gevent's name. (A class called `lock` could not have the
/// lock() member std::lock_guard needs, hence the alias.)
using lock = mutex;

/// A re-entrant lock: the owning task may acquire it again; each acquire
/// needs a release. Releasing from a task that does not own it is an error.
class rlock {
 public:
  rlock() = default;
  rlock(const rlock&) = delete;
  rlock& operator=(const rlock&) = delete;
  bool acquire(duration timeout = forever);
  template <class Rep, class Period>
  bool acquire(std::chrono::duration<Rep, Period> d) {
    return acquire(detail::to_duration(d));
  }
  bool try_acquire() noexcept;
  void release();
  bool locked() const noexcept { return owner_ != nullptr; }
  /// True when the calling task holds it.
  bool owned() const noexcept;
  std::size_t depth() const noexcept { return depth_; }

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() noexcept { return try_acquire(); }

  // For condition: give up every level at once, then take them back.
  std::size_t release_all();
  void reacquire(std::size_t depth);

 private:
  semaphore sem_{1};
  greenlet* owner_ = nullptr;
  std::size_t depth_ = 0;
};

/// A readers-writer lock (Go's sync.RWMutex, std::shared_mutex): any number
/// of readers at once, or one writer. Works with std::shared_lock for the
/// readers and std::unique_lock / std::lock_guard for the writer, including
/// their timed forms (try_lock_for).
///
/// One FIFO line for both kinds: a reader arriving while anybody waits
/// queues behind them, so a steady stream of readers cannot starve a
/// writer; when the lock frees up, the head of the line gets it, and if
/// that is a reader, so does every reader queued right behind it. Like
/// `mutex`, it has no owner: unlocking a lock that is not held that way
/// is an error (std::logic_error).
class rwlock {
 public:
  rwlock() = default;
  rwlock(const rwlock&) = delete;
  rwlock& operator=(const rwlock&) = delete;

  /// Takes it exclusively, waiting up to `timeout`; false on timeout.
  bool acquire(duration timeout = forever);
  /// Takes it shared, waiting up to `timeout`; false on timeout.
  bool acquire_shared(duration timeout = forever);
  bool try_lock() noexcept;
  bool try_lock_shared() noexcept;
  void unlock();
  void unlock_shared();
  /// Held by a writer / by how many readers / tasks in line.
  bool locked() const noexcept { return writer_; }
  std::size_t readers() const noexcept { return readers_; }
  std::size_t waiting() const noexcept { return waiters_.size(); }

  // Lockable and SharedLockable, timed.
  void lock() { acquire(); }
  void lock_shared() { acquire_shared(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire(detail::to_duration(d));
  }
  template <class Rep, class Period>
  bool try_lock_shared_for(const std::chrono::duration<Rep, Period>& d) {
    return acquire_shared(detail::to_duration(d));
  }
  template <class Clock, class Dur>
  bool try_lock_until(const std::chrono::time_point<Clock, Dur>& t) {
    return try_lock_for(t - Clock::now());
  }
  template <class Clock, class Dur>
  bool try_lock_shared_until(const std::chrono::time_point<Clock, Dur>& t) {
    return try_lock_shared_for(t - Clock::now());
  }

 private:
  bool wait(bool shared, duration timeout);
  void grant() noexcept;  // hands the lock to the head of the line, as far as it goes
  detail::wait_list waiters_;  // node.data: nullptr for a writer, else a reader
  std::size_t readers_ = 0;
  bool writer_ = false;
};

/// The standard library's name.
using shared_mutex = rwlock;

/// A condition variable over a greenring lock or rlock (Python's
/// threading.Condition): wait() releases the lock, parks, and takes the
/// lock back before returning, whichever way it returns.
class condition {
 public:
  condition() = default;
  condition(const condition&) = delete;
  condition& operator=(const condition&) = delete;

  /// `lk` must be held by the caller. Returns false on timeout. The lock
  /// is held again when it returns or throws.
  template <class Lock>
  bool wait(Lock& lk, duration timeout = forever) {
    return wait_until(lk, detail::deadline_in(timeout));
  }
  template <class Lock>
  bool wait(std::unique_lock<Lock>& lk, duration timeout = forever) {
    return wait(*lk.mutex(), timeout);
  }
  /// Waits until pred() holds (checked with the lock held); false when
  /// `timeout` ran out first.
  template <class Lock, class Pred>
  bool wait(Lock& lk, Pred pred, duration timeout = forever) {
    const auto deadline = detail::deadline_in(timeout);
    while (!pred())
      if (!wait_until(lk, deadline)) return pred();
    return true;
  }
  template <class Lock, class Pred>
  bool wait(std::unique_lock<Lock>& lk, Pred pred, duration timeout = forever) {
    return wait(*lk.mutex(), std::move(pred), timeout);
  }
  /// Wakes the longest waiter / `n` waiters / everybody.
  void notify(std::size_t n = 1) noexcept {
    while (n-- > 0 && waiters_.wake_one()) {
    }
  }
  void notify_one() noexcept { notify(1); }
  void notify_all() noexcept { waiters_.wake_all(); }

 private:
  template <class Lock>
  bool wait_until(Lock& lk, detail::clock::time_point deadline) {
    std::size_t depth = 0;
    if constexpr (requires(Lock& x) { x.release_all(); })
      depth = lk.release_all();
    else
      lk.unlock();
    detail::wait_node n;
    bool woken;
    try {
      woken = waiters_.park(n, deadline, "condition.wait");
    } catch (...) {
      retake(lk, depth);  // a second kill meanwhile is dropped: one is already on its way
      throw;
    }
    if (auto err = retake(lk, depth)) std::rethrow_exception(err);
    return woken;
  }
  // Takes the lock back whatever happens: a kill while re-taking it is
  // returned (to be raised once the lock is held), never left half done.
  template <class Lock>
  static std::exception_ptr retake(Lock& lk, std::size_t depth) noexcept {
    std::exception_ptr err;
    for (;;) {
      try {
        if constexpr (requires(Lock& x) { x.reacquire(std::size_t{}); })
          lk.reacquire(depth);
        else
          lk.lock();
        return err;
      } catch (...) {
        if (!err) err = std::current_exception();
      }
    }
  }
  detail::wait_list waiters_;
};

}  // namespace greenring
