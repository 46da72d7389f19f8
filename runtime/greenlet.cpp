// greenring — the switch primitive.
//
// Protocol: a suspended greenlet's context lives in its `fctx_`. To switch,
// the running greenlet (a) saves its C++ exception globals and installs the
// target's, (b) marks the target current, (c) tells ASan which stack it is
// going to, and (d) swaps (detail/context.hpp), saving its own context into
// its `fctx_` and passing itself along. Whoever resumes then finishes the
// handshake (`switch_access::finish`): if the greenlet it came from is dead,
// it returns that stack to the pool. A dead greenlet's stack is therefore
// only released once nothing runs on it.
#include "detail/assert.hpp"
#include "detail/hub.hpp"
#include "detail/thread_state.hpp"

#include <greenring/greenlet.hpp>
#include <greenring/local.hpp>

#include <cxxabi.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>


namespace greenring {
namespace detail {

// The half of require_same_sanitizer (detail/sanitizer.hpp) that this
// build of the library provides.
#ifdef GREENRING_ASAN
extern const char this_program_uses_asan_so_libgreenring_must_be_built_with_asan = 1;
#elif defined(GREENRING_TSAN)
extern const char this_program_uses_tsan_so_libgreenring_must_be_built_with_tsan = 1;
bool tsan_forked_child = false;
namespace {
const int tsan_fork_registered = ::pthread_atfork(nullptr, nullptr, [] { tsan_forked_child = true; });
}
#else
extern const char this_program_does_not_use_asan_so_libgreenring_must_not_either = 1;
#endif


constinit thread_local thread_core* tls_core __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {
std::atomic<std::uint64_t> g_next_id{1};
thread_local bool t_state_gone __attribute__((tls_model("initial-exec"))) = false;
// Ids are unique per process; threads take them 1024 at a time so that
// creating a greenlet costs no atomic read-modify-write.
thread_local std::uint64_t t_id_next __attribute__((tls_model("initial-exec"))) = 0;
thread_local std::uint64_t t_id_end __attribute__((tls_model("initial-exec"))) = 0;

std::uint64_t next_id() noexcept {
  if (__builtin_expect(t_id_next == t_id_end, 0)) {
    t_id_next = g_next_id.fetch_add(1024, std::memory_order_relaxed);
    t_id_end = t_id_next + 1024;
  }
  return t_id_next++;
}

}  // namespace

void fatal(const char* file, int line, const char* message) noexcept {
  std::fprintf(stderr, "greenring: %s:%d: %s\n", file, line, message);
  std::fflush(stderr);
  std::abort();
}

root_greenlet::root_greenlet() : greenlet(kind::root, nullptr, 0) {}

thread_state::thread_state() {
  eh = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
  current = &root;
  root.home_ = this;
#ifdef GREENRING_TSAN
  root.tsan_fiber_ = __tsan_get_current_fiber();  // the thread's own
#endif
}

thread_state::~thread_state() {
  if (hub_) {
    if (current == &root) {
      hub_->kill_all();
      hub_->release_abandoned();
      delete hub_;
      hub_ = nullptr;
    } else {
      std::fputs("greenring: a thread exited from inside a greenlet; its live tasks are not unwound\n", stderr);
    }
  }
  remove_overflow_altstack(*this);
  tls_core = nullptr;
  t_state_gone = true;
}

thread_state* init_thread_state() {
  GREENRING_ASSERT(!t_state_gone, "greenring used on a thread after its runtime was torn down");
  static thread_local thread_state instance;
  tls_core = &instance;
  install_overflow_handler(instance);
  return &instance;
}

namespace {

// Where every greenlet's stack starts; `prev` is the greenlet that switched
// here first.
[[noreturn]] void entry(void* prev) noexcept {
  thread_state& ts = *tls_state();
  switch_access::finish(ts, *static_cast<greenlet*>(prev));
  greenlet* self = ts.current;
  for (;;) {
    greenlet* next = switch_access::run_body(*self);
    if (!next) {
      // A task died. When the next ready task has not started and wants a
      // stack of this size, it runs right here on this one: no stack
      // handover, no new context, no switch.
      hub& h = *ts.hub_;
      if (greenlet* fresh = h.take_fresh_for(*self)) {
        switch_access::adopt_stack(ts, *self, *fresh);
        self = fresh;
        continue;
      }
      next = h.pick_next();
    }
    switch_access::jump(ts, *self, *next);
    fatal(__FILE__, __LINE__, "a dead greenlet was resumed");
  }
}

}  // namespace

void switch_core::release_dead(greenlet& prev) noexcept {
#ifdef GREENRING_TSAN
  if (prev.tsan_fiber_) __tsan_destroy_fiber(std::exchange(prev.tsan_fiber_, nullptr));
#endif
  if (prev.stack_lo_) {
    tls_state()->stacks.release(prev.stack_lo_, prev.stack_size_);
    prev.stack_lo_ = nullptr;
  }
  prev.after_death();  // may free prev
}

greenlet* switch_access::run_body(greenlet& g) noexcept { return g.body(); }

void switch_access::adopt_stack(thread_state& ts, greenlet& dead, greenlet& fresh) noexcept {
  fresh.stack_lo_ = dead.stack_lo_;
  fresh.asan_bottom_ = dead.asan_bottom_;
  fresh.asan_size_ = dead.asan_size_;
  fresh.tsan_fiber_ = std::exchange(dead.tsan_fiber_, nullptr);  // TSan's view of the stack goes with it
  fresh.tsan_ignored_ = dead.tsan_ignored_;
  dead.stack_lo_ = nullptr;
  fresh.state_ = greenlet::state::active;
  // The C++ exception globals stay as they are: the dead body returned
  // normally, so there is no caught or in-flight exception, as for a fresh
  // greenlet.
  ts.current = &fresh;
  dead.after_death();  // may free the dead task's record; its stack is fresh's now
}

void switch_access::prepare(thread_state& ts, greenlet& g) {
  g.stack_lo_ = ts.stacks.acquire(g.stack_size_);
  g.fctx_ = context::make<&entry>(g.stack_lo_ + g.stack_size_, g.stack_size_);
  g.asan_bottom_ = g.stack_lo_;
  g.asan_size_ = g.stack_size_;
#ifdef GREENRING_TSAN
  g.tsan_fiber_ = __tsan_create_fiber(0);
#endif
  g.state_ = greenlet::state::active;
}

void switch_core::rethrow_pending(greenlet& self) {
  std::exception_ptr e = std::move(self.pending_);
  self.pending_ = nullptr;
  self.kill_delivered_ = false;  // delivered: a later kill raises again
  std::rethrow_exception(std::move(e));
}

}  // namespace detail

using detail::switch_access;

greenlet::greenlet(kind k, greenlet* parent, std::size_t stack_size)
    : stack_size_(k == kind::root ? 0 : detail::round_stack_size(stack_size)),
      kind_(k),
      id_(k == kind::root ? 0 : detail::next_id()) {
  if (k == kind::root) {
    state_ = state::active;
    return;
  }
  detail::thread_state& ts = detail::state();
  home_ = &ts;
  parent_ = parent ? parent : ts.current;
}

greenlet::~greenlet() {
  if (extras_ && !extras_->locals.empty() && (kind_ == kind::root || state_ != state::active))
    detail::local_access::destroy_all(*this);
  if (kind_ == kind::root || state_ != state::active) return;
  detail::thread_state* ts = detail::tls_state();
  GREENRING_ASSERT(ts == home_, "a suspended greenlet was destroyed on another thread");
  GREENRING_ASSERT(ts->current != this, "a greenlet cannot destroy itself while it runs");
  parent_ = ts->current;
  try {
    throw_into(greenlet_exit{});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "greenring: greenlet %llu \"%s\" raised while being destroyed: %s\n",
                 static_cast<unsigned long long>(id_), name().c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "greenring: greenlet %llu \"%s\" raised a non-std exception while being destroyed\n",
                 static_cast<unsigned long long>(id_), name().c_str());
  }
  GREENRING_ASSERT(state_ == state::dead,
                   "a greenlet swallowed greenlet_exit and switched away while being destroyed");
}

greenlet& greenlet::current() { return *detail::state().current; }

value greenlet::run(value arg) { return fn_ ? (*fn_)(std::move(arg)) : value{}; }

const std::string& greenlet::no_name() noexcept {
  static const std::string empty;
  return empty;
}

greenlet* greenlet::result_target() const noexcept {
  greenlet* g = parent_;
  while (g->dead() || !g->started()) g = g->parent_;  // the thread's main greenlet always qualifies
  return g;
}

greenlet* greenlet::body() noexcept {
  greenlet* target;
  {
    std::exception_ptr err = std::move(pending_);
    pending_ = nullptr;
    value result;
    if (!err) {
      try {
        result = run(std::move(inbox_));
      } catch (const greenlet_exit&) {
        // exiting on request is a normal death: the parent gets an empty value
      } catch (...) {
        err = std::current_exception();
      }
    }
    fn_.reset();
    state_ = state::dead;
    target = result_target();
    if (err)
      target->pending_ = std::move(err);
    else
      target->inbox_ = std::move(result);
  }
  return target;
}

value greenlet::switch_slow(value&& v) {
  detail::thread_state& ts = detail::state();
  if (home_ != &ts)
    throw std::logic_error("greenring: switch_to: greenlet " + std::to_string(id_) +
                           " belongs to another thread");
  if (dead()) throw std::logic_error("greenring: switch_to: greenlet " + std::to_string(id_) + " is dead");
  greenlet& self = *ts.current;
  if (this == &self) return v;
  inbox_ = std::move(v);
  try {
    switch_access::enter(ts, self, *this);
  } catch (...) {
    inbox_.reset();  // the stack could not be mapped; nothing switched
    throw;
  }
  return switch_access::resume_value(self);
}

value greenlet::throw_into(std::exception_ptr e) {
  detail::thread_state& ts = detail::state();
  if (home_ != &ts)
    throw std::logic_error("greenring: throw_into: greenlet " + std::to_string(id_) +
                           " belongs to another thread");
  if (dead()) throw std::logic_error("greenring: throw_into: greenlet " + std::to_string(id_) + " is dead");
  if (!e) e = std::make_exception_ptr(greenlet_exit{});
  greenlet& self = *ts.current;
  if (this == &self) std::rethrow_exception(e);
  if (state_ == state::fresh) {
    // Dies without running; the exception goes where its result would.
    state_ = state::dead;
    fn_.reset();
    greenlet* target = result_target();
    bool is_exit = false;
    try {
      std::rethrow_exception(e);
    } catch (const greenlet_exit&) {
      is_exit = true;
    } catch (...) {
    }
    if (is_exit)
      target->inbox_.reset();
    else
      target->pending_ = e;
    if (target != &self) switch_access::jump(ts, self, *target);
    return switch_access::resume_value(self);
  }
  pending_ = std::move(e);
  switch_access::jump(ts, self, *this);
  return switch_access::resume_value(self);
}

void greenlet::set_parent(greenlet& p) {
  if (p.home_ != home_)
    throw std::logic_error("greenring: set_parent: the new parent belongs to another thread");
  for (greenlet* g = &p; g; g = g->parent_)
    if (g == this) throw std::invalid_argument("greenring: set_parent: cyclic parent chain");
  parent_ = &p;
}

}  // namespace greenring
