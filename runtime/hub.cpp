// greenring — the hub: ready queue, timers, the io_uring wait.
//
// Invariants: a greenlet is in the ready queue at most once (`scheduled_`);
// timer callbacks and completion callbacks only make greenlets ready, they
// never switch; the hub greenlet never blocks except in the ring wait; a
// greenlet's frame that registered a timer or waiter removes it on every way
// out (RAII), so the hub never points into a dead frame.
#include "detail/hub.hpp"

#include "detail/assert.hpp"

#include <greenring/hub.hpp>
#include <greenring/task.hpp>

#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <exception>
#include <string>
#include <vector>

namespace greenring::detail {

unsigned ring_entries = 256;

hub_greenlet::hub_greenlet(hub& h) : greenlet(kind::hub, nullptr, 256 * 1024), hub_(h) {
  set_name("hub");
}

greenlet* hub_greenlet::body() noexcept { return hub_.run_loop(); }

greenlet* hub::run_loop() noexcept {
  loop();
  self_.state_ = greenlet::state::dead;
  return &ts_.root;
}

hub::hub(thread_state& ts) : ts_(ts), ring_(ring_entries), self_(*this) {
  self_.parent_ = &ts.root;
  switch_access::prepare(ts, self_);
  // Made now, not on first use: its eventfd is part of the hub, like the ring.
  remote_queue();
  monitor_from_environment(*this);
}

hub::~hub() {
  set_monitor(nullptr);
  hub_release_remote(*this, remote_);
  // Let the hub greenlet's loop return so its stack goes back to the pool.
  stopping_ = true;
  greenlet& cur = *ts_.current;
  if (self_.state_ == greenlet::state::active && &cur != &self_) switch_access::jump(ts_, cur, self_);
}

namespace {

// Runs in the child, on the thread that called fork(): the only thread there.
void on_fork_child() noexcept {
  forget_global_pool_after_fork();  // first: it starts the child's fork generation
  if (thread_state* ts = tls_state(); ts && ts->hub_) ts->hub_->after_fork();
}

}  // namespace

void hub::after_fork() noexcept {
  forked_ = true;
  // The monitor's watcher thread is the parent's: neither join nor destroy
  // it. A few hundred bytes leak per fork of a monitored hub.
  monitor_ = nullptr;
  try {
    ring_.reset_after_fork();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "greenring: cannot make a new io_uring in the forked child: %s\n", e.what());
    std::abort();
  }
  forked_ = false;
  try {
    if (remote_) hub_renew_remote_after_fork(*remote_);
    remote_queue();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "greenring: in the forked child: %s\n", e.what());
    std::abort();
  }
}

hub& hub::create(thread_state& ts) {
  static const int registered = pthread_atfork(nullptr, nullptr, &on_fork_child);
  (void)registered;
  auto* h = new hub(ts);
  ts.hub_ = h;
  return *h;
}

void hub::unschedule(greenlet& g) noexcept {
  if (!g.scheduled_) return;
  g.scheduled_ = false;
  ready_.erase(g);
}

greenlet* hub::start_fresh(greenlet* g) noexcept {
  for (;;) {
    try {
      switch_access::prepare(ts_, *g);
      return g;
    } catch (...) {
      // No stack for it (vm.max_map_count, memory): the task fails with
      // that error; everything else keeps running.
      static_cast<task_base*>(g)->finish_unstarted(std::current_exception());
    }
    g = pick_next();
    if (g->state_ != greenlet::state::fresh) return g;
  }
}

void hub::block(const char* what) {
  greenlet& cur = *ts_.current;
  GREENRING_ASSERT(&cur != &self_, "a blocking call was made on the hub greenlet");
  if (__builtin_expect(shutting_down_, 0)) refuse_swallowed_kill(cur);
  cur.waiting_on_ = what;
  greenlet* next = pick_next();
  if (next != &cur) switch_access::jump(ts_, cur, *next);
  cur.waiting_on_ = nullptr;
  switch_access::check_pending(cur);
}

void hub::block_uninterruptible(const char* what) noexcept {
  greenlet& cur = *ts_.current;
  GREENRING_ASSERT(&cur != &self_, "a blocking call was made on the hub greenlet");
  cur.waiting_on_ = what;
  greenlet* next = pick_next();
  if (next != &cur) switch_access::jump(ts_, cur, *next);
  cur.waiting_on_ = nullptr;
}

void hub::loop() noexcept {
  while (!stopping_) {
    since_poll_ = 0;
    if (timers()) fire_due();
    if (!ready_.empty()) {
      if (ring_.in_flight() || ring_.queued()) ring_.poll();
    } else if (timers() || ring_.in_flight() || ring_.queued()) {
      // Idle: return the pages of surplus free stacks, a batch at a time.
      if (!ts_.stacks.trim(256)) {
        ring_.poll();
        continue;
      }
      const timer_node* first = earliest();
      if (monitor_) monitor_idle(true);
      ring_.wait(first ? first->when : clock::time_point::max());
      if (monitor_) monitor_idle(false);
      if (timers()) fire_due();
    } else {
      deliver_loop_exit();
    }
    greenlet* next = pick_next();
    if (next != &self_) switch_access::jump(ts_, self_, *next);
  }
}

timer_node* hub::earliest() const noexcept {
  timer_node* h = heap_.empty() ? nullptr : heap_.front().node;
  timer_node* f = fifo_.head;
  if (!f) return h;
  if (!h) return f;
  return (f->when < h->when || (f->when == h->when && f->seq < h->seq)) ? f : h;
}

void hub::fire_due(clock::time_point now) noexcept {
  while (timer_node* n = earliest()) {
    if (n->when > now) break;
    cancel(*n);
    n->fire(n);
  }
}

std::string hub::describe_waiters() const {
  std::string s;
  auto add = [&s](const greenlet& g, const char* kind) {
    if (g.scheduled_ || g.dead()) return;
    s += "\n  ";
    s += kind;
    s += ' ';
    s += std::to_string(g.id());
    if (!g.name().empty()) s += " \"" + g.name() + "\"";
    s += g.waiting_on_ ? std::string(" waiting in ") + g.waiting_on_ : std::string(" suspended");
  };
  add(ts_.root, "main greenlet");
  for (task_base* t = live_.head; t; t = t->live_next_)
    if (t->started()) add(*t, "task");
  return s;
}

void hub::deliver_loop_exit() noexcept {
  greenlet& root = ts_.root;
  if (!root.pending_) {
    root.pending_ = std::make_exception_ptr(loop_exit(
        "greenring: this operation would block forever: no task is ready, no timer is armed and no IO is "
        "in flight. Waiting:" +
        describe_waiters()));
  }
  schedule(root);
}

void hub::arm(timer_node& t, clock::time_point when) {
  if (t.armed()) cancel(t);
  t.when = when;
  t.seq = ++timer_seq_;
  if (fifo_.empty() || when >= fifo_.tail->when) {
    t.index = timer_node::in_fifo;
    fifo_.push_back(t);
    ++fifo_count_;
    return;
  }
  heap_.push_back(heap_entry{when, t.seq, &t});
  t.index = heap_.size() - 1;
  sift_up(heap_.size() - 1);
}

void hub::cancel(timer_node& t) noexcept {
  if (!t.armed()) return;
  if (t.index == timer_node::in_fifo) {
    fifo_.erase(t);
    t.index = timer_node::npos;
    --fifo_count_;
    return;
  }
  const std::size_t i = t.index;
  t.index = timer_node::npos;
  heap_entry last = heap_.back();
  heap_.pop_back();
  if (i < heap_.size()) {
    place(i, last);
    sift_down(i);
    sift_up(last.node->index);
  }
}

void hub::sift_up(std::size_t i) noexcept {
  heap_entry e = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!before(e, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, e);
}

void hub::sift_down(std::size_t i) noexcept {
  const std::size_t n = heap_.size();
  heap_entry e = heap_[i];
  for (;;) {
    std::size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(heap_[c + 1], heap_[c])) ++c;
    if (!before(heap_[c], e)) break;
    place(i, heap_[c]);
    i = c;
  }
  place(i, e);
}

void hub::add_task(task_base& t) noexcept {
  live_.push_back(t);
  ++live_count_;
}

void hub::remove_task(task_base& t) noexcept {
  live_.erase(t);
  --live_count_;
}

// During kill_all, a killed task that blocks again with no exception in
// flight (not in a destructor run by unwinding) and none being handled (not
// inside a catch block that will rethrow) has swallowed its greenlet_exit:
// it gets another at once. A task that keeps refusing is given up on, so
// that exit can neither hang nor spin forever.
void hub::refuse_swallowed_kill(greenlet& cur) {
  if (cur.kind_ != greenlet::kind::task) return;
  auto& t = static_cast<task_base&>(cur);
  if (!t.exit_requested_ || t.abandoned_) return;
  if (std::uncaught_exceptions() != 0 || std::current_exception()) return;
  if (++t.swallowed_ < 1000) throw greenlet_exit{};
  t.abandoned_ = true;
  if (shutdown_waiter_) schedule(*shutdown_waiter_);
  std::fprintf(stderr, "greenring: task %llu \"%s\" refused to exit at hub shutdown (swallowed greenlet_exit %u "
               "times); leaving it\n", static_cast<unsigned long long>(t.id()), t.name().c_str(),
               static_cast<unsigned>(t.swallowed_));
}

void hub::release_abandoned() noexcept {
  while (task_base* t = live_.head) {
    // Its frames never run again: mark it dead so nothing tries to unwind
    // it; its stack goes away with the pool's chunks.
    unschedule(*t);
    t->state_ = greenlet::state::dead;
    t->stack_lo_ = nullptr;
    t->drop_callable();
    remove_task(*t);
    t->release();  // the hub's reference
  }
}

void hub::kill_all() {
  greenlet& cur = *ts_.current;
  struct flags {
    hub& h;
    ~flags() {
      h.shutting_down_ = false;
      h.shutdown_waiter_ = nullptr;
    }
  } reset{*this};
  shutting_down_ = true;
  shutdown_waiter_ = &cur;
  for (int round = 0; round < 100; ++round) {
    std::vector<any_task> victims;
    for (task_base* t = live_.head; t; t = t->live_next_) {
      if (t == &cur || t->abandoned_) continue;
      t->add_ref();
      victims.push_back(task<void>(adopt_t{}, t));
    }
    if (victims.empty()) return;
    task_base::waiter_set set(victims.size());
    auto& nodes = set.nodes;
    for (std::size_t i = 0; i < victims.size(); ++i) {
      task_base* p = detail_get(victims[i]);
      p->exit_requested_ = true;
      // A task unwinding already (blocked in a destructor) must not get
      // another greenlet_exit: throwing out of a destructor terminates.
      if (p->eh_uncaught_ == 0) p->kill_async(nullptr);
      if (p->done()) continue;
      nodes[i].ctx = &cur;
      nodes[i].notify = [](waiter_node* w) noexcept { hub::get().schedule(*static_cast<greenlet*>(w->ctx)); };
      p->add_waiter(nodes[i]);
    }
    // Wait until each has finished or been given up on.
    auto pending = [&victims] {
      for (auto& t : victims)
        if (!detail_get(t)->done() && !detail_get(t)->abandoned_) return true;
      return false;
    };
    try {
      while (pending()) block("hub shutdown");
    } catch (const loop_exit&) {
      // Some task waits on something nothing can wake: kill again.
    }
  }
  std::fprintf(stderr, "greenring: %zu task(s) refused to exit at hub shutdown; leaving them\n", live_count_);
}

}  // namespace greenring::detail
