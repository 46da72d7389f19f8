// greenring — timeout scopes, sleep, and the hub's public face.
//
// A timeout's timer_node lives in the scope object; the destructor disarms
// it, so the hub never fires a timeout whose scope is gone. Firing only
// records the exception and makes the owner ready: it is raised when the
// owner resumes, at its switch point.
#include "detail/hub.hpp"

#include <greenring/hub.hpp>
#include <greenring/timeout.hpp>

#include <exception>

namespace greenring {
namespace detail {

clock::time_point deadline_after(clock::duration d) noexcept {
  const auto now = clock::now();
  return d <= clock::duration::zero() ? now : time_after(now, d);
}

void timer_arm(timer_node& t, clock::time_point when) { hub::get().arm(t, when); }

void timer_cancel(timer_node& t) noexcept {
  if (!t.armed()) return;
  if (hub* h = hub::get_if()) h->cancel(t);
}

}  // namespace detail

timeout::timeout(duration d, int) : owner_(&greenlet::current()) {
  node_.fire = &fire;
  node_.ctx = this;
  if (d == forever) return;
  detail::hub::get().arm(node_, detail::deadline_after(d));
}

void timeout::fire(detail::timer_node* n) noexcept {
  auto* self = static_cast<timeout*>(n->ctx);
  self->fired_ = true;
  greenlet& g = *self->owner_;
  if (g.dead()) return;
  if (!g.pending_) g.pending_ = std::make_exception_ptr(timeout_error{self});
  detail::hub::get().schedule(g);
}

void sleep(duration d) {
  detail::hub& h = detail::hub::get();
  if (d <= duration::zero()) {
    h.yield();
    return;
  }
  sleep_until(detail::deadline_after(d));
}

void sleep_until(std::chrono::steady_clock::time_point deadline) {
  detail::hub& h = detail::hub::get();
  if (deadline <= detail::clock::now()) {
    h.yield();
    return;
  }
  if (deadline == detail::clock::time_point::max()) {
    for (;;) h.block("sleep(forever)");
  }
  detail::wake_timer timer(h, h.current(), deadline);
  while (!timer.fired) h.block("sleep");
}

void yield() {
  // The hub and the current greenlet both straight from the thread state:
  // two independent loads rather than a chain through the hub.
  detail::thread_state& ts = detail::state();
  greenlet& cur = *ts.current;
  (ts.hub_ ? *ts.hub_ : detail::hub::get()).yield(cur);
}

runtime_stats stats() {
  runtime_stats s;
  detail::thread_state* ts = detail::tls_state();
  if (!ts) return s;
  s.stacks_in_use = ts->stacks.in_use();
  s.stacks_pooled = ts->stacks.pooled();
  if (detail::hub* h = ts->hub_) {
    // The hub greenlet's own stack is the runtime's, not the user's.
    if (s.stacks_in_use > 0) --s.stacks_in_use;
    s.live_tasks = h->live_tasks();
    s.ready = h->ready_count();
    s.timers = h->timers();
    s.io_in_flight = h->ring().in_flight();
    s.io_submitted = h->ring().submitted();
    s.io_completed = h->ring().completed();
    s.cq_overflows = h->ring().cq_overflows();
  }
  return s;
}

}  // namespace greenring
