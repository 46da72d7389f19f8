// greenring — the hub (internal): one per thread, itself a greenlet.
//
// Scheduling rule: a greenlet that blocks switches straight to the next
// ready greenlet (one context switch). The hub greenlet runs only when the
// ready queue is empty, or after `poll_interval` consecutive task-to-task
// switches, so that a busy ready queue cannot starve timers and IO. The hub
// loop: fire due timers, poll or wait on the ring (bounded by the next
// timer), run the ready queue. When nothing is ready, no timer is armed and
// no IO is in flight, nothing can ever wake anybody: the thread's main
// greenlet gets `loop_exit`.
#pragma once

#include "thread_state.hpp"
#include "uring.hpp"

#include <greenring/detail/intrusive_list.hpp>
#include <greenring/detail/task_base.hpp>
#include <greenring/detail/timer.hpp>
#include <greenring/greenlet.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace greenring::detail {

class hub;
struct blocking_monitor;

/// Submission queue size of hubs created from now on (a test hook; the
/// completion queue is twice as large).
extern unsigned ring_entries;

class hub_greenlet final : public greenlet {
 public:
  explicit hub_greenlet(hub& h);

 private:
  greenlet* body() noexcept override;
  hub& hub_;
};

class hub {
 public:
  static constexpr unsigned poll_interval = 64;

  explicit hub(thread_state& ts);
  ~hub();
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  /// The calling thread's hub, created on first use.
  static hub& get() {
    thread_state& ts = state();
    return ts.hub_ ? *ts.hub_ : create(ts);
  }
  static hub* get_if() noexcept { return tls_state() ? tls_state()->hub_ : nullptr; }

  thread_state& ts() noexcept { return ts_; }
  greenlet& current() noexcept { return *ts_.current; }

  /// Makes `g` ready (no-op when already ready or dead).
  [[gnu::always_inline]] inline void schedule(greenlet& g) noexcept {
    if (g.scheduled_ || g.state_ == greenlet::state::dead) return;
    g.scheduled_ = true;
    ready_.push_back(g);
  }
  void unschedule(greenlet& g) noexcept;
  /// Suspends the current greenlet until something schedules it again.
  /// Throws what was raised into it meanwhile (kill, timeout, loop_exit).
  void block(const char* what);
  /// Suspends like block() but does not raise what is pending: for waits
  /// that must not be cut short (an IO request's CQE after its cancel).
  void block_uninterruptible(const char* what) noexcept;
  /// sleep(0): lets every other ready greenlet run, then returns. Inlined
  /// into its callers to keep the switch's return path short (see jump()).
  [[gnu::always_inline]] inline void yield() { yield(*ts_.current); }
  /// The same, for callers that hold the current greenlet already.
  [[gnu::always_inline]] inline void yield(greenlet& cur) {
    GREENRING_ASSERT(&cur != &self_, "sleep was called on the hub greenlet");
    if (__builtin_expect(shutting_down_, 0)) refuse_swallowed_kill(cur);
    greenlet* next = ready_.head;
    if (__builtin_expect(next != nullptr && since_poll_ < poll_interval && !cur.scheduled_ &&
                             next->state_ != greenlet::state::fresh, 1)) {
      // Fast path: the head is a started greenlet; it runs next, we queue
      // behind the others.
      note_switch();
      ++since_poll_;
      ready_.pop_front();
      next->scheduled_ = false;
      cur.scheduled_ = true;
      ready_.push_back(cur);
      switch_access::jump(ts_, cur, *next);
    } else {
      schedule(cur);
      greenlet* other = pick_next();
      if (other != &cur) switch_access::jump(ts_, cur, *other);
    }
    switch_access::check_pending(cur);
  }

  void arm(timer_node& t, clock::time_point when);
  void cancel(timer_node& t) noexcept;
  /// Fires, in (deadline, arming) order, every timer due at `now`.
  void fire_due(clock::time_point now) noexcept;
  std::size_t timers() const noexcept { return heap_.size() + fifo_count_; }

  void add_task(task_base& t) noexcept;
  void remove_task(task_base& t) noexcept;
  std::size_t live_tasks() const noexcept { return live_count_; }
  /// Walks the queue: for diagnostics and stats, not for hot paths.
  std::size_t ready_count() const noexcept {
    std::size_t n = 0;
    for (const greenlet* g = ready_.head; g; g = g->rq_next_) ++n;
    return n;
  }

  /// Where a greenlet that stops running goes: the next ready one (stack
  /// mapped), or the hub greenlet.
  [[gnu::always_inline]] inline greenlet* pick_next() noexcept {
    note_switch();
    if (ready_.empty() || ++since_poll_ > poll_interval) return &self_;
    greenlet* g = ready_.pop_front();
    g->scheduled_ = false;
    if (greenlet* n = ready_.head) prefetch_resume(*n);
    if (__builtin_expect(g->state_ == greenlet::state::fresh, 0)) return start_fresh(g);
    return g;
  }
  /// Starts loading what `g` touches first when it resumes: the frame at its
  /// saved context and the object it parked on. Done one greenlet ahead, so
  /// the loads overlap the run of the one before it.
  [[gnu::always_inline]] static inline void prefetch_resume(const greenlet& g) noexcept {
    if (const char* sp = static_cast<const char*>(g.fctx_))
      for (int i = 0; i < 8; ++i) __builtin_prefetch(sp + 64 * i);
    if (g.resume_hint_) __builtin_prefetch(g.resume_hint_);
  }
  static void set_resume_hint(greenlet& g, const void* p) noexcept { g.resume_hint_ = p; }

  uring& ring() noexcept { return ring_; }
  /// monitor_blocking(): the current greenlet is about to switch away.
  [[gnu::always_inline]] inline void note_switch() noexcept {
    if (__builtin_expect(monitor_ != nullptr, 0)) monitor_switch();
  }
  void set_monitor(blocking_monitor* m) noexcept;  // takes ownership; nullptr: off
  /// In the child after fork(): a fresh ring (see uring::reset_after_fork)
  /// and a fresh link to the thread pools.
  void after_fork() noexcept;
  /// Cross-thread completions (thread pool results) for this hub.
  struct remote;
  remote& remote_queue();
  greenlet& hub_greenlet_ref() noexcept { return self_; }

  /// When the head of the ready queue is a task that has not started and
  /// wants a stack the size of dead `dead`'s, dequeues and returns it.
  greenlet* take_fresh_for(const greenlet& dead) noexcept {
    greenlet* g = ready_.head;
    if (!g || since_poll_ >= poll_interval || !switch_access::fresh_with_stack_of(*g, dead)) return nullptr;
    note_switch();
    ++since_poll_;
    unschedule(*g);
    return g;
  }

  /// Kills every live task and runs the loop until all are dead (or have
  /// refused to die too often, see refuse_swallowed_kill).
  void kill_all();
  /// At thread teardown, after kill_all: drops the records of tasks that
  /// refused to die. Their stacks are never resumed.
  void release_abandoned() noexcept;

 private:
  friend class hub_greenlet;
  static hub& create(thread_state& ts);
  greenlet* start_fresh(greenlet* g) noexcept;
  void refuse_swallowed_kill(greenlet& cur);
  greenlet* run_loop() noexcept;
  void loop() noexcept;
  void fire_due() noexcept { fire_due(clock::now()); }
  void deliver_loop_exit() noexcept;
  std::string describe_waiters() const;

  struct heap_entry {
    clock::time_point when;
    std::uint64_t seq;
    timer_node* node;
  };
  static bool before(const heap_entry& a, const heap_entry& b) noexcept {
    return a.when < b.when || (a.when == b.when && a.seq < b.seq);
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void place(std::size_t i, const heap_entry& e) noexcept {
    heap_[i] = e;
    e.node->index = i;
  }

  void monitor_switch() noexcept;
  void monitor_idle(bool idle) noexcept;
  friend bool blocking_stall_noticed() noexcept;

  thread_state& ts_;
  uring ring_;
  blocking_monitor* monitor_ = nullptr;
  hub_greenlet self_;
  intrusive_list<greenlet, &greenlet::rq_prev_, &greenlet::rq_next_> ready_;
  unsigned since_poll_ = 0;
  timer_node* earliest() const noexcept;
  // Timers live in a FIFO when armed no earlier than its last entry (the
  // common case: everybody sleeps for the same duration), so arming and
  // firing them is O(1); the others go to the binary heap.
  intrusive_list<timer_node, &timer_node::prev, &timer_node::next> fifo_;
  std::size_t fifo_count_ = 0;
  std::vector<heap_entry> heap_;
  std::uint64_t timer_seq_ = 0;
  intrusive_list<task_base, &task_base::live_prev_, &task_base::live_next_> live_;
  std::size_t live_count_ = 0;
  bool stopping_ = false;
  bool shutting_down_ = false;  // kill_all is running
  greenlet* shutdown_waiter_ = nullptr;
  remote* remote_ = nullptr;

 public:
  bool forked_ = false;  // after_fork is running
};

void hub_release_remote(hub& h, hub::remote*& r) noexcept;
void forget_global_pool_after_fork() noexcept;
void hub_renew_remote_after_fork(hub::remote& r);
/// GREENRING_MAX_BLOCKING_MS: monitor_blocking() for every new hub.
void monitor_from_environment(hub& h) noexcept;
/// For tests: the watcher has flagged a stall of this thread's hub that is
/// not reported yet.
bool blocking_stall_noticed() noexcept;

}  // namespace greenring::detail

namespace greenring::detail {

/// A timer that makes a greenlet ready and remembers it did; disarmed when
/// it goes out of scope, whichever way the waiting frame is left.
struct wake_timer {
  wake_timer(hub& h, greenlet& g, clock::time_point when) : h_(h), g_(g) {
    node_.fire = &on_fire;
    node_.ctx = this;
    if (when != clock::time_point::max()) h.arm(node_, when);
  }
  ~wake_timer() {
    if (node_.armed()) h_.cancel(node_);
  }
  wake_timer(const wake_timer&) = delete;
  wake_timer& operator=(const wake_timer&) = delete;
  bool fired = false;

 private:
  static void on_fire(timer_node* n) noexcept {
    auto* self = static_cast<wake_timer*>(n->ctx);
    self->fired = true;
    self->h_.schedule(self->g_);
  }
  hub& h_;
  greenlet& g_;
  timer_node node_;
};

/// Installs the SIGSEGV stack-overflow reporter (once per process) and an
/// alternate signal stack for the calling thread. No-op under sanitizers.
void install_overflow_handler(thread_state& ts);
void remove_overflow_altstack(thread_state& ts) noexcept;

}  // namespace greenring::detail
