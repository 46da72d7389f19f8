// greenring — greenlet: the switch primitive (Python greenlet semantics).
//
// A greenlet runs a callable on its own stack. `g.switch_to(v)` suspends the
// current greenlet and resumes `g`; `v` arrives as the value of g's pending
// `switch_to` (or as the callable's argument on g's first entry). When the
// callable returns, its result is switched to the parent; an exception that
// escapes it is raised in the parent's pending `switch_to`. Nothing here
// knows about scheduling: tasks, the hub and timeouts are built on top.
//
// A greenlet belongs to the thread that created it; switching to it from any
// other thread throws std::logic_error.
#pragma once

#include <greenring/detail/sanitizer.hpp>
#include <greenring/errors.hpp>
#include <greenring/value.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace greenring {

class timeout;
namespace detail {
struct thread_state;
struct thread_core;
struct switch_access;
struct switch_core;
struct local_access;
class hub;
class task_base;

/// One task-local value (see local.hpp).
struct local_slot {
  std::uint64_t key;
  void* value;
  void (*destroy)(void*) noexcept;
};
/// What only some greenlets have: a name, task-local values.
struct greenlet_extras {
  std::string name;
  std::vector<local_slot> locals;
};
}  // namespace detail

class greenlet {
 public:
  /// Default usable stack of a greenlet or task. Stacks are reserved with
  /// MAP_NORESERVE, so only the pages a greenlet touches cost memory.
  static constexpr std::size_t default_stack_size = 256 * 1024;
  /// Smaller requests are raised to this.
  static constexpr std::size_t min_stack_size = 16 * 1024;

  /// A greenlet that will run `fn` on first switch. `fn` may take a `value`
  /// (the first switch's argument) or nothing, and may return void, a
  /// `value`, or anything a `value` can hold. Its parent is the greenlet that
  /// creates it. The stack is mapped on first switch.
  template <class F>
    requires(std::is_invocable_v<std::decay_t<F>&, value> || std::is_invocable_v<std::decay_t<F>&>)
  explicit greenlet(F&& fn, std::size_t stack_size = default_stack_size)
      : greenlet(kind::plain, nullptr, stack_size) {
    detail::require_same_sanitizer();
    fn_ = std::make_unique<std::function<value(value)>>(wrap(std::forward<F>(fn)));
  }

  /// As above, with an explicit parent.
  template <class F>
    requires(std::is_invocable_v<std::decay_t<F>&, value> || std::is_invocable_v<std::decay_t<F>&>)
  greenlet(F&& fn, greenlet& parent, std::size_t stack_size = default_stack_size)
      : greenlet(kind::plain, &parent, stack_size) {
    detail::require_same_sanitizer();
    fn_ = std::make_unique<std::function<value(value)>>(wrap(std::forward<F>(fn)));
  }

  /// Destroying a suspended greenlet raises `greenlet_exit` inside it and
  /// runs it until it dies, so the destructors on its stack run. Must happen
  /// on the greenlet's own thread.
  virtual ~greenlet();

  greenlet(const greenlet&) = delete;
  greenlet& operator=(const greenlet&) = delete;

  /// Suspends the current greenlet and runs this one, handing it `v`.
  /// Returns the value the current greenlet is later switched back with, or
  /// throws what was thrown into it (`throw_into`, a dying child's exception,
  /// a kill or an expired timeout). Throws std::logic_error when this
  /// greenlet is dead or belongs to another thread; std::system_error when
  /// its stack cannot be mapped.
  value switch_to(value&& v);  // inline: detail/switch.hpp
  value switch_to() { return switch_to(value{}); }

  /// Like `switch_to`, but raises `e` in this greenlet at its suspension
  /// point. A greenlet that has not started dies without running its body
  /// and `e` goes to its parent (`greenlet_exit` arrives there as an empty
  /// value).
  value throw_into(std::exception_ptr e);
  template <class E>
    requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>)
  value throw_into(E&& e) {
    return throw_into(std::make_exception_ptr(std::forward<E>(e)));
  }

  /// The greenlet running on this thread (the thread's implicit main
  /// greenlet when no other is).
  static greenlet& current();

  /// Where this greenlet's result goes when it dies; nullptr for a thread's
  /// main greenlet.
  greenlet* parent() const noexcept { return parent_; }
  /// Throws std::invalid_argument when `p` would make a cycle, and
  /// std::logic_error when `p` belongs to another thread.
  void set_parent(greenlet& p);

  bool dead() const noexcept { return state_ == state::dead; }
  bool started() const noexcept { return state_ != state::fresh; }
  std::uint64_t id() const noexcept { return id_; }
  const std::string& name() const noexcept { return extras_ ? extras_->name : no_name(); }
  void set_name(std::string n) {
    if (!extras_) {
      if (n.empty()) return;
      extras_ = std::make_unique<detail::greenlet_extras>();
    }
    extras_->name = std::move(n);
  }
  /// Usable stack bytes (the request, page-rounded, at least min_stack_size).
  std::size_t stack_size() const noexcept { return stack_size_; }

 protected:
  enum class kind : unsigned char { root, hub, plain, task };
  enum class state : unsigned char { fresh, active, dead };

  greenlet(kind k, greenlet* parent, std::size_t stack_size);

  /// The body of a plain greenlet; tasks and the hub override `body`.
  virtual value run(value arg);

  /// Runs on the greenlet's own stack when it is first entered, and returns
  /// where to switch once it is dead. No object with a destructor may be
  /// alive on the stack when it returns: the stack is never unwound after.
  virtual greenlet* body() noexcept;

  /// Called on the greenlet that resumes after this one died, once the dead
  /// stack is no longer in use (tasks drop their last internal reference).
  virtual void after_death() noexcept {}

 private:
  friend struct detail::switch_access;
  friend struct detail::switch_core;
  friend struct detail::thread_state;
  friend class detail::hub;
  friend class detail::task_base;
  friend class greenring::timeout;

  /// Where this greenlet's result goes when it dies: the nearest ancestor
  /// that has started and is not dead.
  greenlet* result_target() const noexcept;

  /// switch_to's checks and first entry: everything but the common case.
  value switch_slow(value&& v);

  template <class F>
  static std::function<value(value)> wrap(F&& fn) {
    using D = std::decay_t<F>;
    return [f = D(std::forward<F>(fn))](value arg) mutable -> value {
      if constexpr (std::is_invocable_v<D&, value>) {
        if constexpr (std::is_void_v<std::invoke_result_t<D&, value>>) {
          f(std::move(arg));
          return {};
        } else {
          return value(f(std::move(arg)));
        }
      } else {
        if constexpr (std::is_void_v<std::invoke_result_t<D&>>) {
          f();
          return {};
        } else {
          return value(f());
        }
      }
    };
  }

  // Switching state (see runtime/greenlet.cpp for who touches what, when).
  void* fctx_ = nullptr;         // saved context while suspended
  char* stack_lo_ = nullptr;     // lowest usable stack byte; the guard lies below
  std::size_t stack_size_ = 0;   // usable bytes
  greenlet* parent_ = nullptr;
  detail::thread_core* home_ = nullptr;
  greenlet* rq_prev_ = nullptr;  // hub ready queue
  greenlet* rq_next_ = nullptr;
  value inbox_;                  // value of the next resumption
  std::exception_ptr pending_;   // raised at the next resumption
  void* eh_caught_ = nullptr;    // this greenlet's C++ exception globals
  unsigned eh_uncaught_ = 0;
  kind kind_;
  state state_ = state::fresh;
  bool scheduled_ = false;       // in its hub's ready queue
  bool kill_delivered_ = false;
  const char* waiting_on_ = nullptr;  // what it is blocked on, for diagnostics
  const void* resume_hint_ = nullptr;  // what it touches first when resumed (the hub prefetches it)
  void* asan_fake_ = nullptr;
  const void* asan_bottom_ = nullptr;
  std::size_t asan_size_ = 0;
  void* tsan_fiber_ = nullptr;   // ThreadSanitizer's fiber for this stack (TSan builds)
  bool tsan_ignored_ = false;    // ...no longer checked: resumed in a forked child
  std::uint64_t id_;
  // Out of line, so that tasks (which have neither, mostly) stay small.
  std::unique_ptr<detail::greenlet_extras> extras_;  // name, task-local values
  friend struct detail::local_access;
  std::unique_ptr<std::function<value(value)>> fn_;

  static const std::string& no_name() noexcept;
};

}  // namespace greenring

#include <greenring/detail/switch.hpp>
