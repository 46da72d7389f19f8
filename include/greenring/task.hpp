// greenring — tasks: gevent's Greenlet, scheduled by the thread's hub.
//
//   auto t = greenring::spawn(fetch, url);   // runs when the spawner blocks
//   greenring::joinall({t});
//   std::string body = t.get();
//
// A task is a greenlet whose parent is the hub. `spawn` returns a shared,
// copyable handle; the task runs to completion whether or not a handle is
// kept. An exception escaping the task is stored and rethrown by `get()`;
// one that nobody collects is reported on stderr with the task's name when
// the last handle goes away. Handles, like greenlets, belong to one thread.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/detail/task_base.hpp>
#include <greenring/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace greenring {

/// Settings for `spawn` (pass as the first argument).
struct task_options {
  std::string name = {};                                // shown in errors and diagnostics
  std::size_t stack_size = greenlet::default_stack_size;  // usable bytes, at least min_stack_size
};

namespace detail {
struct adopt_t {};
}  // namespace detail

/// A task of any result type.
class any_task {
 public:
  any_task() noexcept = default;
  any_task(const any_task& o) noexcept : p_(o.p_) {
    if (p_) rec()->add_ref();
  }
  any_task(any_task&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  any_task& operator=(any_task o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~any_task() {
    if (p_) rec()->release();
  }

  explicit operator bool() const noexcept { return p_ != nullptr; }
  friend bool operator==(const any_task& a, const any_task& b) noexcept { return a.p_ == b.p_; }

  /// True once the task has finished (returned, failed or been killed).
  bool ready() const { return rec()->done(); }
  /// True when it finished by returning normally.
  bool successful() const { return rec()->done() && !rec()->failed(); }
  /// True when it was killed by `kill()` (the default `greenlet_exit`).
  bool killed() const { return rec()->killed(); }
  /// True once its body has begun running.
  bool started() const { return rec()->began(); }
  /// The exception the task failed with, or nullptr (marks it collected).
  std::exception_ptr exception() const { return rec()->error(); }
  std::uint64_t id() const { return rec()->id(); }
  const std::string& name() const { return rec()->name(); }

  /// Blocks the calling greenlet until the task has finished. Throws only
  /// what cancels the caller (a kill, an expired `timeout` scope).
  void join() const { rec()->join(detail::clock::time_point::max()); }
  /// As join(), for at most `d`; returns ready().
  template <class Rep, class Period>
  bool join(std::chrono::duration<Rep, Period> d) const {
    return rec()->join(detail::deadline_after(detail::to_duration(d)));
  }

  /// Raises `greenlet_exit` in the task at its switch point (a task that has
  /// not started never runs its body) and waits until it has finished, so
  /// its destructors have run. Killing a finished task does nothing; killing
  /// the current task throws `greenlet_exit` at once.
  void kill() const {
    rec()->kill_async(nullptr);
    join();
  }
  /// As kill(), waiting at most `d`; returns ready().
  template <class Rep, class Period>
  bool kill(std::chrono::duration<Rep, Period> d) const {
    rec()->kill_async(nullptr);
    return join(d);
  }
  /// Raises `e` in the task instead of greenlet_exit; does not wait.
  void kill_async(std::exception_ptr e = nullptr) const { rec()->kill_async(std::move(e)); }

  /// Calls `fn(task)` when the task finishes (at once if it has). Callbacks
  /// run in order, on the task's thread, before its joiners resume.
  void link(std::function<void(const any_task&)> fn) const {
    rec()->link([f = std::move(fn)](detail::task_base& t) {
      t.add_ref();
      f(any_task(&t));
    });
  }

 protected:
  explicit any_task(detail::task_base* p) noexcept : p_(p) {}  // adopts a reference
  /// The record; throws std::logic_error for an empty (default-made or
  /// moved-from) handle.
  detail::task_base* rec() const {
    if (!p_) throw std::logic_error("greenring: use of an empty task handle");
    return p_;
  }
  detail::task_base* p_ = nullptr;

  friend detail::task_base* detail_get(const any_task& t) noexcept;
};

inline detail::task_base* detail_get(const any_task& t) noexcept { return t.p_; }

/// A task whose callable returns T.
template <class T>
class task : public any_task {
 public:
  task() noexcept = default;

  /// Waits for the task, then returns its result or rethrows its exception
  /// (`task_killed` when it was killed).
  decltype(auto) get() const {
    detail::task_base* p = rec();  // throws for an empty handle, so p is not null below
    join();
    p->rethrow_if_failed();
    return static_cast<detail::task_state<T>*>(p)->result();
  }

  /// Internal: adopts a reference to `p`.
  task(detail::adopt_t, detail::task_base* p) noexcept : any_task(p) {}
};

template <class F, class... Args>
auto spawn_impl(std::optional<detail::clock::time_point> at, task_options opts, F&& f, Args&&... args) {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(!std::is_reference_v<R>, "a task cannot return a reference; return a value or a pointer");
  detail::require_same_sanitizer();
  auto call = [fn = std::decay_t<F>(std::forward<F>(f)),
               tup = std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)]() mutable -> R {
    return std::apply(fn, std::move(tup));
  };
  auto* rec = detail::task_impl<R, decltype(call)>::create(opts.stack_size, std::move(opts.name),
                                                           std::move(call));
  rec->add_ref();  // the handle's reference; the hub keeps the first one
  task<R> handle(detail::adopt_t{}, rec);
  rec->start(at);
  return handle;
}

/// Creates a task running `f(args...)` (arguments are copied or moved in,
/// as std::thread does) and makes it ready. It runs once the caller blocks or
/// yields. Never blocks.
template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn(F&& f, Args&&... args) {
  return spawn_impl(std::nullopt, task_options{}, std::forward<F>(f), std::forward<Args>(args)...);
}
template <class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn(task_options opts, F&& f, Args&&... args) {
  return spawn_impl(std::nullopt, std::move(opts), std::forward<F>(f), std::forward<Args>(args)...);
}

/// As spawn, but the task becomes ready only after `delay`.
template <class Rep, class Period, class F, class... Args>
  requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
auto spawn_later(std::chrono::duration<Rep, Period> delay, F&& f, Args&&... args) {
  return spawn_impl(detail::deadline_after(detail::to_duration(delay)), task_options{},
                    std::forward<F>(f), std::forward<Args>(args)...);
}

namespace detail {
std::vector<any_task> joinall(std::vector<any_task> tasks, clock::time_point deadline, bool raise_error);
void killall(const std::vector<any_task>& tasks, clock::time_point deadline);
template <class Range>
std::vector<any_task> to_tasks(const Range& r) {
  std::vector<any_task> v;
  if constexpr (std::ranges::sized_range<const Range>) v.reserve(std::ranges::size(r));
  for (const auto& t : r) {
    if (!t) throw std::logic_error("greenring: an empty task handle was passed to joinall/killall");
    v.push_back(static_cast<const any_task&>(t));
  }
  return v;
}
}  // namespace detail

/// Waits until every task has finished, or `timeout` has passed, or (with
/// `raise_error`) one of them has failed, whose exception is then rethrown.
/// Returns the tasks that finished, in the order they were given.
template <class Range, class Rep = duration::rep, class Period = duration::period>
  requires std::ranges::input_range<const Range>
std::vector<any_task> joinall(const Range& tasks, std::chrono::duration<Rep, Period> timeout = forever,
                              bool raise_error = false) {
  return detail::joinall(detail::to_tasks(tasks), detail::deadline_after(detail::to_duration(timeout)),
                         raise_error);
}
template <class Rep = duration::rep, class Period = duration::period>
std::vector<any_task> joinall(std::initializer_list<any_task> tasks,
                              std::chrono::duration<Rep, Period> timeout = forever, bool raise_error = false) {
  return detail::joinall(std::vector<any_task>(tasks), detail::deadline_after(detail::to_duration(timeout)),
                         raise_error);
}

/// Kills every task (see any_task::kill) and waits up to `timeout` for all
/// of them to finish.
template <class Range, class Rep = duration::rep, class Period = duration::period>
  requires std::ranges::input_range<const Range>
void killall(const Range& tasks, std::chrono::duration<Rep, Period> timeout = forever) {
  detail::killall(detail::to_tasks(tasks), detail::deadline_after(detail::to_duration(timeout)));
}
template <class Rep = duration::rep, class Period = duration::period>
void killall(std::initializer_list<any_task> tasks, std::chrono::duration<Rep, Period> timeout = forever) {
  detail::killall(std::vector<any_task>(tasks), detail::deadline_after(detail::to_duration(timeout)));
}

}  // namespace greenring
