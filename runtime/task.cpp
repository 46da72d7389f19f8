// greenring — tasks: spawn, join, kill, links, joinall.
//
// Invariants: a task record lives while the hub holds it (spawn to death)
// or any handle does. Waiter nodes live in the waiting frames and unlink
// themselves on every way out. A task's completion (done_, error_, waking
// waiters, links) happens exactly once, either on its own stack as its
// body ends, or in the killer's frame for a task that never started.
#include "detail/assert.hpp"
#include "detail/hub.hpp"

#include <greenring/hub.hpp>
#include <greenring/local.hpp>
#include <greenring/task.hpp>

#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

namespace greenring {
namespace detail {
namespace {

// ---- record allocation: per-thread free lists of 64-byte multiples ----

constexpr std::size_t block_unit = 64;
constexpr std::size_t block_classes = 16;
// Records kept for reuse, per size class: up to 64 MiB each, so a burst of
// spawns that repeats does not fault fresh pages in every time.
constexpr std::size_t max_cached_bytes_per_class = 64u << 20;

struct cache_caps {
  std::size_t v[16];
};
constexpr cache_caps make_caps() {
  cache_caps c{};
  for (std::size_t i = 0; i < 16; ++i) c.v[i] = max_cached_bytes_per_class / ((i + 1) * 64);
  return c;
}
constexpr cache_caps caps = make_caps();
constexpr const std::size_t* max_cached = caps.v;

struct free_block {
  free_block* next;
};

struct free_lists {
  free_block* head[block_classes] = {};
  std::size_t count[block_classes] = {};
  ~free_lists();
};

thread_local free_lists* t_lists __attribute__((tls_model("initial-exec"))) = nullptr;
thread_local bool t_lists_gone __attribute__((tls_model("initial-exec"))) = false;

free_lists::~free_lists() {
  for (std::size_t c = 0; c < block_classes; ++c) {
    while (free_block* b = head[c]) {
      head[c] = b->next;
      ::operator delete(b);
    }
  }
  t_lists = nullptr;
  t_lists_gone = true;
}

free_lists* lists() noexcept {
  if (__builtin_expect(t_lists == nullptr, 0)) {
    if (t_lists_gone) return nullptr;
    static thread_local free_lists instance;
    t_lists = &instance;
  }
  return t_lists;
}

std::string describe(const greenlet& t) {
  std::string s = "task " + std::to_string(t.id());
  if (!t.name().empty()) s += " \"" + t.name() + "\"";
  return s;
}

void wake_greenlet(waiter_node* w) noexcept { hub::get().schedule(*static_cast<greenlet*>(w->ctx)); }

}  // namespace

void* task_alloc(std::size_t size) {
  const std::size_t c = (size + block_unit - 1) / block_unit - 1;
  if (c < block_classes) {
    if (free_lists* l = lists(); l && l->head[c]) {
      free_block* b = l->head[c];
      l->head[c] = b->next;
      --l->count[c];
      return b;
    }
    return ::operator new((c + 1) * block_unit);
  }
  return ::operator new(size);
}

void task_free(void* p, std::size_t size) noexcept {
  const std::size_t c = (size + block_unit - 1) / block_unit - 1;
  if (c < block_classes) {
    if (free_lists* l = lists(); l && l->count[c] < max_cached[c]) {
      auto* b = static_cast<free_block*>(p);
      b->next = l->head[c];
      l->head[c] = b;
      ++l->count[c];
      return;
    }
  }
  ::operator delete(p);
}

// ---- task_base ----

// The hub a task belongs to: its thread's (the record keeps no copy).
hub* task_base::owner_hub() const noexcept { return static_cast<thread_state*>(home_)->hub_; }

task_base::task_base(std::size_t stack_size, std::string&& name) : greenlet(kind::task, nullptr, stack_size) {
  if (!name.empty()) set_name(std::move(name));
  parent_ = &hub::get().hub_greenlet_ref();
}

task_base::~task_base() {
  if (error_ && !collected_ && !killed_) {
    std::string what = "an exception that is not a std::exception";
    try {
      std::rethrow_exception(error_);
    } catch (const std::exception& e) {
      what = std::string(typeid(e).name()) + ": " + e.what();
    } catch (const timeout_error& e) {
      what = e.what();
    } catch (...) {  // classification only: the exception is reported, not lost
    }
    std::fprintf(stderr, "greenring: %s failed and nobody collected its exception: %s\n", describe(*this).c_str(),
                 what.c_str());
  }
}

void task_base::start(std::optional<clock::time_point> start_at) {
  owner_hub()->add_task(*this);
  if (start_at) {
    start_timer_ = std::make_unique<timer_node>();
    start_timer_->fire = &start_timer_fired;
    start_timer_->ctx = this;
    owner_hub()->arm(*start_timer_, *start_at);
  } else {
    owner_hub()->schedule(*this);
  }
}

void task_base::start_timer_fired(timer_node* t) noexcept {
  auto* self = static_cast<task_base*>(t->ctx);
  self->owner_hub()->schedule(*self);
}

greenlet* task_base::body() noexcept {
  {
    std::exception_ptr err;
    began_ = true;
    try {
      switch_access::check_pending(*this);
      invoke();
    } catch (const greenlet_exit&) {
      killed_ = true;
    } catch (...) {
      err = std::current_exception();
    }
    if (killed_) err = killed_error();
    // Task-local values die with the task, on its stack, before joiners run.
    local_access::destroy_all(*this);
    finish(std::move(err));
  }
  return nullptr;  // the hub picks the successor, maybe onto this very stack
}

void task_base::after_death() noexcept { release(); }

void task_base::complete(std::exception_ptr err) noexcept {
  done_ = true;
  error_ = std::move(err);
  while (waiter_node* w = waiters_.pop_front()) {
    w->notify(w);
    w->target = nullptr;
  }
  if (!links_) return;
  auto links = std::move(*links_);
  links_.reset();
  for (auto& fn : links) {
    try {
      fn(*this);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "greenring: a link callback of %s threw: %s\n", describe(*this).c_str(), e.what());
    } catch (...) {  // a callback cannot fail the task it observes: reported, not lost
      std::fprintf(stderr, "greenring: a link callback of %s threw a non-std exception\n", describe(*this).c_str());
    }
  }
}

std::exception_ptr task_base::killed_error() const {
  return std::make_exception_ptr(task_killed("greenring: " + describe(*this) + " was killed"));
}

void task_base::finish(std::exception_ptr err) noexcept {
  drop_callable();
  owner_hub()->unschedule(*this);
  complete(std::move(err));
  state_ = state::dead;
  owner_hub()->remove_task(*this);
}

void task_base::finish_unstarted(std::exception_ptr err) noexcept {
  add_ref();  // completing may drop every handle
  if (start_timer_) owner_hub()->cancel(*start_timer_);
  finish(std::move(err));
  release();  // the hub's reference
  release();
}

void task_base::rethrow_if_failed() {
  collected_ = true;
  if (error_) std::rethrow_exception(error_);
}

static void check_thread(const hub* h, const char* op) {
  if (hub::get_if() != h)
    throw std::logic_error(std::string("greenring: ") + op + ": the task belongs to another thread");
}

bool task_base::join(clock::time_point deadline) {
  if (done_) return true;
  check_thread(owner_hub(), "join");
  hub& h = *owner_hub();
  greenlet& cur = h.current();
  if (&cur == this) throw std::logic_error("greenring: join: " + describe(*this) + " cannot join itself");
  waiter_node w;
  w.notify = &wake_greenlet;
  w.ctx = &cur;
  add_waiter(w);
  struct unlink {
    waiter_node& w;
    ~unlink() { remove_waiter(w); }
  } guard{w};
  wake_timer timer(h, cur, deadline);
  while (!done_ && !timer.fired) h.block("join");
  return done_;
}

void task_base::kill_async(std::exception_ptr e) {
  if (done_) return;
  check_thread(owner_hub(), "kill");
  bool is_exit = !e;
  if (is_exit) e = std::make_exception_ptr(greenlet_exit{});
  greenlet& cur = owner_hub()->current();
  if (&cur == this) std::rethrow_exception(e);
  if (state_ == state::fresh) {
    if (is_exit) {
      killed_ = true;
      finish_unstarted(killed_error());
    } else {
      finish_unstarted(std::move(e));
    }
    return;
  }
  if (kill_delivered_) return;  // one kill at a time; a new one once this is delivered
  kill_delivered_ = true;
  pending_ = std::move(e);
  owner_hub()->schedule(*this);
}

void task_base::link(std::function<void(task_base&)> fn) {
  if (done_) {
    fn(*this);
    return;
  }
  if (!links_) links_ = std::make_unique<std::vector<std::function<void(task_base&)>>>();
  links_->push_back(std::move(fn));
}

void task_base::add_waiter(waiter_node& w) noexcept {
  w.target = this;
  waiters_.push_back(w);
}

void task_base::remove_waiter(waiter_node& w) noexcept {
  if (task_base* t = w.target) {
    t->waiters_.erase(w);
    w.target = nullptr;
  }
}

// ---- joinall / killall ----

static void check_handles(const std::vector<any_task>& tasks) {
  for (const auto& t : tasks)
    if (!t) throw std::logic_error("greenring: an empty task handle was passed to joinall/killall");
}

std::vector<any_task> joinall(std::vector<any_task> tasks, clock::time_point deadline, bool raise_error) {
  check_handles(tasks);
  struct shared {
    std::size_t remaining = 0;
    task_base* first_failed = nullptr;
    greenlet* waiter = nullptr;
    bool raise_error = false;
  } st;
  st.raise_error = raise_error;
  auto failed_for_raise = [](task_base* t) { return t->failed() && !t->killed(); };
  for (auto& t : tasks) {
    task_base* p = detail_get(t);
    if (!p->done())
      ++st.remaining;
    else if (raise_error && !st.first_failed && failed_for_raise(p))
      st.first_failed = p;
  }
  if (st.remaining > 0 && !(raise_error && st.first_failed)) {
    hub& h = hub::get();
    st.waiter = &h.current();
    task_base::waiter_set set(tasks.size());
    auto& nodes = set.nodes;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      task_base* p = detail_get(tasks[i]);
      if (p->done()) continue;
      check_thread(p->owner_hub(), "joinall");
      nodes[i].ctx = &st;
      nodes[i].notify = [](waiter_node* w) noexcept {
        auto* s = static_cast<shared*>(w->ctx);
        --s->remaining;
        task_base* t = w->target;
        if (s->raise_error && !s->first_failed && t->failed() && !t->killed()) s->first_failed = t;
        hub::get().schedule(*s->waiter);
      };
      p->add_waiter(nodes[i]);
    }
    wake_timer timer(h, *st.waiter, deadline);
    while (st.remaining > 0 && !(raise_error && st.first_failed) && !timer.fired) h.block("joinall");
  }
  if (raise_error && st.first_failed) st.first_failed->rethrow_if_failed();
  std::vector<any_task> done;
  for (auto& t : tasks)
    if (t.ready()) done.push_back(t);
  return done;
}

void killall(const std::vector<any_task>& tasks, clock::time_point deadline) {
  check_handles(tasks);
  greenlet& cur = greenlet::current();
  std::vector<any_task> others;
  const any_task* self = nullptr;
  for (const auto& t : tasks) {
    if (detail_get(t) == &cur) {
      self = &t;
    } else {
      detail_get(t)->kill_async(nullptr);
      others.push_back(t);
    }
  }
  joinall(std::move(others), deadline, false);
  if (self) self->kill_async();  // the caller is among them: it goes last
}

void check_run_from_main() {
  if (&greenlet::current() != &state().root)
    throw std::logic_error("greenring: run() must be called from the thread's main greenlet, not from a task or greenlet");
}

void kill_all_tasks() {
  if (hub* h = hub::get_if()) h->kill_all();
}

}  // namespace detail
}  // namespace greenring
