// greenring — the switch between two greenlets of one thread (internal;
// public only because greenlet::switch_to is inlined into its callers, so
// that a switch costs no call and no mispredicted return: see
// detail/context.hpp). Included at the end of greenlet.hpp.
#pragma once

#include <greenring/detail/context.hpp>
#include <greenring/detail/sanitizer.hpp>

#include <cstdint>
#include <utility>

#ifdef GREENRING_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GREENRING_TSAN
#include <sanitizer/tsan_interface.h>
// In the TSan runtime, not in its headers:
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#endif

namespace greenring::detail {

/// libstdc++/libc++abi's per-thread exception globals (__cxa_eh_globals).
struct eh_globals {
  void* caught;
  unsigned int uncaught;
};

/// What a switch needs of the thread's runtime state (the rest of it is in
/// runtime/detail/thread_state.hpp, which derives from this).
struct thread_core {
  greenlet* current = nullptr;
  eh_globals* eh = nullptr;
};

#ifdef GREENRING_TSAN
/// Set in a forked child. ThreadSanitizer counts fibers as threads, so
/// every fork looks multi-threaded to it: it stops checking the forking
/// fiber, and we stop checking each other fiber as it resumes (its clocks
/// no longer mean anything there).
extern bool tsan_forked_child;
#endif

/// This thread's state once greenring has been used on it, else nullptr.
/// Initial-exec: reading it costs no __tls_get_addr call.
extern constinit thread_local thread_core* tls_core __attribute__((tls_model("initial-exec")));

/// The switch itself; a friend of greenlet.
struct switch_core {
  /// Suspends `from` (the running greenlet) and resumes `to`, whose stack is
  /// mapped. Returns when something switches back to `from`.
  [[gnu::always_inline]] static inline void jump(thread_core& ts, greenlet& from, greenlet& to) noexcept {
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
#ifdef GREENRING_TSAN
    // Flags 0: the switch orders everything before it before everything
    // the resumed greenlet does next, as it does.
    __tsan_switch_to_fiber(to.tsan_fiber_, 0);
#endif
    void* prev = context::swap(&from.fctx_, ctx, &from);
    finish(ts, *static_cast<greenlet*>(prev));  // same thread: a greenlet never moves
  }

  /// Completes a switch on the resumed side: releases the stack of `prev`
  /// (the greenlet that switched here) when it died. (Its context is
  /// already in its fctx_, stored by the swap.)
  [[gnu::always_inline]] static inline void finish(thread_core& ts, greenlet& prev) noexcept {
#ifdef GREENRING_ASAN
    __sanitizer_finish_switch_fiber(ts.current->asan_fake_, &prev.asan_bottom_, &prev.asan_size_);
#elif defined(GREENRING_TSAN)
    if (__builtin_expect(tsan_forked_child, 0)) {
      __tsan_ignore_thread_begin();  // first: even reading ts.current would be checked
      if (ts.current->tsan_ignored_) __tsan_ignore_thread_end();  // once per fiber is enough
      ts.current->tsan_ignored_ = true;
    }
#else
    (void)ts;
#endif
    if (__builtin_expect(prev.state_ == greenlet::state::dead, 0)) release_dead(prev);
  }

  /// Returns a dead greenlet's stack to the pool (runtime/greenlet.cpp).
  static void release_dead(greenlet& prev) noexcept;
  [[noreturn]] static void rethrow_pending(greenlet& self);

  /// Raises what was thrown into the resumed greenlet meanwhile, if anything.
  static void check_pending(greenlet& self) {
    if (__builtin_expect(static_cast<bool>(self.pending_), 0)) rethrow_pending(self);
  }
  /// What the resumed greenlet gets: throws its pending exception, if any.
  [[gnu::always_inline]] static inline value resume_value(greenlet& self) {
    check_pending(self);
    return std::move(self.inbox_);
  }
};

}  // namespace greenring::detail

namespace greenring {

[[gnu::always_inline]] inline value greenlet::switch_to(value&& v) {
#ifdef GREENRING_CONTEXT_ASM
  // Fast path, inlined: a started, live greenlet of this thread other than
  // the running one. Everything else (first entry, errors) is out of line.
  detail::thread_core* ts = detail::tls_core;
  if (__builtin_expect(ts != nullptr && home_ == ts && state_ == state::active && ts->current != this, 1)) {
    greenlet& self = *ts->current;
    inbox_ = std::move(v);
    detail::switch_core::jump(*ts, self, *this);
    return detail::switch_core::resume_value(self);
  }
#endif
  detail::require_same_sanitizer();  // off the fast path: no cost per switch
  return switch_slow(std::move(v));
}

}  // namespace greenring
