// greenring — per-thread runtime state (internal).
//
// One per OS thread that uses greenring: the running greenlet, the thread's
// implicit main greenlet (the native stack), its stack pool and, once
// needed, its hub. Reached through an initial-exec TLS pointer so the switch
// path costs no __tls_get_addr call.
#pragma once

#include "stack.hpp"

#include <greenring/greenlet.hpp>

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

extern thread_local thread_state* tls_state __attribute__((tls_model("initial-exec")));

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
  static void jump(thread_state& ts, greenlet& from, greenlet& to) noexcept;
  /// Maps the stack of a fresh greenlet and makes its entry context.
  static void prepare(thread_state& ts, greenlet& g);
  /// What the resumed greenlet gets: throws its pending exception, if any.
  static value resume_value(greenlet& self);
  static void check_pending(greenlet& self) {
    if (__builtin_expect(static_cast<bool>(self.pending_), 0)) rethrow_pending(self);
  }
  [[noreturn]] static void rethrow_pending(greenlet& self);
  /// Switches from the running greenlet to `to`, mapping `to`'s stack first
  /// when it is fresh; a value/exception for `to` must already be stored.
  static void enter(thread_state& ts, greenlet& from, greenlet& to);
  /// Completes a switch on the resumed side (see greenlet.cpp).
  static void finish(thread_state& ts, greenlet& prev, void* fctx) noexcept;
  static greenlet* run_body(greenlet& g) noexcept;

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
