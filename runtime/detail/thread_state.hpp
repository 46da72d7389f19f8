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

#include "context.hpp"

#include <cstdint>

#ifdef GREENRING_ASAN
#include <sanitizer/common_interface_defs.h>
#endif


namespace greenring::detail {

class hub;

/// libstdc++/libc++abi's per-thread exception globals (__cxa_eh_globals).
struct eh_globals {
  void* caught;
  unsigned int uncaught;
};

class root_greenlet final : public greenlet {
 public:
  root_greenlet();
};

struct thread_state {
  thread_state();
  ~thread_state();

  greenlet* current = nullptr;
  eh_globals* eh = nullptr;
  stack_pool stacks;  // destroyed last: the hub returns stacks to it
  root_greenlet root;
  hub* hub_ = nullptr;
  void* altstack = nullptr;  // this thread's sigaltstack, when we installed one
};

// constinit: no dynamic initialisation, so no TLS wrapper call on each access.
extern constinit thread_local thread_state* tls_state __attribute__((tls_model("initial-exec")));

thread_state* init_thread_state();

inline thread_state& state() {
  thread_state* s = tls_state;
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
    // C++ exception globals. Invariant: the running greenlet's saved copy
    // is empty, a suspended one's holds its state. Nearly every switch is
    // between greenlets that are in no catch block: nothing to move.
    eh_globals* g = ts.eh;
    if (__builtin_expect((reinterpret_cast<std::uintptr_t>(g->caught) | g->uncaught |
                          reinterpret_cast<std::uintptr_t>(to.eh_caught_) | to.eh_uncaught_) != 0,
                         0)) {
      from.eh_caught_ = g->caught;
      from.eh_uncaught_ = g->uncaught;
      g->caught = to.eh_caught_;
      g->uncaught = to.eh_uncaught_;
      to.eh_caught_ = nullptr;
      to.eh_uncaught_ = 0;
    }
    ts.current = &to;
    context::handle ctx = to.fctx_;
    to.fctx_ = nullptr;
#ifdef GREENRING_ASAN
    __sanitizer_start_switch_fiber(from.state_ == greenlet::state::dead ? nullptr : &from.asan_fake_,
                                   to.asan_bottom_, to.asan_size_);
#endif
    void* prev = context::swap(&from.fctx_, ctx, &from);
    finish(ts, *static_cast<greenlet*>(prev));  // same thread: a greenlet never moves
  }
  /// Maps the stack of a fresh greenlet and makes its entry context.
  static void prepare(thread_state& ts, greenlet& g);
  /// What the resumed greenlet gets: throws its pending exception, if any.
  [[gnu::always_inline]] static inline value resume_value(greenlet& self) {
    check_pending(self);
    return std::move(self.inbox_);
  }
  static void check_pending(greenlet& self) {
    if (__builtin_expect(static_cast<bool>(self.pending_), 0)) rethrow_pending(self);
  }
  [[noreturn]] static void rethrow_pending(greenlet& self);
  /// Switches from the running greenlet to `to`, mapping `to`'s stack first
  /// when it is fresh; a value/exception for `to` must already be stored.
  [[gnu::always_inline]] static inline void enter(thread_state& ts, greenlet& from, greenlet& to) {
    if (__builtin_expect(to.state_ == greenlet::state::fresh, 0)) prepare(ts, to);
    jump(ts, from, to);
  }
  /// Completes a switch on the resumed side: releases the stack of `prev`
  /// (the greenlet that switched here) when it died. (Its context is
  /// already in its fctx_, stored by the swap.)
  [[gnu::always_inline]] static inline void finish(thread_state& ts, greenlet& prev) noexcept {
#ifdef GREENRING_ASAN
    __sanitizer_finish_switch_fiber(ts.current->asan_fake_, &prev.asan_bottom_, &prev.asan_size_);
#endif
    if (__builtin_expect(prev.state_ == greenlet::state::dead, 0)) release_dead(ts, prev);
  }
  static void release_dead(thread_state& ts, greenlet& prev) noexcept;
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
