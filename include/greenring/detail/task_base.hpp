// greenring — the task record behind a task handle (internal).
//
// A record is reference-counted (non-atomically: tasks never leave their
// thread). The hub holds one reference from spawn until the task is dead and
// its stack released; every handle holds one more. The callable lives in the
// record and is destroyed as soon as it has run; the stack is mapped when the
// task first runs and returned to the pool as soon as it dies, so a finished
// task costs only its record.
#pragma once

#include <greenring/detail/intrusive_list.hpp>
#include <greenring/detail/timer.hpp>
#include <greenring/greenlet.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace greenring::detail {

class task_base;
class hub;

/// Something waiting for a task to finish; lives on the waiter's stack.
struct waiter_node {
  waiter_node* prev = nullptr;
  waiter_node* next = nullptr;
  task_base* target = nullptr;  // non-null while linked
  void (*notify)(waiter_node*) noexcept = nullptr;
  void* ctx = nullptr;
};

/// Fixed-size block allocator for task records: per-thread free lists, so
/// spawning does not reach malloc in the steady state.
void* task_alloc(std::size_t size);
void task_free(void* p, std::size_t size) noexcept;

class task_base : public greenlet {
 public:
  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) destroy();
  }

  bool done() const noexcept { return done_; }
  hub* owner_hub() const noexcept;
  bool killed() const noexcept { return killed_; }
  bool began() const noexcept { return began_; }
  bool failed() const noexcept { return static_cast<bool>(error_); }
  std::exception_ptr error() noexcept {
    collected_ = true;
    return error_;
  }
  void mark_collected() noexcept { collected_ = true; }
  /// Rethrows the stored exception (task_killed for a killed task).
  void rethrow_if_failed();

  /// Blocks the current greenlet until done or `deadline`; true when done.
  bool join(clock::time_point deadline);
  /// Raises `e` in the task (or finishes it unstarted); does not wait.
  void kill_async(std::exception_ptr e);
  void link(std::function<void(task_base&)> fn);

  void add_waiter(waiter_node& w) noexcept;
  static void remove_waiter(waiter_node& w) noexcept;

  /// Waiter nodes for several tasks at once (joinall, shutdown); each
  /// unlinks itself when the set goes out of scope.
  struct waiter_set {
    explicit waiter_set(std::size_t n) : nodes(n) {}
    ~waiter_set() {
      for (auto& w : nodes) remove_waiter(w);
    }
    waiter_set(const waiter_set&) = delete;
    waiter_set& operator=(const waiter_set&) = delete;
    std::vector<waiter_node> nodes;
  };

  /// Starts the task: now, or at `start_at` (spawn_later).
  void start(std::optional<clock::time_point> start_at);

 protected:
  task_base(std::size_t stack_size, std::string&& name);
  ~task_base() override;

  virtual void invoke() = 0;                  // runs the callable, stores the result
  virtual void drop_callable() noexcept = 0;  // destroys the callable
  virtual void destroy() noexcept = 0;        // deletes this record

 private:
  friend class hub;
  greenlet* body() noexcept final;
  void after_death() noexcept final;
  void complete(std::exception_ptr err) noexcept;
  /// Drops the callable, completes, and leaves the hub's queues: the end of
  /// every task, started or not.
  void finish(std::exception_ptr err) noexcept;
  void finish_unstarted(std::exception_ptr err) noexcept;
  std::exception_ptr killed_error() const;
  static void start_timer_fired(timer_node* t) noexcept;

  std::uint32_t refs_ = 1;
  bool done_ = false;
  bool killed_ = false;
  bool began_ = false;
  bool collected_ = false;
  // Hub shutdown: killed by it, how often it swallowed greenlet_exit, and
  // whether it was given up on.
  bool exit_requested_ = false;
  bool abandoned_ = false;
  std::uint16_t swallowed_ = 0;
  std::exception_ptr error_;
  intrusive_list<waiter_node, &waiter_node::prev, &waiter_node::next> waiters_;
  std::unique_ptr<std::vector<std::function<void(task_base&)>>> links_;  // on first link()
  std::unique_ptr<timer_node> start_timer_;                              // spawn_later only
  task_base* live_prev_ = nullptr;
  task_base* live_next_ = nullptr;
};

template <class T>
class task_state : public task_base {
 public:
  T& result() noexcept { return *result_; }

 protected:
  using task_base::task_base;
  template <class F>
  void store(F& fn) {
    result_.emplace(fn());
  }
  std::optional<T> result_;
};

template <>
class task_state<void> : public task_base {
 public:
  void result() noexcept {}

 protected:
  using task_base::task_base;
  template <class F>
  void store(F& fn) {
    fn();
  }
};

template <class T, class F>
class task_impl final : public task_state<T> {
 public:
  static task_impl* create(std::size_t stack_size, std::string&& name, F&& fn) {
    void* mem = task_alloc(sizeof(task_impl));
    try {
      return ::new (mem) task_impl(stack_size, std::move(name), std::move(fn));
    } catch (...) {
      task_free(mem, sizeof(task_impl));
      throw;
    }
  }

 private:
  task_impl(std::size_t stack_size, std::string&& name, F&& fn)
      : task_state<T>(stack_size, std::move(name)) {
    fn_.emplace(std::move(fn));
  }
  void invoke() override {
    struct drop {
      std::optional<F>& f;
      ~drop() { f.reset(); }
    } guard{fn_};
    this->store(*fn_);
  }
  void drop_callable() noexcept override { fn_.reset(); }
  void destroy() noexcept override {
    this->~task_impl();
    task_free(this, sizeof(task_impl));
  }
  std::optional<F> fn_;
};

}  // namespace greenring::detail
