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
#include <greenring/event.hpp>
#include <greenring/hub.hpp>
#include <greenring/queue.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

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

/// One task waiting on a cross-hub object: an event on its own hub, set
/// there (directly from its own thread, posted from any other). Shared with
/// the wake-ups in flight, so it outlives a waiter that left first; owned
/// otherwise by the object's waiter list, under the object's mutex.
struct shared_waiter {
  shared_waiter();
  hub_handle home;
  const void* hub;       // identity of the waiter's hub
  event ev;              // touched on its hub only
  bool granted = false;  // under the object's mutex: handed an item or a slot
};
/// Sets w->ev on w's hub. From any thread; never blocks on a task.
void wake(const std::shared_ptr<shared_waiter>& w);
/// Waits on w->ev until set or `deadline`; throws what cancels the caller.
bool wait_shared(shared_waiter& w, clock::time_point deadline);
}  // namespace detail

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

/// A FIFO queue that tasks on any hub (or any thread, through that
/// thread's hub) share: Go's buffered channel between goroutines on every
/// core, Boost.Fiber's buffered_channel across threads. Bounded
/// (`maxsize` > 0: put waits for room) or unbounded. Same contract as
/// `queue`: FIFO waiters, timeouts (queue_empty / queue_full), close()
/// (putters get queue_closed, getters drain then get it), and a getter or
/// putter killed or timed out while waiting never takes or inserts an item
/// (what was promised to it passes to the next in line). An operation that
/// need not wait is a mutex away; one that waits allocates a waiter record,
/// and waking a task on another hub is a post to that hub.
template <class T>
class shared_queue {
 public:
  using value_type = T;
  explicit shared_queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  shared_queue(const shared_queue&) = delete;
  shared_queue& operator=(const shared_queue&) = delete;
  /// `for (auto item : q)`: takes items until close() and drained (Go's
  /// `for v := range ch`).
  detail::drain_iterator<shared_queue, T> begin() { return detail::drain_iterator<shared_queue, T>(*this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  void put(T item, duration timeout = forever) {
    std::unique_lock<std::mutex> g(m_);
    if (!wait_room(g, detail::deadline_in(timeout))) throw queue_full();
    items_.push_back(std::move(item));
    grant_item();
  }
  template <class Rep, class Period>
  void put(T item, std::chrono::duration<Rep, Period> d) {
    put(std::move(item), detail::to_duration(d));
  }
  /// Inserts without waiting; false when full (the item is left untouched).
  bool try_put(T& item) {
    std::lock_guard<std::mutex> g(m_);
    if (closed_) throw queue_closed();
    if (!room_now()) return false;
    items_.push_back(std::move(item));
    grant_item();
    return true;
  }
  bool try_put(T&& item) { return try_put(item); }

  T get(duration timeout = forever) {
    std::unique_lock<std::mutex> g(m_);
    wait_item(g, detail::deadline_in(timeout));
    return take();
  }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> d) {
    return get(detail::to_duration(d));
  }
  /// The next item if one is free now; throws queue_closed once closed and
  /// drained.
  std::optional<T> try_get() {
    std::lock_guard<std::mutex> g(m_);
    if (!items_now()) {
      if (closed_ && items_.size() <= item_grants_) throw queue_closed();
      return std::nullopt;
    }
    return take();
  }

  /// Refuses new items and wakes every waiter, on every hub. Idempotent.
  void close() {
    std::lock_guard<std::mutex> g(m_);
    closed_ = true;
    for (auto* list : {&getters_, &putters_}) {
      for (const auto& w : *list) detail::wake(w);
      list->clear();
    }
  }
  bool closed() const {
    std::lock_guard<std::mutex> g(m_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> g(m_);
    return items_.size();
  }
  std::size_t maxsize() const noexcept { return maxsize_; }
  /// Tasks waiting to get / to put, over all hubs.
  std::size_t getters() const {
    std::lock_guard<std::mutex> g(m_);
    return getters_.size();
  }
  std::size_t putters() const {
    std::lock_guard<std::mutex> g(m_);
    return putters_.size();
  }

 private:
  using waiter_ptr = std::shared_ptr<detail::shared_waiter>;
  using waiters = std::deque<waiter_ptr>;

  // Items not yet promised to a woken getter; slots not yet promised to a
  // woken putter. Under m_.
  bool items_now() const noexcept { return items_.size() > item_grants_ && getters_.empty(); }
  bool room_now() const noexcept {
    return (maxsize_ == 0 || items_.size() + space_grants_ < maxsize_) && putters_.empty();
  }
  T take() {
    T v = std::move(items_.front());
    items_.pop_front();
    grant_space();
    return v;
  }
  void grant_item() {
    if (items_.size() > item_grants_ && !getters_.empty()) {
      waiter_ptr w = std::move(getters_.front());
      getters_.pop_front();
      w->granted = true;
      ++item_grants_;
      detail::wake(w);
    }
  }
  void grant_space() {
    if ((maxsize_ == 0 || items_.size() + space_grants_ < maxsize_) && !putters_.empty()) {
      waiter_ptr w = std::move(putters_.front());
      putters_.pop_front();
      w->granted = true;
      ++space_grants_;
      detail::wake(w);
    }
  }

  // Parks on `list` until granted, woken by close(), or the deadline; the
  // lock is released meanwhile. True when granted (the grant is then ours:
  // counted in `grants` until the caller uses it). A kill passes a grant
  // on (`pass`) and rethrows.
  template <class Pass>
  bool park(std::unique_lock<std::mutex>& g, waiters& list, std::size_t& grants, Pass pass,
            detail::clock::time_point deadline) {
    auto w = std::make_shared<detail::shared_waiter>();
    list.push_back(w);
    g.unlock();
    try {
      detail::wait_shared(*w, deadline);
    } catch (...) {
      g.lock();
      leave(list, w, grants, pass);
      throw;
    }
    g.lock();
    if (w->granted) {
      --grants;
      return true;
    }
    std::erase(list, w);  // timed out, or close() already took it off
    return false;
  }
  template <class Pass>
  void leave(waiters& list, const waiter_ptr& w, std::size_t& grants, Pass pass) {
    if (w->granted) {
      --grants;
      pass();
    } else {
      std::erase(list, w);
    }
  }

  // Each parks until granted or woken by close() (which may leave items to
  // drain), or until the deadline, checked after a park that was not
  // granted.
  bool wait_room(std::unique_lock<std::mutex>& g, detail::clock::time_point deadline) {
    for (bool expired = false;; expired = detail::clock::now() >= deadline) {
      if (closed_) throw queue_closed();
      if (expired) return false;
      if (room_now()) return true;
      if (park(g, putters_, space_grants_, [this] { grant_space(); }, deadline)) {
        if (closed_) {
          grant_space();
          throw queue_closed();
        }
        return true;
      }
    }
  }
  void wait_item(std::unique_lock<std::mutex>& g, detail::clock::time_point deadline) {
    for (bool expired = false;; expired = detail::clock::now() >= deadline) {
      if (items_now()) return;
      if (closed_ && items_.size() <= item_grants_) throw queue_closed();
      if (expired) throw queue_empty();
      if (park(g, getters_, item_grants_, [this] { grant_item(); }, deadline)) return;
    }
  }

  mutable std::mutex m_;
  std::deque<T> items_;
  std::size_t maxsize_;
  std::size_t item_grants_ = 0, space_grants_ = 0;
  bool closed_ = false;
  waiters getters_, putters_;
};

}  // namespace greenring
