// greenring — wait_group, barrier and call_once (see <greenring/sync.hpp>).
//
// Invariants: a barrier round ends in exactly one way, released (every
// waiter `granted`) or broken (nobody granted), and `round_` changes with
// each ending, so a last arriver whose action parked can tell whether its
// round was broken or reset meanwhile. A once_flag is `running` only while
// its runner is inside the function; every exit from it wakes the waiters,
// which look at the state again.
#include <greenring/greenlet.hpp>
#include <greenring/sync.hpp>

namespace greenring {

void wait_group::add(std::ptrdiff_t n) {
  if (n < 0 && static_cast<std::size_t>(-n) > count_)
    throw std::logic_error("greenring::wait_group: the counter would go below zero (done() called more often than add())");
  count_ = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(count_) + n);
  if (count_ == 0) waiters_.wake_all();
}

bool wait_group::wait(duration timeout) {
  if (count_ == 0) return true;
  detail::wait_node n;
  waiters_.park(n, detail::deadline_in(timeout), "wait_group.wait");
  return n.woken || count_ == 0;
}

barrier::barrier(std::size_t parties, std::function<void()> action) : parties_(parties), action_(std::move(action)) {
  if (parties == 0) throw std::invalid_argument("greenring::barrier: parties must be at least 1");
}

std::size_t barrier::wait(duration timeout) {
  if (broken_) throw barrier_broken("it is broken (a wait timed out or was killed, the action threw, or abort())");
  const std::size_t index = arrived_++;
  if (arrived_ == parties_) {
    const std::size_t round = round_;
    if (action_) {
      try {
        action_();
      } catch (...) {
        if (round_ == round) break_round();
        throw;
      }
      if (round_ != round) throw barrier_broken("the round was broken or reset while its action ran");
    }
    ++round_;
    arrived_ = 0;
    while (detail::wait_node* w = waiters_.front()) {
      w->granted = true;
      detail::wait_list::wake(*w);
    }
    return index;
  }
  detail::wait_node n;
  bool woken;
  try {
    woken = waiters_.park(n, detail::deadline_in(timeout), "barrier.wait");
  } catch (...) {
    if (!n.granted && !n.woken) break_round();  // the round cannot be full without us
    throw;
  }
  if (n.granted) return index;
  if (!woken) {
    break_round();
    throw barrier_broken("a wait timed out");
  }
  throw barrier_broken("the round was broken or reset while waiting");
}

void barrier::break_round() noexcept {
  broken_ = true;
  ++round_;
  arrived_ = 0;
  waiters_.wake_all();
}

void barrier::abort() noexcept { break_round(); }

void barrier::reset() noexcept {
  break_round();
  broken_ = false;
}

bool once_flag::begin() {
  greenlet* me = &greenlet::current();
  for (;;) {
    if (state_ == state::done) return false;
    if (state_ == state::idle) {
      state_ = state::running;
      runner_ = me;
      return true;
    }
    if (runner_ == me)
      throw std::logic_error("greenring::call_once: called again on the same flag from inside its own function");
    detail::wait_node n;
    waiters_.park(n, detail::clock::time_point::max(), "call_once");
  }
}

void once_flag::finish(bool ok) noexcept {
  state_ = ok ? state::done : state::idle;
  runner_ = nullptr;
  waiters_.wake_all();
}

}  // namespace greenring
