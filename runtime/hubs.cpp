// greenring — run_hubs: one hub per thread, failures stop the siblings.
//
// Invariants: a hub's main task handle is touched only on that hub's
// thread (a sibling that wants it killed posts a closure there); a closure
// is posted only while the hub's handle is published, and the handle is
// withdrawn, under the same mutex, before the hub's thread stops running
// its loop; the first failure is kept, later ones (kills we caused, or
// other failures) are not.
#include "detail/hub.hpp"
#include "detail/uring.hpp"

#include <greenring/event.hpp>
#include <greenring/hub.hpp>
#include <greenring/hubs.hpp>
#include <greenring/task.hpp>

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace greenring {
namespace {

// What one hub shares with its siblings.
struct hub_slot {
  std::mutex m;
  std::optional<hub_handle> home;  // set while its main task may be killed
  bool stop = false;               // a sibling failed: do not (keep) running
  std::optional<any_task> main;    // its thread only
};

struct run_state {
  explicit run_state(std::size_t n) {
    slots.reserve(n);
    for (std::size_t i = 0; i < n; ++i) slots.push_back(std::make_shared<hub_slot>());
  }
  std::vector<std::shared_ptr<hub_slot>> slots;
  std::mutex m;
  std::exception_ptr first;  // under m

  bool failed() {
    std::lock_guard<std::mutex> g(m);
    return first != nullptr;
  }

  // Keeps `e` if it is the first failure, and stops every other hub.
  void fail(std::size_t who, std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> g(m);
      if (first) return;
      first = std::move(e);
    }
    for (std::size_t j = 0; j < slots.size(); ++j) {
      if (j == who) continue;
      const std::shared_ptr<hub_slot>& s = slots[j];
      std::lock_guard<std::mutex> g(s->m);
      s->stop = true;
      if (s->home)
        s->home->post([s] {
          if (s->main) s->main->kill_async();
        });
    }
  }
};

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int e = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); e != 0)
    throw std::system_error(e, std::system_category(), "run_hubs: pin hub thread to CPU " + std::to_string(cpu));
}

// Lets the hub take in what the last handle's release left in flight (its
// wake-up read, answered at once) and run what siblings posted before the
// handle went, so that the calling thread's hub is left with nothing.
// (A yield alone polls the ring only every poll_interval switches.)
void settle() {
  detail::hub& h = detail::hub::get();
  for (int k = 0; k < 64 && (h.ring().in_flight() > 0 || h.live_tasks() > 0); ++k) {
    h.ring().poll();
    yield();
  }
}

// Hub i's whole life on its thread: fn(i) as its main task, then every task
// left killed, as run() does. Failures go to `st`.
void run_one(run_state& st, std::size_t i, const std::function<void(std::size_t)>& fn, int cpu) {
  hub_slot& s = *st.slots[i];
  auto withdraw = [&s] {
    std::lock_guard<std::mutex> g(s.m);
    s.home.reset();  // no more closures from siblings
  };
  try {
    if (cpu >= 0) pin_to(cpu);
    any_task t = spawn(task_options{.name = "hub " + std::to_string(i) + " main"}, [&fn, i] { fn(i); });
    bool stop_now;
    {
      std::lock_guard<std::mutex> g(s.m);
      s.main = t;
      s.home = hub_handle::current();
      stop_now = s.stop;
    }
    if (stop_now) t.kill_async();
    t.join();  // nothing cancels the main greenlet while `home` is held
    detail::kill_all_tasks();
    withdraw();
    settle();
    s.main.reset();
    if (!t.successful() && !t.killed()) st.fail(i, t.exception());
  } catch (...) {
    withdraw();
    st.fail(i, std::current_exception());
    try {
      detail::kill_all_tasks();
    } catch (...) {
    }
    s.main.reset();
  }
}

}  // namespace

std::size_t default_hub_count() {
  const std::size_t n = allowed_cpus().size();
  return n ? n : std::max(1u, std::thread::hardware_concurrency());
}

void run_hubs(std::size_t n, std::function<void(std::size_t)> fn, hubs_options options) {
  try {
    detail::check_run_from_main();
  } catch (const std::logic_error&) {
    throw std::logic_error("greenring: run_hubs() must be called from a thread's main greenlet, not from a task or greenlet");
  }
  const std::vector<int> cpus = allowed_cpus();
  if (n == 0) n = default_hub_count();
  auto cpu_of = [&](std::size_t i) { return options.pin && !cpus.empty() ? cpus[i % cpus.size()] : -1; };

  cpu_set_t saved;
  const bool restore = options.pin && ::pthread_getaffinity_np(::pthread_self(), sizeof saved, &saved) == 0;

  run_state st(n);
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (std::size_t i = 1; i < n; ++i) {
    try {
      threads.emplace_back([&st, &fn, i, cpu = cpu_of(i)] { run_one(st, i, fn, cpu); });
    } catch (...) {
      // No thread for hub i (EAGAIN: a thread limit): stop the ones started.
      st.fail(i, std::current_exception());
      break;
    }
  }
  if (!st.failed()) run_one(st, 0, fn, cpu_of(0));
  for (auto& t : threads) t.join();
  if (restore) ::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved);
  if (st.first) std::rethrow_exception(st.first);  // every thread has ended
}

namespace detail {

shared_waiter::shared_waiter() : home(hub_handle::current()), hub(&hub::get()) {}

void wake(const std::shared_ptr<shared_waiter>& w) {
  if (hub::get_if() == w->hub) {
    w->ev.set();  // its own hub: no post needed
    return;
  }
  w->home.post([w] { w->ev.set(); });  // false only for a hub gone with its waiter
}

bool wait_shared(shared_waiter& w, clock::time_point deadline) {
  return w.ev.wait(time_left(deadline));
}

struct shared_event_state {
  mutable std::mutex m;
  std::atomic<bool> flag{false};
  std::vector<std::shared_ptr<shared_waiter>> waiters;  // under m
};

}  // namespace detail

shared_event::shared_event() : st_(std::make_unique<detail::shared_event_state>()) {}
shared_event::~shared_event() = default;

bool shared_event::is_set() const noexcept { return st_->flag.load(std::memory_order_acquire); }

std::size_t shared_event::waiting() const {
  std::lock_guard<std::mutex> g(st_->m);
  return st_->waiters.size();
}

void shared_event::set() {
  std::lock_guard<std::mutex> g(st_->m);
  if (st_->flag.exchange(true, std::memory_order_acq_rel)) return;
  for (const auto& w : st_->waiters) detail::wake(w);
}

bool shared_event::wait(duration timeout) {
  if (is_set()) return true;
  auto w = std::make_shared<detail::shared_waiter>();
  {
    std::lock_guard<std::mutex> g(st_->m);
    if (st_->flag.load(std::memory_order_relaxed)) return true;
    st_->waiters.push_back(w);
  }
  struct leave {
    detail::shared_event_state& st;
    const std::shared_ptr<detail::shared_waiter>& w;
    ~leave() {
      std::lock_guard<std::mutex> g(st.m);
      std::erase(st.waiters, w);
    }
  } on_exit{*st_, w};
  return w->ev.wait(timeout) || is_set();
}

}  // namespace greenring
