// greenring — per-thread runtime state (internal).
//
// One per OS thread that uses greenring: the running greenlet, the thread's
// implicit main greenlet (the native stack), its stack pool and, once
// needed, its hub. Reached through an initial-exec TLS pointer so the switch
// path costs no __tls_get_addr call.
#pragma once

#include "assert.hpp"
#include "stack.hpp"

#include <greenring/greenlet.hpp>

namespace greenring::detail {

class hub;

class root_greenlet final : public greenlet {
 public:
  root_greenlet();
};

/// `current` and `eh` (the C++ exception globals) are in thread_core, the
/// part the inlined switch sees.
struct thread_state : thread_core {
  thread_state();
  ~thread_state();
  stack_pool stacks;  // destroyed last: the hub returns stacks to it
  root_greenlet root;
  hub* hub_ = nullptr;
  void* altstack = nullptr;  // this thread's sigaltstack, when we installed one
};

/// This thread's state, or nullptr before first use: the same pointer as
/// tls_core (detail/switch.hpp), seen whole.
inline thread_state* tls_state() noexcept { return static_cast<thread_state*>(tls_core); }

thread_state* init_thread_state();

inline thread_state& state() {
  thread_state* s = tls_state();
  if (__builtin_expect(s == nullptr, 0)) s = init_thread_state();
  return *s;
}

/// Switching internals; a friend of greenlet.
struct switch_access {
  /// Suspends `from` (the running greenlet) and resumes `to`, whose stack is
  /// mapped. Returns when something switches back to `from`.
  ///
  /// Always inlined into the public entry points (switch_to, yield, ...),
  /// so that the call chain from user code to the switch is short and the
  /// same for every greenlet that blocks the same way: see context.hpp.
  [[gnu::always_inline]] static inline void jump(thread_state& ts, greenlet& from, greenlet& to) noexcept {
    switch_core::jump(ts, from, to);
  }

  /// Maps the stack of a fresh greenlet and makes its entry context.
  static void prepare(thread_state& ts, greenlet& g);
  /// What the resumed greenlet gets: throws its pending exception, if any.
  [[gnu::always_inline]] static inline value resume_value(greenlet& self) {
    return switch_core::resume_value(self);
  }
  static void check_pending(greenlet& self) { switch_core::check_pending(self); }

  /// Switches from the running greenlet to `to`, mapping `to`'s stack first
  /// when it is fresh; a value/exception for `to` must already be stored.
  [[gnu::always_inline]] static inline void enter(thread_state& ts, greenlet& from, greenlet& to) {
    if (__builtin_expect(to.state_ == greenlet::state::fresh, 0)) prepare(ts, to);
    jump(ts, from, to);
  }
  [[gnu::always_inline]] static inline void finish(thread_state& ts, greenlet& prev) noexcept {
    switch_core::finish(ts, prev);
  }

  /// Returns where to go once `g` is dead; nullptr for a task, whose
  /// successor the hub picks (see entry()).
  static greenlet* run_body(greenlet& g) noexcept;
  /// Moves dead `dead`'s stack to `fresh`, which then runs on it in place.
  static void adopt_stack(thread_state& ts, greenlet& dead, greenlet& fresh) noexcept;
  static bool fresh_with_stack_of(const greenlet& g, const greenlet& dead) noexcept {
    return g.state_ == greenlet::state::fresh && g.stack_size_ == dead.stack_size_ && dead.stack_lo_ != nullptr;
  }

  static const char* stack_lo(const greenlet& g) noexcept { return g.stack_lo_; }
  static const char* kind_name(const greenlet& g) noexcept {
    switch (g.kind_) {
      case greenlet::kind::task: return "task";
      case greenlet::kind::hub: return "hub";
      case greenlet::kind::root: return "main greenlet";
      default: return "greenlet";
    }
  }
};

}  // namespace greenring::detail
