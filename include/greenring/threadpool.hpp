// greenring — a pool of OS threads for blocking or CPU-bound work.
//
//   greenring::threadpool pool(4);
//   auto r = pool.submit([] { return crunch(); });  // runs on a worker thread
//   int v = r.get();                                // this task waits; others run
//
// A task that waits on a result parks on its hub; the worker hands the
// result back through the hub's io_uring (an eventfd read), so the hub
// never polls and no thread blocks on behalf of a task. An exception thrown
// by the job is rethrown to whoever calls get(). `apply_async(fn, callback)`
// is multiprocessing's Pool.apply_async: the callback runs as a task on the
// submitting thread's hub, once the result is in.
//
// Killing a task that waits on a result does not stop the job: a worker
// thread cannot be interrupted; its result is dropped when nobody wants it.
#pragma once

#include <greenring/detail/duration.hpp>
#include <greenring/task.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace greenring {

class threadpool;

namespace detail {

class threadpool_impl;

/// One job's shared state. Written by the worker before it posts the job
/// back, read on the submitting hub's thread after (a mutex hand-off orders
/// the two).
struct pool_job {
  virtual ~pool_job() = default;
  virtual void run() noexcept = 0;      // on a worker thread
  virtual void callback() {}            // on the hub, as a task
  virtual bool has_callback() const noexcept { return false; }
  std::exception_ptr error;
  bool done = false;                    // hub-side: the result has arrived
  greenlet* waiter = nullptr;           // hub-side: the task in get()/wait()
  void* account = nullptr;              // the submitting hub's count of this pool's jobs (for join)
  bool expected = true;                 // counted in the hub's expected results (hub_handle posts are not)
};

void pool_submit(threadpool_impl& p, std::shared_ptr<pool_job> job);
/// Cooperatively waits for `job`, for at most `d`; returns job.done.
bool pool_wait(pool_job& job, duration d);

template <class T>
struct pool_job_of : pool_job {
  std::conditional_t<std::is_void_v<T>, std::optional<std::monostate>, std::optional<T>> value;
};

template <class T, class F, class C>
struct pool_job_impl final : pool_job_of<T> {
  pool_job_impl(F f, C c) : fn(std::move(f)), cb(std::move(c)) {}
  void run() noexcept override {
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
        this->value.emplace();
      } else {
        this->value.emplace(fn());
      }
    } catch (...) {
      this->error = std::current_exception();
    }
  }
  void callback() override {
    if constexpr (!std::is_same_v<C, std::nullptr_t>) {
      if (this->error) std::rethrow_exception(this->error);
      if constexpr (std::is_void_v<T>)
        cb();
      else
        cb(std::move(*this->value));
    }
  }
  bool has_callback() const noexcept override { return !std::is_same_v<C, std::nullptr_t>; }
  F fn;
  C cb;
};

}  // namespace detail

/// The result of a job submitted to a threadpool: a one-shot future that
/// tasks wait on cooperatively. Belongs to the thread that submitted it.
template <class T>
class pool_result {
 public:
  pool_result() = default;
  /// True once the job has finished and its result reached this thread.
  bool ready() const noexcept { return st_ && st_->done; }
  bool successful() const noexcept { return ready() && !st_->error; }
  /// Waits for the job for at most `d`; returns ready(). Throws only what
  /// cancels the caller (kill, an expired `timeout` scope).
  template <class Rep = long, class Period = std::ratio<1>>
  bool wait(std::chrono::duration<Rep, Period> d = std::chrono::duration<Rep, Period>::max()) const {
    return detail::pool_wait(*st_, detail::to_duration(d));
  }
  /// Waits, then returns the job's value or rethrows its exception.
  /// The value is moved out: call get() once.
  T get() {
    detail::pool_wait(*st_, forever);
    if (st_->error) std::rethrow_exception(st_->error);
    if constexpr (!std::is_void_v<T>) return std::move(*st_->value);
  }

 private:
  friend class threadpool;
  explicit pool_result(std::shared_ptr<detail::pool_job_of<T>> s) : st_(std::move(s)) {}
  std::shared_ptr<detail::pool_job_of<T>> st_;
};

class threadpool {
 public:
  /// Starts `threads` worker threads (0: one per CPU the calling thread may
  /// run on, its affinity mask: `taskset -c 0` gives one). Workers block
  /// every signal, so signals keep going to the threads that use greenring.
  explicit threadpool(std::size_t threads = 0);
  /// Runs the jobs already queued, then joins the workers (blocking the
  /// thread, not just the task: join() first to wait cooperatively).
  ~threadpool();
  threadpool(const threadpool&) = delete;
  threadpool& operator=(const threadpool&) = delete;

  /// Queues `fn(args...)` for a worker; returns at once.
  template <class F, class... Args>
  auto submit(F&& fn, Args&&... args) {
    auto call = bind(std::forward<F>(fn), std::forward<Args>(args)...);
    using T = std::invoke_result_t<decltype(call)&>;
    auto job = std::make_shared<detail::pool_job_impl<T, decltype(call), std::nullptr_t>>(std::move(call), nullptr);
    detail::pool_submit(*impl_, job);
    return pool_result<T>(std::move(job));
  }
  /// submit(fn, args...).get(): runs fn on a worker while this task waits.
  template <class F, class... Args>
  auto apply(F&& fn, Args&&... args) {
    return submit(std::forward<F>(fn), std::forward<Args>(args)...).get();
  }
  /// Queues `fn()`; once it has returned, `callback(value)` runs as a task
  /// on this thread's hub (`callback()` for void jobs). A job that throws
  /// skips the callback; its exception is reported on stderr. join() waits
  /// for callbacks too.
  template <class F, class C>
  void apply_async(F&& fn, C&& callback) {
    using D = std::decay_t<F>;
    using T = std::invoke_result_t<D&>;
    auto job = std::make_shared<detail::pool_job_impl<T, D, std::decay_t<C>>>(D(std::forward<F>(fn)),
                                                                              std::forward<C>(callback));
    detail::pool_submit(*impl_, std::move(job));
  }
  /// Waits (cooperatively) until every job this thread submitted has
  /// finished and its callback has returned.
  void join();
  /// Number of worker threads.
  std::size_t size() const noexcept;

  /// The process-wide pool that `resolve` uses (one thread per CPU, made
  /// on first use; a forked child gets a new one).
  static threadpool& global();

 private:
  template <class F, class... Args>
  static auto bind(F&& fn, Args&&... args) {
    return [f = std::decay_t<F>(std::forward<F>(fn)),
            tup = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
      return std::apply(f, tup);
    };
  }
  std::unique_ptr<detail::threadpool_impl> impl_;
};

}  // namespace greenring
