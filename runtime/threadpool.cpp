// greenring — threadpool: OS threads that hand results back to hubs.
//
// Invariants: a job is owned (shared_ptr) by its pool_result and by whoever
// holds it in transit: the pool's queue, then a worker, then the submitting
// hub's remote queue. Workers touch only the job's value/error before they
// post it; everything else about a job is touched on the submitting hub's
// thread. A hub keeps one eventfd read in its ring while it expects results,
// so a pending job counts as IO in flight (no loop_exit) and the hub is
// woken by the kernel, never by polling. A hub that goes away marks its
// queue closed; results posted after that are dropped by the worker.
#include "detail/hub.hpp"
#include "detail/io.hpp"

#include <greenring/hub.hpp>
#include <greenring/hubs.hpp>
#include <greenring/threadpool.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace greenring::detail {

/// Bumped in a forked child: a remote queue made in an earlier generation
/// belongs to a hub whose thread the child does not have (except the
/// forking thread's, which after_fork brings into the new generation).
std::atomic<unsigned> fork_generation{0};

/// The part of a hub's remote queue that worker threads see.
struct remote_shared {
  std::mutex m;
  std::vector<std::shared_ptr<pool_job>> items;
  int efd = -1;
  bool closed = false;
  unsigned generation = fork_generation.load(std::memory_order_relaxed);
  // hub_handles alive (any thread): while there are, the hub keeps its
  // eventfd read armed so that a post wakes it.
  std::atomic<std::size_t> handles{0};
  remote_shared() {
    efd = ::eventfd(0, EFD_CLOEXEC);
    if (efd < 0) throw std::system_error(errno, std::system_category(), "greenring: eventfd for the thread pool");
  }
  ~remote_shared() { ::close(efd); }
  /// From any thread. Returns false when the hub is gone.
  bool post(std::shared_ptr<pool_job> j) {
    // A hub_handle copied into a forked child, to a thread the child lacks:
    // nobody would run the job (and a vanished thread may hold `m`).
    if (generation != fork_generation.load(std::memory_order_relaxed)) return false;
    bool wake;
    {
      std::lock_guard<std::mutex> g(m);
      if (closed) return false;
      wake = items.empty();
      items.push_back(std::move(j));
    }
    if (wake) {
      std::uint64_t one = 1;
      ssize_t r;
      do r = ::write(efd, &one, sizeof one);
      while (r < 0 && errno == EINTR);
    }
    return true;
  }
};

struct hub::remote : completion {
  explicit remote(hub& h) : h_(h), sh_(std::make_shared<remote_shared>()) { fn = &on_read; }
  hub& h_;
  std::shared_ptr<remote_shared> sh_;
  std::size_t expected_ = 0;
  bool armed_ = false;
  std::uint64_t buf_ = 0;  // the kernel writes here until the read's CQE

  void expect() {
    ++expected_;
    arm();
  }
  void arm() {
    // `closed` is set by this hub's own thread as it goes (see
    // hub_release_remote): the cancelled read must not come back.
    if (armed_ || sh_->closed || (expected_ == 0 && sh_->handles.load(std::memory_order_acquire) == 0)) return;
    io_uring_sqe* s = h_.ring().sqe();
    io_uring_prep_read(s, sh_->efd, &buf_, sizeof buf_, 0);
    io_uring_sqe_set_data(s, static_cast<completion*>(this));
    h_.ring().add_in_flight(*this);
    armed_ = true;
  }
  static void on_read(completion* c, int res, unsigned) noexcept {
    auto* self = static_cast<remote*>(c);
    self->armed_ = false;
    if (res == -ECANCELED && self->h_.forked_) return;  // the parent's ring: see after_fork
    std::vector<std::shared_ptr<pool_job>> batch;
    {
      std::lock_guard<std::mutex> g(self->sh_->m);
      batch.swap(self->sh_->items);
    }
    for (auto& j : batch) {
      if (j->expected) --self->expected_;
      deliver(self->h_, std::move(j));
    }
    try {
      self->arm();
    } catch (...) {
      std::fprintf(stderr, "greenring: cannot re-arm the thread pool wake-up read\n");
    }
  }
  static void deliver(hub& h, std::shared_ptr<pool_job> j) noexcept;
};

hub::remote& hub::remote_queue() {
  if (!remote_) remote_ = new remote(*this);
  return *remote_;
}

class threadpool_impl {
 public:
  explicit threadpool_impl(std::size_t n) {
    if (n == 0) n = default_hub_count();
    sigset_t all, old;
    sigfillset(&all);
    // Workers inherit a mask that blocks everything: signals stay with the
    // threads running hubs (signalfd, SIGINT handlers, profilers' EINTR).
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      stop();
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  ~threadpool_impl() { stop(); }

  void submit(std::shared_ptr<pool_job> j, std::shared_ptr<remote_shared> to) {
    {
      std::lock_guard<std::mutex> g(m_);
      queue_.push_back(entry{std::move(j), std::move(to)});
    }
    cv_.notify_one();
  }
  std::size_t size() const noexcept { return workers_.size(); }

  // Hub-side accounting for join(): jobs submitted from each hub that have
  // not yet been delivered (and had their callback run).
  struct per_hub {
    void* hub;
    std::size_t pending = 0;
    std::vector<greenlet*> joiners;
  };
  per_hub& for_hub(void* h) {
    std::lock_guard<std::mutex> g(m_);
    for (auto& p : hubs_)
      if (p->hub == h) return *p;
    hubs_.push_back(std::make_unique<per_hub>(per_hub{h, 0, {}}));
    return *hubs_.back();
  }

 private:
  struct entry {
    std::shared_ptr<pool_job> job;
    std::shared_ptr<remote_shared> to;
  };
  void work() {
    for (;;) {
      entry e;
      {
        std::unique_lock<std::mutex> g(m_);
        cv_.wait(g, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        e = std::move(queue_.front());
        queue_.pop_front();
      }
      e.job->run();
      e.to->post(std::move(e.job));
    }
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<entry> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::vector<std::unique_ptr<per_hub>> hubs_;
};

void hub::remote::deliver(hub& h, std::shared_ptr<pool_job> j) noexcept {
  j->done = true;
  if (j->waiter) h.schedule(*j->waiter);
  auto* acct = static_cast<threadpool_impl::per_hub*>(j->account);
  auto settle = [&h, acct] {
    if (acct && --acct->pending == 0) {
      for (greenlet* g : acct->joiners) h.schedule(*g);
      acct->joiners.clear();
    }
  };
  if (!j->has_callback()) {
    if (j->error && j.use_count() == 1)
      std::fprintf(stderr, "greenring: a thread pool job failed and nobody asked for its result\n");
    settle();
    return;
  }
  try {
    spawn([j, settle]() mutable {
      struct on_exit {
        decltype(settle)& s;
        ~on_exit() { s(); }
      } done{settle};
      j->callback();
    });
  } catch (...) {
    settle();
    std::fprintf(stderr, "greenring: cannot spawn a thread pool callback task\n");
  }
}

void pool_submit(threadpool_impl& p, std::shared_ptr<pool_job> job) {
  hub& h = hub::get();
  hub::remote& r = h.remote_queue();
  auto& acct = p.for_hub(&h);
  job->account = &acct;
  r.expect();
  ++acct.pending;
  p.submit(std::move(job), r.sh_);
}

bool pool_wait(pool_job& job, duration d) {
  if (job.done) return true;
  hub& h = hub::get();
  wake_timer timer(h, h.current(), d == forever ? clock::time_point::max() : deadline_after(d));
  job.waiter = &h.current();
  struct clear {
    pool_job& j;
    ~clear() { j.waiter = nullptr; }
  } c{job};
  while (!job.done && !timer.fired) h.block("threadpool result");
  return job.done;
}

}  // namespace greenring::detail

namespace greenring {

threadpool::threadpool(std::size_t threads) : impl_(std::make_unique<detail::threadpool_impl>(threads)) {}
threadpool::~threadpool() = default;
std::size_t threadpool::size() const noexcept { return impl_->size(); }

void threadpool::join() {
  detail::hub& h = detail::hub::get();
  auto& acct = impl_->for_hub(&h);
  while (acct.pending > 0) {
    acct.joiners.push_back(&h.current());
    try {
      h.block("threadpool join");
    } catch (...) {
      std::erase(acct.joiners, &h.current());
      throw;
    }
    std::erase(acct.joiners, &h.current());
  }
}

namespace {
threadpool* global_pool = nullptr;
std::mutex global_mu;
}  // namespace

threadpool& threadpool::global() {
  std::lock_guard<std::mutex> g(global_mu);
  // Never destroyed: workers may be busy in getaddrinfo at exit.
  if (!global_pool) global_pool = new threadpool();
  return *global_pool;
}

namespace detail {

void forget_global_pool_after_fork() noexcept {
  // The child has none of the parent's threads; the old object (and any
  // mutex a vanished thread held) is abandoned, not destroyed.
  fork_generation.fetch_add(1, std::memory_order_relaxed);
  global_pool = nullptr;
  new (&global_mu) std::mutex();
}

void hub_renew_remote_after_fork(hub::remote& r) {
  // The forking thread's hub lives on in the child, and so do the
  // hub_handles to it copied there: keep the shared part they point at,
  // with the child's own eventfd and a fresh mutex (a parent's worker may
  // have held the old one). What was queued is the parent's: abandoned.
  remote_shared& sh = *r.sh_;
  new std::vector<std::shared_ptr<pool_job>>(std::move(sh.items));
  new (&sh.m) std::mutex();
  int efd = ::eventfd(0, EFD_CLOEXEC);
  if (efd < 0) throw std::system_error(errno, std::system_category(), "greenring: eventfd for the thread pool");
  ::close(sh.efd);  // the child's copy of the parent's eventfd
  sh.efd = efd;
  sh.closed = false;
  sh.generation = fork_generation.load(std::memory_order_relaxed);
  r.armed_ = false;   // its read was in the parent's ring
  r.expected_ = 0;    // the parent's pool workers are not here to answer
  r.arm();            // kept armed while handles exist, as before the fork
}

void hub_release_remote(hub& h, hub::remote*& r) noexcept {
  if (!r) return;
  {
    std::lock_guard<std::mutex> g(r->sh_->m);
    r->sh_->closed = true;
    r->sh_->items.clear();
  }
  if (r->armed_) {
    io_uring_sqe* s = h.ring().sqe();
    io_uring_prep_cancel(s, static_cast<completion*>(r), 0);
    io_uring_sqe_set_data64(s, 0);
    r->expected_ = 0;
    while (r->armed_) h.ring().wait(clock::time_point::max());
  }
  delete r;
  r = nullptr;
}

}  // namespace detail
}  // namespace greenring

namespace greenring {
namespace {

// A job from hub_handle::post: never runs on a worker; its callback is the
// posted function, run as a task by deliver(). Without one it only wakes the
// hub (after the last handle went, so the hub can disarm its read).
struct posted_job final : detail::pool_job {
  explicit posted_job(std::function<void()> f) : fn(std::move(f)) { expected = false; }
  void run() noexcept override {}
  void callback() override { fn(); }
  bool has_callback() const noexcept override { return static_cast<bool>(fn); }
  std::function<void()> fn;
};

}  // namespace

hub_handle hub_handle::current() {
  detail::hub::remote& r = detail::hub::get().remote_queue();
  r.sh_->handles.fetch_add(1, std::memory_order_acq_rel);
  r.arm();
  return hub_handle(r.sh_);
}

hub_handle::hub_handle(const hub_handle& o) noexcept : s_(o.s_) {
  s_->handles.fetch_add(1, std::memory_order_acq_rel);
}

hub_handle& hub_handle::operator=(const hub_handle& o) noexcept {
  if (this != &o) {
    hub_handle keep(o);  // counted before this one lets go of its own
    std::swap(s_, keep.s_);
  }
  return *this;
}

hub_handle::~hub_handle() {
  // The last one wakes the hub, which then finds no reason to stay armed.
  if (s_ && s_->handles.fetch_sub(1, std::memory_order_acq_rel) == 1)
    s_->post(std::make_shared<posted_job>(nullptr));
}

bool hub_handle::post(std::function<void()> fn) const {
  if (!fn) return true;
  return s_->post(std::make_shared<posted_job>(std::move(fn)));
}

}  // namespace greenring
