// greenring — ticker (see <greenring/ticker.hpp>).
//
// Invariants: while running, the timer is armed at next_ (unless that is
// beyond the clock's range); each due time k * period after the start is
// either handed to exactly one taker, held as the one pending tick, or
// counted in missed_. A tick handed to a taker that is cancelled before it
// runs goes back through deliver(), to the next taker or to pending.
#include <greenring/ticker.hpp>

#include <stdexcept>

namespace greenring {

using time_point = ticker::time_point;

ticker::ticker(duration period) {
  timer_.fire = &on_due;
  timer_.ctx = this;
  reset(period);
}

ticker::~ticker() { stop(); }

void ticker::reset(duration period) {
  if (period <= duration::zero()) throw std::invalid_argument("greenring::ticker: the period must be positive");
  detail::timer_cancel(timer_);
  period_ = period;
  pending_ = false;
  missed_ = 0;
  running_ = true;
  next_ = detail::deadline_after(period);
  if (next_ != time_point::max()) detail::timer_arm(timer_, next_);
}

void ticker::stop() noexcept {
  detail::timer_cancel(timer_);
  running_ = false;
  pending_ = false;
  takers_.wake_all();  // not granted: tick() throws
  watchers_.wake_all();
}

void ticker::on_due(detail::timer_node* t) noexcept {
  auto* k = static_cast<ticker*>(t->ctx);
  const time_point due = k->next_;
  // The next due time after now: ticks the hub was too busy to fire on
  // time are skipped, not fired in a burst.
  const time_point now = detail::clock::now();
  time_point next = detail::time_after(due, k->period_);
  if (next <= now) {
    const auto behind = static_cast<std::uint64_t>((now - due) / k->period_);
    k->missed_ += behind;
    next = detail::time_after(due, k->period_ * static_cast<duration::rep>(behind + 1));
  }
  k->next_ = next;
  if (next != time_point::max()) detail::timer_arm(k->timer_, next);
  k->deliver(due);
}

void ticker::deliver(time_point due) noexcept {
  if (detail::wait_node* w = takers_.front()) {
    *static_cast<time_point*>(w->data) = due;
    w->granted = true;
    detail::wait_list::wake(*w);
    return;
  }
  if (pending_) {
    ++missed_;  // Go's channel of one is full: this tick is dropped
    return;
  }
  pending_ = true;
  pending_at_ = due;
  watchers_.wake_all();
}

std::optional<time_point> ticker::tick(duration timeout) {
  if (pending_) {
    pending_ = false;
    return pending_at_;
  }
  if (!running_) throw std::logic_error("greenring::ticker: tick() on a stopped ticker");
  detail::wait_node n;
  time_point at{};
  n.data = &at;
  bool woken;
  try {
    woken = takers_.park(n, detail::deadline_in(timeout), "ticker.tick");
  } catch (...) {
    if (n.granted && running_) deliver(at);  // handed a tick, cancelled before taking it
    throw;
  }
  if (n.granted) return at;
  // Woken without a tick: only stop() does that.
  if (woken) throw std::logic_error("greenring::ticker: stopped while tick() waited");
  return std::nullopt;  // timed out
}

time_point ticker::tick() {
  // Without a deadline the wait ends only with a tick or a stop (which throws).
  return *tick(forever);
}

}  // namespace greenring
