// greenring — the hub's io_uring.
//
// Invariants: every SQE with a non-zero user_data was counted in
// `in_flight_` and is uncounted exactly once, when its CQE is reaped. EINTR
// and EBUSY from io_uring_enter are retried here and never reach users.
#include "detail/uring.hpp"

#include <greenring/detail/sanitizer.hpp>

#ifdef GREENRING_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#include <cerrno>
#include <cstring>
#include <utility>
#include <string>
#include <system_error>

namespace greenring::detail {
namespace {

[[noreturn]] void throw_setup_error(int err) {
  std::string why;
  switch (err) {
    case ENOSYS:
      why = "io_uring is not available: the kernel lacks it or a seccomp filter (such as a container's "
            "default profile) blocks io_uring_setup";
      break;
    case EPERM:
      why = "io_uring is disabled: check sysctl kernel.io_uring_disabled (must be 0, or 1 with this user in "
            "kernel.io_uring_group) and the container's seccomp profile";
      break;
    case ENOMEM:
      why = "not enough locked memory for the ring: raise RLIMIT_MEMLOCK (ulimit -l); kernels before 5.12 "
            "charge io_uring rings against it";
      break;
    default:
      why = "io_uring_setup failed";
  }
  throw std::system_error(err, std::system_category(), "greenring: cannot create the hub's io_uring: " + why);
}

}  // namespace

thread_local int uring_setup_fail_next = 0;

namespace {

struct op_name {
  int op;
  const char* name;
};
// Every opcode greenring submits, with the kernel that brought it.
constexpr op_name used_ops[] = {
    {IORING_OP_READ, "READ (5.6)"},
    {IORING_OP_WRITE, "WRITE (5.6)"},       {IORING_OP_FSYNC, "FSYNC (5.1)"},
    {IORING_OP_POLL_ADD, "POLL_ADD (5.1)"}, {IORING_OP_SENDMSG, "SENDMSG (5.3)"},
    {IORING_OP_RECVMSG, "RECVMSG (5.3)"},   {IORING_OP_SEND, "SEND (5.6)"},
    {IORING_OP_RECV, "RECV (5.6)"},         {IORING_OP_ACCEPT, "ACCEPT (5.5)"},
    {IORING_OP_CONNECT, "CONNECT (5.5)"},   {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL (5.5)"},
    {IORING_OP_OPENAT, "OPENAT (5.6)"},
    {IORING_OP_CLOSE, "CLOSE (5.6)"},       {IORING_OP_SPLICE, "SPLICE (5.7)"},
};

}  // namespace

#ifdef GREENRING_TSAN
// liburing maps and unmaps the rings with raw syscalls TSan does not see,
// so a ring mapped where a finished thread's ring was inherits that
// thread's accesses, and the first SQE written would be reported as a
// race. Every ring released before its unmapping and every new one
// acquires after its mapping: the kernel gave the address back only after
// the unmapping, and TSan now knows that order too.
namespace {
char tsan_ring_reuse;
}
#endif

uring::uring(unsigned entries) : entries_(entries) { setup(); }

void uring::setup() {
  if (int err = std::exchange(uring_setup_fail_next, 0)) throw_setup_error(err);
  // Completion work runs when this thread enters the kernel for it (6.1:
  // DEFER_TASKRUN), never as an interrupting task_work; TASKRUN_FLAG tells
  // poll() when there is some. Older kernels get the nearest they have.
  constexpr unsigned base = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  constexpr unsigned tries[] = {base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                base | IORING_SETUP_SINGLE_ISSUER, base, 0};
  io_uring_params p{};
  int r = -EINVAL;
  for (unsigned flags : tries) {
    p = io_uring_params{};
    p.flags = flags;
    r = io_uring_queue_init_params(entries_, &ring_, &p);
    if (r != -EINVAL) break;
  }
  if (r < 0) throw_setup_error(-r);
  if (!(p.features & IORING_FEAT_NODROP) || !(p.features & IORING_FEAT_EXT_ARG)) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(ENOSYS, std::system_category(),
                            "greenring: this kernel's io_uring is too old (needs NODROP and EXT_ARG: Linux 5.15 or "
                            "later)");
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (!probe) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(ENOSYS, std::system_category(), "greenring: cannot probe io_uring opcodes");
  }
  const char* missing = nullptr;
  for (const auto& o : used_ops)
    if (!io_uring_opcode_supported(probe, o.op)) {
      missing = o.name;
      break;
    }
  io_uring_free_probe(probe);  // not free(): liburing allocated it
  if (missing) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(ENOSYS, std::system_category(),
                            std::string("greenring: this kernel's io_uring lacks opcode ") + missing +
                                " (Linux 5.15 or later is required)");
  }
#ifdef GREENRING_TSAN
  __tsan_acquire(&tsan_ring_reuse);
#endif
}

uring::~uring() {
#ifdef GREENRING_TSAN
  __tsan_release(&tsan_ring_reuse);
#endif
  io_uring_queue_exit(&ring_);
}

void uring::reset_after_fork() {
  // The mappings and the fd are the parent's ring: unmapping our copies and
  // closing our fd leaves the parent's ring alone (no cancel is submitted).
  io_uring_queue_exit(&ring_);
  ring_ = io_uring{};
  while (completion* c = head_) {
    remove(*c);
    c->fn(c, -ECANCELED, 0);
  }
  setup();
}

io_uring_sqe* uring::sqe() {
  for (;;) {
    if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) return s;
    int r = io_uring_submit(&ring_);  // SQ full: hand the batch to the kernel
    if (r == -EBUSY) {
      reap();  // the CQ backlog must drain before the kernel takes more
      io_uring_get_events(&ring_);
    }
  }
}

void uring::poll() noexcept {
  // Enter the kernel only with something to submit, or completion work
  // waiting to be run (IORING_SQ_TASKRUN); otherwise just read the CQ.
  const bool submit = io_uring_sq_ready(&ring_) > 0;
  if (submit || (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN)) {
    int r;
    do {
      r = submit ? io_uring_submit_and_get_events(&ring_) : io_uring_get_events(&ring_);
      if (r == -EBUSY) reap();  // the CQ backlog must drain first
    } while (r == -EINTR || r == -EBUSY);
  }
  reap();
}

void uring::wait(clock::time_point deadline) noexcept {
  io_uring_cqe* cqe = nullptr;
  if (deadline == clock::time_point::max()) {
    int r = io_uring_submit_and_wait(&ring_, 1);
    (void)r;  // EINTR/EBUSY: reap what is there; the hub loops
  } else {
    auto left = deadline - clock::now();
    if (left.count() <= 0) {
      poll();
      return;
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    __kernel_timespec ts{};
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    (void)r;  // -ETIME: the deadline passed; -EINTR: a signal; either way the hub loops
  }
  reap();
}

void uring::reap() noexcept {
  if (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) {
    ++cq_overflows_;
    io_uring_get_events(&ring_);  // flush the kernel's overflow backlog into the CQ
  }
  for (;;) {
    io_uring_cqe* cqes[64];
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 64);
    if (n == 0) return;
    for (unsigned i = 0; i < n; ++i) {
      auto* c = reinterpret_cast<completion*>(static_cast<uintptr_t>(cqes[i]->user_data));
      int res = cqes[i]->res;
      unsigned flags = cqes[i]->flags;
      if (c) {
        remove(*c);
        c->fn(c, res, flags);
      }
    }
    io_uring_cq_advance(&ring_, n);
  }
}

}  // namespace greenring::detail
