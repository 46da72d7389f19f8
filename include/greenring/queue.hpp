// greenring — queues and channels between tasks (gevent.queue).
//
//   greenring::queue<std::string> q(100);     // bounded; 0 = unbounded
//   spawn([&] { q.put("job"); });
//   std::string job = q.get();                // parks while empty
//
// Fairness and safety, for every kind below:
// - Waiters are served in FIFO order: an item (or a free slot) is handed
//   to the longest waiter, which takes it when it runs; a newcomer cannot
//   take it first.
// - A getter killed or timed out while waiting never loses an item: one it
//   had been handed goes to the next getter. A putter killed or timed out
//   while waiting never inserts its item.
// - close() wakes every waiter: putters get queue_closed at once, getters
//   drain what is left and then get queue_closed.
// - Move-only element types work; put(T&&) moves from the argument only
//   when the item is actually inserted.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/wait_list.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace greenring {

/// get() on an empty queue ran out of time (gevent's Empty).
class queue_empty : public std::runtime_error {
 public:
  queue_empty() : std::runtime_error("greenring::queue: get timed out: the queue stayed empty") {}
};
/// put() on a full queue ran out of time (gevent's Full).
class queue_full : public std::runtime_error {
 public:
  queue_full() : std::runtime_error("greenring::queue: put timed out: the queue stayed full") {}
};
/// The queue was closed (put), or closed and drained (get).
class queue_closed : public std::runtime_error {
 public:
  queue_closed() : std::runtime_error("greenring::queue: closed") {}
};

namespace detail {

template <class T>
struct fifo_store {
  std::deque<T> d;
  void push(T&& v) { d.push_back(std::move(v)); }
  void push_front(T&& v) { d.push_front(std::move(v)); }
  T pop() {
    T v = std::move(d.front());
    d.pop_front();
    return v;
  }
  T& top() { return d.front(); }
  std::size_t size() const noexcept { return d.size(); }
};

template <class T>
struct lifo_store {
  std::vector<T> d;
  void push(T&& v) { d.push_back(std::move(v)); }
  void push_front(T&& v) { d.push_back(std::move(v)); }  // "front" = next out
  T pop() {
    T v = std::move(d.back());
    d.pop_back();
    return v;
  }
  T& top() { return d.back(); }
  std::size_t size() const noexcept { return d.size(); }
};

template <class T, class Compare>
struct heap_store {
  std::vector<T> d;
  Compare cmp;
  void push(T&& v) {
    d.push_back(std::move(v));
    std::push_heap(d.begin(), d.end(), cmp);
  }
  void push_front(T&& v) { push(std::move(v)); }
  T pop() {
    std::pop_heap(d.begin(), d.end(), cmp);
    T v = std::move(d.back());
    d.pop_back();
    return v;
  }
  T& top() { return d.front(); }
  std::size_t size() const noexcept { return d.size(); }
};

}  // namespace detail

namespace detail {

/// What `for (auto item : q)` walks: get() after get() until the queue or
/// channel is closed and drained (Go's `for v := range ch`, iterating a
/// gevent Queue). An input range: each item is taken once.
template <class Q, class T>
class drain_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;
  drain_iterator() = default;
  explicit drain_iterator(Q& q) : q_(&q) { next(); }
  T& operator*() const noexcept { return *item_; }
  T* operator->() const noexcept { return &*item_; }
  drain_iterator& operator++() {
    next();
    return *this;
  }
  void operator++(int) { next(); }
  friend bool operator==(const drain_iterator& i, std::default_sentinel_t) noexcept { return !i.q_; }

 private:
  void next() {
    item_.reset();
    try {
      item_.emplace(q_->get());
    } catch (const queue_closed&) {
      q_ = nullptr;
    }
  }
  Q* q_ = nullptr;
  mutable std::optional<T> item_;
};

}  // namespace detail

/// The common machinery; use queue, lifo_queue, priority_queue.
template <class T, class Store>
class basic_queue {
 public:
  using value_type = T;
  /// `for (auto item : q)`: takes items until close() and drained.
  detail::drain_iterator<basic_queue, T> begin() { return detail::drain_iterator<basic_queue, T>(*this); }
  std::default_sentinel_t end() const noexcept { return {}; }
  /// `maxsize` 0: unbounded.
  explicit basic_queue(std::size_t maxsize = 0) : maxsize_(maxsize) {}
  basic_queue(const basic_queue&) = delete;
  basic_queue& operator=(const basic_queue&) = delete;

  /// Inserts `item`, waiting up to `timeout` for room. Throws queue_full
  /// on timeout (the item is left untouched), queue_closed when closed.
  void put(T&& item, duration timeout = forever) {
    if (!wait_for_room(timeout)) throw queue_full();
    insert(std::move(item));
  }
  void put(const T& item, duration timeout = forever) {
    if (!wait_for_room(timeout)) throw queue_full();
    insert(T(item));
  }
  template <class Rep, class Period>
  void put(T&& item, std::chrono::duration<Rep, Period> d) {
    put(std::move(item), detail::to_duration(d));
  }
  /// Inserts without waiting; false when full. Moves only on success.
  bool try_put(T&& item) {
    check_open();
    if (!room_now()) return false;
    insert(std::move(item));
    return true;
  }
  bool try_put(const T& item) {
    check_open();
    if (!room_now()) return false;
    insert(T(item));
    return true;
  }

  /// Removes and returns the next item, waiting up to `timeout`. Throws
  /// queue_empty on timeout; queue_closed once closed and drained.
  T get(duration timeout = forever) {
    wait_for_item(timeout, "queue.get");
    return take();
  }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> d) {
    return get(detail::to_duration(d));
  }
  /// Removes the next item if one is free now.
  std::optional<T> try_get() {
    if (!items_now()) {
      if (closed_ && store_.size() == 0) throw queue_closed();
      return std::nullopt;
    }
    return take();
  }
  /// The next item, left in the queue (waits like get()).
  T& peek(duration timeout = forever) {
    const auto deadline = detail::deadline_in(timeout);
    while (store_.size() == 0) {
      if (closed_) throw queue_closed();
      detail::wait_node n;
      if (!peekers_.park(n, deadline, "queue.peek") && store_.size() == 0) throw queue_empty();
    }
    return store_.top();
  }

  /// Refuses new items and wakes everybody; what is queued can still be
  /// got. Idempotent.
  void close() noexcept {
    closed_ = true;
    getters_.wake_all();
    putters_.wake_all();
    peekers_.wake_all();
  }
  bool closed() const noexcept { return closed_; }

  std::size_t size() const noexcept { return store_.size(); }
  bool empty() const noexcept { return store_.size() == 0; }
  bool full() const noexcept { return maxsize_ != 0 && store_.size() >= maxsize_; }
  std::size_t maxsize() const noexcept { return maxsize_; }
  /// Tasks waiting to get / to put.
  std::size_t getters() const noexcept { return getters_.size(); }
  std::size_t putters() const noexcept { return putters_.size(); }

  detail::wait_list& watchers() noexcept { return peekers_; }

 protected:
  // Items not yet promised to a woken getter, and slots not yet promised
  // to a woken putter.
  bool items_now() const noexcept { return store_.size() > item_grants_ && getters_.empty(); }
  bool room_now() const noexcept {
    return (maxsize_ == 0 || store_.size() + space_grants_ < maxsize_) && putters_.empty();
  }
  void check_open() const {
    if (closed_) throw queue_closed();
  }

  bool wait_for_room(duration timeout) {
    check_open();
    if (room_now()) return true;
    detail::wait_node n;
    bool ok;
    try {
      ok = putters_.park(n, detail::deadline_in(timeout), "queue.put");
    } catch (...) {
      if (n.granted) {  // a slot was promised to us: pass it on
        --space_grants_;
        grant_space();
      }
      throw;
    }
    if (n.granted) {
      --space_grants_;
      if (closed_) {
        grant_space();
        throw queue_closed();
      }
      return true;
    }
    check_open();
    (void)ok;
    return false;
  }

  void wait_for_item(duration timeout, const char* what) {
    if (items_now()) return;
    if (closed_ && store_.size() <= item_grants_) throw queue_closed();
    detail::wait_node n;
    try {
      getters_.park(n, detail::deadline_in(timeout), what);
    } catch (...) {
      if (n.granted) {  // an item was promised to us: give it to the next getter
        --item_grants_;
        grant_item();
      }
      throw;
    }
    if (n.granted) {
      --item_grants_;
      return;
    }
    if (store_.size() > item_grants_) return;  // woken by close() with items left: drain
    if (closed_) throw queue_closed();
    throw queue_empty();
  }

  void insert(T&& item) {
    store_.push(std::move(item));
    grant_item();
    peekers_.wake_all();
    on_insert();
  }
  T take() {
    T v = store_.pop();
    grant_space();
    return v;
  }
  // Promises one free item to the longest waiting getter.
  void grant_item() noexcept {
    if (store_.size() > item_grants_)
      if (detail::wait_node* g = getters_.front()) {
        g->granted = true;
        ++item_grants_;
        detail::wait_list::wake(*g);
      }
  }
  // Promises one free slot to the longest waiting putter.
  void grant_space() noexcept {
    if (maxsize_ == 0 || store_.size() + space_grants_ < maxsize_)
      if (detail::wait_node* p = putters_.front()) {
        p->granted = true;
        ++space_grants_;
        detail::wait_list::wake(*p);
      }
  }
  virtual void on_insert() {}

  Store store_;
  std::size_t maxsize_;
  std::size_t item_grants_ = 0;
  std::size_t space_grants_ = 0;
  bool closed_ = false;
  detail::wait_list getters_, putters_, peekers_;

 public:
  virtual ~basic_queue() = default;
};

/// FIFO queue (gevent.queue.Queue).
template <class T>
class queue : public basic_queue<T, detail::fifo_store<T>> {
 public:
  using basic_queue<T, detail::fifo_store<T>>::basic_queue;
};

/// LIFO queue (gevent.queue.LifoQueue).
template <class T>
class lifo_queue : public basic_queue<T, detail::lifo_store<T>> {
 public:
  using basic_queue<T, detail::lifo_store<T>>::basic_queue;
};

/// Priority queue (gevent.queue.PriorityQueue): get() returns the greatest
/// item by `Compare` (std::less: the largest; std::greater: the smallest,
/// as Python's heapq). Equal items come out in no particular order.
template <class T, class Compare = std::less<T>>
class priority_queue : public basic_queue<T, detail::heap_store<T, Compare>> {
 public:
  using basic_queue<T, detail::heap_store<T, Compare>>::basic_queue;
};

/// gevent.queue.JoinableQueue: task_done() after processing each item;
/// join() waits until every item put has been processed.
template <class T>
class joinable_queue : public queue<T> {
 public:
  using queue<T>::queue;
  /// Marks one got item as processed. More calls than items is an error.
  void task_done() {
    if (unfinished_ == 0) throw std::logic_error("greenring::joinable_queue: task_done() called too many times");
    if (--unfinished_ == 0) joiners_.wake_all();
  }
  /// Waits until every item put so far has been task_done()'d; false on
  /// timeout.
  bool join(duration timeout = forever) {
    const auto deadline = detail::deadline_in(timeout);
    while (unfinished_ > 0) {
      detail::wait_node n;
      if (!joiners_.park(n, deadline, "joinable_queue.join")) return unfinished_ == 0;
    }
    return true;
  }
  std::size_t unfinished() const noexcept { return unfinished_; }

 private:
  void on_insert() override { ++unfinished_; }
  std::size_t unfinished_ = 0;
  detail::wait_list joiners_;
};

/// An unbuffered channel (gevent.queue.Channel, Go's `make(chan T)`):
/// put() returns once a getter has the item: a rendezvous. When a getter is
/// already waiting, put() hands the item straight to it and returns without
/// blocking (as Go does), so a producer and a consumer in step cost one task
/// switch per item, not two. A putter killed or timed out before its item
/// was taken keeps it. A getter killed after an item was handed to it but
/// before it ran gives the item back: the next getter receives it first.
/// Nothing is lost or duplicated.
template <class T>
class channel {
 public:
  using value_type = T;
  /// `for (auto item : ch)`: receives until close() (Go's range over a channel).
  detail::drain_iterator<channel, T> begin() { return detail::drain_iterator<channel, T>(*this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  channel() = default;
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// Hands `item` to a getter, waiting up to `timeout` for one to take it.
  /// Throws queue_full on timeout (item untouched), queue_closed.
  void put(T&& item, duration timeout = forever) { offer(&item, timeout); }
  void put(const T& item, duration timeout = forever) {
    T copy(item);
    offer(&copy, timeout);
  }
  template <class Rep, class Period>
  void put(T&& item, std::chrono::duration<Rep, Period> d) {
    offer(&item, detail::to_duration(d));
  }
  /// Takes an item from a waiting putter, waiting up to `timeout` for one.
  /// Throws queue_empty on timeout, queue_closed once closed.
  T get(duration timeout = forever) {
    const auto deadline = detail::deadline_in(timeout);
    for (;;) {
      if (!returned_.empty()) {
        T v = std::move(returned_.front());
        returned_.pop_front();
        return v;
      }
      if (detail::wait_node* p = putters_.front(); p && wakened_getters_ == 0) return take_from(*p);
      if (closed_) throw queue_closed();
      detail::wait_node n;
      slot s;
      n.data = &s;
      bool woken;
      if (put_watchers_.front() && !putters_.front()) put_watchers_.wake_all();  // a wait() for put: a getter is here now
      try {
        woken = getters_.park(n, deadline, "channel.get");
      } catch (...) {
        if (n.granted) {
          give_back(std::move(s.item));  // handed to us, but we die: the next getter has it
          s.item.~T();
        } else if (n.woken) {
          --wakened_getters_;
          signal_getter();  // the putter that woke us needs another getter
          if (!getters_.front()) watchers_.wake_all();  // or a wait() on us
        }
        throw;
      }
      if (n.granted) {  // a putter handed the item over directly
        T v = std::move(s.item);
        s.item.~T();
        return v;
      }
      if (n.woken) --wakened_getters_;
      if (detail::wait_node* p = putters_.front()) return take_from(*p);
      if (!woken) throw queue_empty();
    }
  }
  template <class Rep, class Period>
  T get(std::chrono::duration<Rep, Period> d) {
    return get(detail::to_duration(d));
  }
  /// Wakes every waiter with queue_closed. Idempotent.
  void close() noexcept {
    closed_ = true;
    getters_.wake_all();
    putters_.wake_all();
    watchers_.wake_all();
    put_watchers_.wake_all();
  }
  bool closed() const noexcept { return closed_; }
  std::size_t getters() const noexcept { return getters_.size(); }
  std::size_t putters() const noexcept { return putters_.size(); }
  /// True when get() would not wait: a putter waits with an item (and no
  /// getter woken before us will take it), or the channel is closed.
  bool ready() const noexcept {
    return !returned_.empty() || (putters_.front() && wakened_getters_ == 0) || closed_;
  }
  /// Woken when ready() may have become true (for greenring::wait).
  detail::wait_list& watchers() noexcept { return watchers_; }
  /// True when put() would not wait: a getter waits and no putter is ahead
  /// of us, or the channel is closed (put() then throws at once).
  bool put_ready() const noexcept { return (getters_.front() && !putters_.front()) || closed_; }
  /// Woken when put_ready() may have become true (greenring::for_put).
  detail::wait_list& put_watchers() noexcept { return put_watchers_; }

 private:
  // A getter's landing place for an item handed over directly.
  union slot {
    slot() noexcept {}
    ~slot() {}
    T item;
  };

  void offer(T* item, duration timeout) {
    if (closed_) throw queue_closed();
    // A getter waiting and no earlier putter in line: hand over directly.
    // (Waiting getters imply nothing was given back: see give_back.)
    if (detail::wait_node* g = getters_.front(); g && !putters_.front()) {
      grant(*g, std::move(*item));
      return;
    }
    detail::wait_node n;
    n.data = item;
    signal_getter();
    if (watchers_.front()) watchers_.wake_all();  // a wait() on the channel: an item is offered
    try {
      putters_.park(n, detail::deadline_in(timeout), "channel.put");
    } catch (...) {
      // Taken before the kill landed (delivered), or not (kept): either
      // way the kill goes on.
      throw;
    }
    if (n.granted) return;
    if (closed_) throw queue_closed();
    throw queue_full();
  }
  T take_from(detail::wait_node& p) {
    T v = std::move(*static_cast<T*>(p.data));
    p.granted = true;
    detail::wait_list::wake(p);
    if (putters_.front()) signal_getter();
    return v;
  }
  void grant(detail::wait_node& g, T&& item) {
    ::new (static_cast<void*>(&static_cast<slot*>(g.data)->item)) T(std::move(item));
    g.granted = true;
    detail::wait_list::wake(g);
  }
  // An item a killed getter had been handed: to the next waiting getter,
  // or first in line for the next get().
  void give_back(T&& item) {
    if (detail::wait_node* g = getters_.front()) {
      grant(*g, std::move(item));
      return;
    }
    returned_.push_front(std::move(item));
    watchers_.wake_all();
  }
  void signal_getter() noexcept {
    if (getters_.front()) {
      ++wakened_getters_;
      getters_.wake_one();
    }
  }
  detail::wait_list getters_, putters_, watchers_, put_watchers_;
  std::deque<T> returned_;  // given back by killed getters; empty but for that
  std::size_t wakened_getters_ = 0;
  bool closed_ = false;
};

}  // namespace greenring
