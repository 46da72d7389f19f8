// greenring — waiting for several things at once (gevent.wait / iwait).
//
//   greenring::event stop;
//   auto t = greenring::spawn(work);
//   auto ready = greenring::wait({stop, t}, 1);   // whichever comes first
//
// Anything below converts to a `waitable`: an event, an async_result, a
// task handle, a queue or a channel (ready = get() would not wait: an item
// is there, or it is closed), a wait_group (ready at zero), a ticker (a
// tick is pending).
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/wait_list.hpp>
#include <greenring/event.hpp>
#include <greenring/queue.hpp>
#include <greenring/sync.hpp>
#include <greenring/task.hpp>
#include <greenring/ticker.hpp>

#include <cstddef>
#include <initializer_list>
#include <limits>
#include <span>
#include <vector>

namespace greenring {

class waitable {
 public:
  waitable(event& e) noexcept  // NOLINT: implicit on purpose
      : obj_(&e), list_(&e.watchers()), ready_([](const void* o) { return static_cast<const event*>(o)->ready(); }) {}
  template <class T>
  waitable(async_result<T>& r) noexcept  // NOLINT
      : obj_(&r), list_(&r.watchers()), ready_([](const void* o) { return static_cast<const async_result<T>*>(o)->ready(); }) {}
  /// Ready when get() would not wait: an item is there, or the queue is
  /// closed (get() then throws queue_closed at once).
  template <class T, class S>
  waitable(basic_queue<T, S>& q) noexcept  // NOLINT
      : obj_(&q), list_(&q.watchers()), ready_([](const void* o) {
          const auto* q = static_cast<const basic_queue<T, S>*>(o);
          return !q->empty() || q->closed();
        }) {}
  /// Ready when get() would not wait: a putter is waiting with an item, or
  /// the channel is closed (Go's receive case in a select).
  template <class T>
  waitable(channel<T>& c) noexcept  // NOLINT
      : obj_(&c), list_(&c.watchers()), ready_([](const void* o) { return static_cast<const channel<T>*>(o)->ready(); }) {}
  /// Ready when its count is zero.
  waitable(wait_group& g) noexcept  // NOLINT
      : obj_(&g), list_(&g.watchers()), ready_([](const void* o) { return static_cast<const wait_group*>(o)->ready(); }) {}
  /// Ready when tick() would not wait: a tick is pending (or it is stopped).
  waitable(ticker& k) noexcept  // NOLINT
      : obj_(&k), list_(&k.watchers()), ready_([](const void* o) { return static_cast<const ticker*>(o)->ready(); }) {}
  waitable(const any_task& t) noexcept : obj_(&t), task_(true) {}  // NOLINT
  /// The send side of a channel: see for_put().
  template <class T>
  struct put_side {
    channel<T>& c;
  };
  template <class T>
  waitable(put_side<T> p) noexcept  // NOLINT
      : obj_(&p.c), list_(&p.c.put_watchers()), ready_([](const void* o) { return static_cast<const channel<T>*>(o)->put_ready(); }) {}

  /// True when waiting on it would not block.
  bool ready() const { return task_ ? static_cast<const any_task*>(obj_)->ready() : ready_(obj_); }

 private:
  friend std::vector<std::size_t> wait(std::span<const waitable>, std::size_t, duration);
  const void* obj_;
  detail::wait_list* list_ = nullptr;
  bool (*ready_)(const void*) = nullptr;
  bool task_ = false;
};

/// Waits until at least `count` of `objects` are ready (count 0 or larger
/// than the number of objects: all of them), or `timeout` passes. Returns
/// the indexes of the ready ones, in order. Throws what cancels the caller.
std::vector<std::size_t> wait(std::span<const waitable> objects,
                              std::size_t count = std::numeric_limits<std::size_t>::max(),
                              duration timeout = forever);
inline std::vector<std::size_t> wait(std::initializer_list<waitable> objects,
                                     std::size_t count = std::numeric_limits<std::size_t>::max(),
                                     duration timeout = forever) {
  return wait(std::span<const waitable>(objects.begin(), objects.size()), count, timeout);
}

/// A channel's send side for wait(): ready when put() would not wait (a
/// getter waits for an item, or the channel is closed and put() throws).
/// With wait_any over both sides, Go's select:
///   switch (greenring::wait_any({in, greenring::for_put(out), stop})) {
///     case 0: handle(in.get()); break;
///     case 1: out.put(next()); break;
///     case 2: return;
///   }
template <class T>
waitable::put_side<T> for_put(channel<T>& c) noexcept {
  return {c};
}

/// Waits until one of `objects` is ready; returns its index, or
/// `objects.size()` when `timeout` passed first.
inline std::size_t wait_any(std::initializer_list<waitable> objects, duration timeout = forever) {
  auto r = wait(objects, 1, timeout);
  return r.empty() ? objects.size() : r.front();
}

/// gevent.iwait: yields the index of each of `objects` as it becomes
/// ready, each once; those found ready together come in index order. Ends
/// when every one has been yielded, or when `timeout` (for the whole
/// iteration) has passed.
///   for (std::size_t i : greenring::iwait({a, b, c})) handle(i);
class iwait {
 public:
  explicit iwait(std::span<const waitable> objects, duration timeout = forever)
      : objects_(objects.begin(), objects.end()), yielded_(objects.size(), false),
        deadline_(detail::deadline_in(timeout)) {}
  iwait(std::initializer_list<waitable> objects, duration timeout = forever)
      : iwait(std::span<const waitable>(objects.begin(), objects.size()), timeout) {}

  class iterator {
   public:
    using value_type = std::size_t;
    using difference_type = std::ptrdiff_t;
    std::size_t operator*() const noexcept { return current_; }
    iterator& operator++() {
      current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const noexcept { return current_ == npos; }

   private:
    friend class iwait;
    static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
    iterator(iwait* owner, std::size_t current) noexcept : owner_(owner), current_(current) {}
    iwait* owner_;
    std::size_t current_;
  };
  /// Waits for the first one.
  iterator begin() { return iterator(this, next()); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  std::size_t next() {
    for (;;) {
      std::vector<waitable> left;
      for (std::size_t i = 0; i < objects_.size(); ++i) {
        if (yielded_[i]) continue;
        if (objects_[i].ready()) {
          yielded_[i] = true;
          return i;
        }
        left.push_back(objects_[i]);
      }
      if (left.empty()) return iterator::npos;
      const auto ready = wait(std::span<const waitable>(left), 1, detail::time_left(deadline_));
      if (ready.empty()) return iterator::npos;  // the timeout passed
    }
  }
  std::vector<waitable> objects_;
  std::vector<bool> yielded_;
  detail::clock::time_point deadline_;
};

}  // namespace greenring
