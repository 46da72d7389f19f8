// greenring — the hub's io_uring.
//
// Invariants: every SQE with a non-zero user_data was counted in
// `in_flight_` and is uncounted exactly once, when its CQE is reaped. EINTR
// and EBUSY from io_uring_enter are retried here and never reach users.
#include "detail/uring.hpp"

#include <cerrno>
#include <cstring>
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

uring::uring(unsigned entries) {
  io_uring_params p{};
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
  int r = io_uring_queue_init_params(entries, &ring_, &p);
  if (r == -EINVAL) {  // kernel older than 6.0: retry with what 5.x has
    p = io_uring_params{};
    r = io_uring_queue_init_params(entries, &ring_, &p);
  }
  if (r < 0) throw_setup_error(-r);
}

uring::~uring() { io_uring_queue_exit(&ring_); }

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
  if (io_uring_sq_ready(&ring_) > 0) {
    int r;
    do r = io_uring_submit(&ring_);
    while (r == -EINTR);
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
        --in_flight_;
        c->fn(c, res, flags);
      }
    }
    io_uring_cq_advance(&ring_, n);
  }
}

}  // namespace greenring::detail
