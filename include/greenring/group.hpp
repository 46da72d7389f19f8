// greenring — groups of tasks: group and pool (gevent.pool), and
// task_group, a structured scope that owns its children.
//
//   greenring::pool p(5);                       // at most 5 tasks at once
//   auto lengths = p.map(fetch_length, urls);   // results in input order
//
//   {
//     greenring::task_group g;                  // joins every child on exit
//     g.spawn(download, a);
//     g.spawn(download, b);
//     g.wait();                                 // first failure: siblings killed, rethrown here
//   }
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/event.hpp>
#include <greenring/queue.hpp>
#include <greenring/task.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace greenring {

/// gevent.pool.Group: a set of tasks; a task leaves it when it finishes.
/// Destroying a group kills what is still in it, and waits for that.
class group {
 public:
  group() : st_(std::make_shared<state>()) { st_->owner = this; }
  group(const group&) = delete;
  group& operator=(const group&) = delete;
  virtual ~group() {
    try {
      kill();
    } catch (...) {
      // The owner is being killed itself; its members were killed first.
    }
    st_->owner = nullptr;
  }

  /// Spawns `fn(args...)` and adds it.
  template <class F, class... Args>
  auto spawn(F&& fn, Args&&... args) {
    before_spawn();
    auto t = greenring::spawn(std::forward<F>(fn), std::forward<Args>(args)...);
    add(t);
    return t;
  }
  /// Adds a task; it leaves when it finishes (a finished one is not added).
  void add(const any_task& t) {
    if (t.ready() || !st_->members.emplace(t.id(), t).second) return;
    st_->empty.clear();
    std::weak_ptr<state> w = st_;
    t.link([w](const any_task& done) {
      if (auto s = w.lock()) {
        if (!s->members.erase(done.id())) return;
        if (s->members.empty()) s->empty.set();
        if (s->owner) s->owner->member_left();
      }
    });
  }
  /// Removes a task from the group without stopping it.
  void discard(const any_task& t) {
    if (!st_->members.erase(t.id())) return;
    if (st_->members.empty()) st_->empty.set();
    member_left();
  }
  bool contains(const any_task& t) const { return st_->members.count(t.id()) != 0; }
  std::size_t size() const noexcept { return st_->members.size(); }
  bool empty() const noexcept { return st_->members.empty(); }
  /// The members, oldest first.
  std::vector<any_task> tasks() const {
    std::vector<any_task> v;
    v.reserve(st_->members.size());
    for (auto& [id, t] : st_->members) v.push_back(t);
    return v;
  }

  /// Waits until the group is empty, for at most `timeout`; returns
  /// empty(). With `raise_error`, the first member that fails has its
  /// exception rethrown here as soon as it fails.
  bool join(duration timeout = forever, bool raise_error = false) {
    if (raise_error) {
      joinall(tasks(), timeout, true);
      return empty();
    }
    return empty() || st_->empty.wait(timeout);
  }
  /// Kills every member and waits (at most `timeout`) for them to finish.
  void kill(duration timeout = forever) {
    auto v = tasks();
    if (!v.empty()) killall(v, timeout);
  }

 protected:
  virtual void before_spawn() {}
  virtual void member_left() noexcept {}
  struct state {
    std::map<std::uint64_t, any_task> members;  // ids grow: oldest first
    event empty;
    group* owner = nullptr;
    state() { empty.set(); }
  };
  std::shared_ptr<state> st_;
};

namespace detail {

/// The iterator of a stream of results: each step takes the next one from
/// `Source::next()` (an optional, empty at the end). An input range.
template <class Source, class R>
class pull_iterator {
 public:
  using value_type = R;
  using difference_type = std::ptrdiff_t;
  pull_iterator() = default;
  explicit pull_iterator(Source* s) : s_(s) { advance(); }
  R& operator*() { return *cur_; }
  pull_iterator& operator++() {
    advance();
    return *this;
  }
  void operator++(int) { advance(); }
  bool operator==(std::default_sentinel_t) const noexcept { return !cur_; }

 private:
  void advance() { cur_ = s_->next(); }
  Source* s_ = nullptr;
  std::optional<R> cur_;
};

}  // namespace detail

template <class R>
class result_stream;
template <class R>
class ordered_results;

/// gevent.pool.Pool: a group that runs at most `size` tasks at once;
/// spawn() waits (FIFO) for a free slot.
class pool : public group {
 public:
  explicit pool(std::size_t size) : size_(size) {
    if (size == 0) throw std::invalid_argument("greenring::pool: the size must be at least 1");
  }
  ~pool() override {
    try {
      helpers_.kill();  // first: they would start new members
      kill();
    } catch (...) {
    }
  }
  std::size_t capacity() const noexcept { return size_; }
  /// Slots free now.
  std::size_t free_count() const noexcept { return size() + reserved_ >= size_ ? 0 : size_ - size() - reserved_; }
  bool full() const noexcept { return free_count() == 0; }
  /// Waits until a slot is free, at most `timeout`; returns free_count().
  std::size_t wait_available(duration timeout = forever) {
    const auto deadline = detail::deadline_in(timeout);
    while (full()) {
      detail::wait_node n;
      if (!slots_.park(n, deadline, "pool.wait_available")) break;
    }
    return free_count();
  }

  /// Runs fn(args...) in the pool and waits for its result.
  template <class F, class... Args>
  auto apply(F&& fn, Args&&... args) {
    return spawn(std::forward<F>(fn), std::forward<Args>(args)...).get();
  }
  /// Runs fn(args...) in the pool; once it has returned, callback(result)
  /// runs in a task on this thread (callback() for void). Never blocks:
  /// when the pool is full, a helper task waits for the slot (as gevent's
  /// apply_async does). A failing fn skips the callback; its exception is
  /// reported like any uncollected task failure. join() waits for these too.
  template <class F, class C, class... Args>
  void apply_async(F&& fn, C callback, Args&&... args) {
    auto call = [f = std::decay_t<F>(std::forward<F>(fn)),
                 tup = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
      return std::apply(f, std::move(tup));
    };
    using T = std::invoke_result_t<decltype(call)&>;
    auto start = [this, cb = std::move(callback)](auto call) mutable {
      auto t = this->spawn(std::move(call));  // the pool's own spawn: counted and joined
      t.link([cb = std::move(cb)](const any_task& done) mutable {
        if (!done.successful()) return;
        greenring::spawn([cb = std::move(cb), done]() mutable {
          const auto& typed = static_cast<const task<T>&>(done);
          if constexpr (std::is_void_v<T>) {
            typed.get();
            cb();
          } else {
            cb(typed.get());
          }
        });
      });
    };
    if (!full() && slots_.empty()) {
      start(std::move(call));
      return;
    }
    helpers_.spawn([start = std::move(start), call = std::move(call)]() mutable { start(std::move(call)); });
  }

  /// Waits until every task, and every apply_async still waiting for a
  /// slot, has finished (at most `timeout`); see group::join.
  bool join(duration timeout = forever, bool raise_error = false) {
    const auto deadline = detail::deadline_in(timeout);
    auto left = [deadline] {
      if (deadline == detail::clock::time_point::max()) return forever;
      auto d = deadline - detail::clock::now();
      return d.count() > 0 ? duration(d) : duration::zero();
    };
    if (!helpers_.join(left(), raise_error)) return false;
    return group::join(left(), raise_error);
  }

  /// fn(x) for each x of `range`, at most capacity() at once; returns the
  /// results in the order of `range`. On the first failure the other tasks
  /// are killed and that failure is rethrown.
  template <class F, class Range>
  auto map(F fn, const Range& range) {
    using X = std::ranges::range_reference_t<const Range>;
    using R = std::invoke_result_t<F&, X>;
    static_assert(!std::is_void_v<R>, "pool::map needs a function that returns a value");
    std::vector<task<R>> started;
    try {
      for (auto&& x : range) {
        started.push_back(spawn(fn, x));
        for (auto& t : started)
          if (t.ready() && !t.successful()) t.get();  // fail fast: rethrows
      }
      joinall(started, forever, true);
    } catch (...) {
      std::vector<any_task> rest(started.begin(), started.end());
      killall(rest);
      throw;
    }
    std::vector<R> out;
    out.reserve(started.size());
    for (auto& t : started) out.push_back(std::move(t.get()));
    return out;
  }

  /// fn(x) for each x of `range` (which must outlive the iteration), at
  /// most capacity() at once; the results in the order they finish:
  ///   for (auto&& r : p.imap_unordered(fn, xs)) ...
  /// A failure is rethrown from the iteration, after the rest are killed.
  /// The same in the order of `range` (gevent's Pool.imap): each result
  /// as soon as it and those before it are done; later ones that finish
  /// first wait in their tasks.
  template <class F, class Range>
  auto imap(F fn, const Range& range) {
    using X = std::ranges::range_reference_t<const Range>;
    using R = std::invoke_result_t<F&, X>;
    static_assert(!std::is_void_v<R>, "pool::imap needs a function that returns a value");
    return ordered_results<R>(*this, std::move(fn), range);
  }
  template <class F, class Range>
  auto imap_unordered(F fn, const Range& range) {
    using X = std::ranges::range_reference_t<const Range>;
    using R = std::invoke_result_t<F&, X>;
    static_assert(!std::is_void_v<R>, "pool::imap_unordered needs a function that returns a value");
    return result_stream<R>(*this, std::move(fn), range);
  }

 protected:
  void before_spawn() override {
    if (!full() && slots_.empty()) return;
    detail::wait_node n;
    try {
      slots_.park(n, detail::clock::time_point::max(), "pool.spawn");
    } catch (...) {
      if (n.granted) {  // a slot was promised to us: pass it on
        --reserved_;
        member_left();
      }
      throw;
    }
    --reserved_;  // the slot is ours; spawn() fills it next
  }
  void member_left() noexcept override {
    // Promise the free slot to the longest waiting spawner.
    if (size() + reserved_ < size_)
      if (detail::wait_node* w = slots_.front()) {
        w->granted = true;
        ++reserved_;
        detail::wait_list::wake(*w);
      }
  }

 private:
  std::size_t size_;
  std::size_t reserved_ = 0;  // slots promised to woken spawners
  detail::wait_list slots_;
  group helpers_;             // apply_async calls waiting for a slot
};

/// The results of pool::imap_unordered, as they arrive. Destroying it kills
/// the work still running.
template <class R>
class result_stream {
 public:
  template <class F, class Range>
  result_stream(pool& p, F fn, const Range& range) : s_(std::make_shared<shared>()) {
    std::weak_ptr<shared> w = s_;
    s_->feeder = greenring::spawn([&p, fn = std::move(fn), &range, w]() mutable {
      for (auto&& x : range) {
        auto t = p.spawn(fn, x);
        if (auto s = w.lock()) {
          ++s->total;
          s->running.push_back(t);
        }
        t.link([w](const any_task& done) {
          auto s = w.lock();
          if (!s) return;
          const auto& typed = static_cast<const task<R>&>(done);
          if (done.successful())
            s->results.put(item(std::in_place_index<0>, std::move(typed.get())));
          else
            s->results.put(item(std::in_place_index<1>, done.exception()));
        });
      }
      if (auto s = w.lock()) {
        s->fed_all = true;
        s->results.put(item(std::in_place_index<2>));  // wakes a reader waiting for more
      }
    });
  }
  result_stream(result_stream&&) noexcept = default;
  ~result_stream() {
    if (!s_) return;
    try {
      s_->feeder.kill();
      killall(s_->running);
    } catch (...) {
    }
  }

  using iterator = detail::pull_iterator<result_stream, R>;
  friend iterator;
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  using item = std::variant<R, std::exception_ptr, std::monostate>;
  struct shared {
    queue<item> results;
    std::size_t total = 0, delivered = 0;
    bool fed_all = false;
    any_task feeder;
    std::vector<any_task> running;
  };
  std::optional<R> next() {
    for (;;) {
      if (s_->fed_all && s_->delivered == s_->total) return std::nullopt;
      item it = s_->results.get();
      if (it.index() == 2) continue;
      ++s_->delivered;
      if (it.index() == 1) {
        s_->feeder.kill();
        killall(s_->running);
        std::rethrow_exception(std::get<1>(it));
      }
      return std::move(std::get<0>(it));
    }
  }
  std::shared_ptr<shared> s_;
};

/// The results of pool::imap, in the order of the range. Destroying it
/// kills the work still running.
template <class R>
class ordered_results {
 public:
  template <class F, class Range>
  ordered_results(pool& p, F fn, const Range& range) : s_(std::make_shared<shared>()) {
    std::weak_ptr<shared> w = s_;
    s_->feeder = greenring::spawn([&p, fn = std::move(fn), &range, w]() mutable {
      auto finish = [&w](std::exception_ptr e) {
        if (auto s = w.lock()) {
          s->error = e;
          s->fed_all = true;
          s->more.set();
        }
      };
      try {
        for (auto&& x : range) {
          auto t = p.spawn(fn, x);  // waits while the pool is full
          auto s = w.lock();
          if (!s) return;
          s->tasks.push_back(std::move(t));
          s->more.set();
        }
      } catch (const greenlet_exit&) {
        finish(nullptr);
        throw;
      } catch (...) {
        finish(std::current_exception());  // the reader rethrows it, after the results before it
        return;
      }
      finish(nullptr);
    });
  }
  ordered_results(ordered_results&&) noexcept = default;
  ~ordered_results() {
    if (s_) stop();
  }

  using iterator = detail::pull_iterator<ordered_results, R>;
  friend iterator;
  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  struct shared {
    std::deque<task<R>> tasks;  // spawned, in the range's order, not yet read
    bool fed_all = false;
    std::exception_ptr error;   // the feeder's own failure (not a task's)
    event more;
    any_task feeder;
  };
  void stop() noexcept {
    try {
      s_->feeder.kill();
      std::vector<any_task> rest(s_->tasks.begin(), s_->tasks.end());
      killall(rest);
    } catch (...) {
    }
  }
  std::optional<R> next() {
    for (;;) {
      if (!s_->tasks.empty()) {
        task<R> t = std::move(s_->tasks.front());
        s_->tasks.pop_front();
        try {
          return std::optional<R>(std::move(t.get()));
        } catch (...) {
          stop();  // the first failure ends it: the rest are killed
          throw;
        }
      }
      if (s_->fed_all) {
        if (auto e = std::exchange(s_->error, nullptr)) std::rethrow_exception(e);
        return std::nullopt;
      }
      s_->more.clear();
      s_->more.wait();
    }
  }
  std::shared_ptr<shared> s_;
};

/// A structured scope for child tasks (a nursery): every child is joined
/// when the scope ends; when one fails, the others are killed and the
/// failure is rethrown in the owner, by wait() or by the destructor.
///
/// The destructor only rethrows when no exception is already unwinding
/// the owner; otherwise it kills the children, waits, and lets the
/// owner's exception go on.
class task_group {
 public:
  task_group() : st_(std::make_shared<state>()) {}
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  ~task_group() noexcept(false) {
    if (std::uncaught_exceptions() > entry_exceptions_) {
      try {
        kill_all();
      } catch (...) {
      }
      return;
    }
    wait();
  }

  /// Spawns a child.
  template <class F, class... Args>
  auto spawn(F&& fn, Args&&... args) {
    if (st_->failure) throw std::logic_error("greenring::task_group: spawn after a child failed");
    auto t = greenring::spawn(std::forward<F>(fn), std::forward<Args>(args)...);
    st_->children.push_back(t);
    std::weak_ptr<state> w = st_;
    t.link([w](const any_task& done) {
      auto s = w.lock();
      if (!s) return;
      if (!done.successful() && !done.killed() && !s->failure) {
        s->failure = done.exception();
        // Kill the siblings; the owner's wait() collects them.
        for (auto& c : s->children)
          if (!c.ready() && !(c == done)) c.kill_async();
      }
    });
    return t;
  }
  /// Joins every child. Rethrows the first failure (after the siblings it
  /// killed have finished). Children killed from outside are not failures.
  void wait() {
    try {
      joinall(st_->children);
    } catch (...) {
      kill_all();
      throw;
    }
    if (auto f = std::exchange(st_->failure, nullptr)) {
      for (auto& c : st_->children) (void)c.exception();  // collected: reported here, not on stderr
      std::rethrow_exception(f);
    }
  }
  std::size_t size() const noexcept { return st_->children.size(); }

 private:
  void kill_all() {
    std::vector<any_task> alive;
    for (auto& c : st_->children)
      if (!c.ready()) alive.push_back(c);
    if (!alive.empty()) killall(alive);
  }
  struct state {
    std::vector<any_task> children;
    std::exception_ptr failure;
  };
  std::shared_ptr<state> st_;
  int entry_exceptions_ = std::uncaught_exceptions();
};

}  // namespace greenring
