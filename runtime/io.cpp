// greenring — io_op: a request waited on by the task that made it.
//
// Invariants: an op is counted in its ring's in-flight list from the moment
// its SQE is queued until its CQE is reaped (or, in a forked child, until the
// fork completes it); `wait` returns only after that. The deadline's timer
// lives in the op and is disarmed before `wait` returns. Cancel SQEs carry
// no completion: their CQEs are ignored.
#include "detail/io.hpp"

#include "detail/assert.hpp"

#include <cerrno>
#include <chrono>
#include <exception>

#include <cstdio>
#include <sys/utsname.h>
#include <unistd.h>
#include <vector>

namespace greenring::detail {

io_uring_sqe* io_op::sqe(clock::time_point deadline) {
  GREENRING_ASSERT(sqe_ == nullptr, "io_op::sqe called twice");
  deadline_ = deadline;
  sqe_ = h_.ring().sqe();
  return sqe_;
}

void wake_closer(io_counter& c) noexcept { hub::get().schedule(*c.closer); }

void io_op::on_deadline(timer_node* t) noexcept {
  auto* op = static_cast<io_op*>(t->ctx);
  if (op->done_) return;
  op->expired_ = true;
  op->h_.schedule(*op->owner_);  // the task submits the cancel itself
}

void io_op::submit_cancel() {
  cancel_sent_ = true;
  io_uring_sqe* c = h_.ring().sqe();
  io_uring_prep_cancel(c, static_cast<completion*>(this), 0);
  io_uring_sqe_set_data64(c, 0);
}

void io_op::on_complete(completion* c, int res, unsigned flags) noexcept {
  auto* op = static_cast<io_op*>(c);
  (void)flags;
  GREENRING_ASSERT(!op->done_, "an io_uring request completed twice");
  op->res_ = res;
  op->done_ = true;
  op->h_.schedule(*op->owner_);
}

void io_op::abandon(int res) noexcept { on_complete(this, res, 0); }

int io_op::wait(const char* what) {
  GREENRING_ASSERT(sqe_ != nullptr, "io_op::wait before io_op::sqe");
  uring& r = h_.ring();
  owner_ = &h_.current();
  hub::set_resume_hint(*owner_, counter_);
  io_uring_sqe_set_data(sqe_, static_cast<completion*>(this));
  r.add_in_flight(*this);
  const io_counter_use counted(counter_);
  struct disarm {
    hub& h;
    timer_node& t;
    ~disarm() { h.cancel(t); }
  } disarm_on_exit{h_, timer_};
  if (deadline_ != clock::time_point::max()) {
    timer_.fire = &on_deadline;
    timer_.ctx = this;
    h_.arm(timer_, deadline_);
  }
  try {
    while (!done_) {
      h_.block(what);
      if (expired_ && !done_) {
        // The deadline passed: cancel, and wait for the CQE that says
        // whether the request was cancelled or had completed anyway.
        submit_cancel();
        while (!done_) h_.block_uninterruptible(what);
      }
    }
  } catch (...) {
    // Killed, or a timeout scope expired: the kernel may still write into
    // the caller's buffer until the CQE says otherwise. Cancel, then wait
    // for that CQE, ignoring further kills (they stay pending).
    if (!done_) {
      cancelled_ = true;
      submit_cancel();
      while (!done_) h_.block_uninterruptible(what);
    }
    throw;
  }
  // The kernel's internal restart codes (ERESTARTSYS is 512) must not reach
  // callers, yet a request that io-wq was running when our cancel
  // interrupted it can post one (seen with SPLICE to a stalled socket), or
  // -EINTR. After a cancel either means "cancelled"; otherwise a restart
  // code is an interrupted call, -EINTR.
  if (res_ <= -512 && res_ >= -516) res_ = -EINTR;
  if (res_ == -EINTR && cancel_sent_) res_ = -ECANCELED;
  if (res_ == -ECANCELED && expired_ && !cancelled_) res_ = -ETIMEDOUT;
  return res_;
}

namespace {

// IORING_ASYNC_CANCEL_FD arrived in Linux 5.19 and cannot be probed.
bool kernel_cancels_by_fd() noexcept {
  static const bool yes = [] {
    utsname u{};
    if (::uname(&u) != 0) return false;
    unsigned major = 0, minor = 0;
    if (std::sscanf(u.release, "%u.%u", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 19);
  }();
  return yes;
}

}  // namespace

int poll_once(hub& h, int fd, io_counter* counter, short events, clock::time_point deadline, const char* what) {
  io_op op(h, fd, counter);
  io_uring_prep_poll_add(op.sqe(deadline), fd, static_cast<unsigned short>(events));
  return op.wait(what);
}

void cancel_fd(hub& h, int fd) {
  uring& r = h.ring();
  if (kernel_cancels_by_fd()) {
    io_uring_sqe* c = r.sqe();
    io_uring_prep_cancel_fd(c, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(c, 0);
    return;
  }
  // Collect first: sqe() may reap, which unlinks entries. The ops' frames
  // stay alive meanwhile: reaping only makes their tasks ready.
  std::vector<completion*> ops;
  r.for_each_in_flight([&ops, fd](completion& c) {
    if (c.fn == &io_op::on_complete && static_cast<io_op&>(c).fd() == fd) ops.push_back(&c);
  });
  for (completion* c : ops) {
    io_uring_sqe* s = r.sqe();
    io_uring_prep_cancel(s, c, 0);
    io_uring_sqe_set_data64(s, 0);
  }
}

}  // namespace greenring::detail

namespace greenring::detail {

void close_fd(int& fd, io_counter& c) noexcept {
  if (c.closing) {
    // Another task is closing it: wait until it is done, so that our caller
    // (maybe the owner's destructor) cannot free what it still uses.
    wait_node n;
    c.close_waiters.park_uninterruptible(n, "close");
    return;
  }
  if (fd < 0) return;
  c.closing = true;
  if (c.in_flight > 0) {
    // The ring holds its own reference to the file: closing the fd would not
    // stop these requests, and the number could be reused under them.
    hub& h = hub::get();
    try {
      cancel_fd(h, fd);
    } catch (...) {
      // No memory for the fallback's list: the requests end on their own.
    }
    c.closer = &h.current();
    while (c.in_flight > 0) h.block_uninterruptible("close");
    c.closer = nullptr;
  }
  ::close(fd);
  fd = -1;
  c.closing = false;
  c.close_waiters.wake_all();
}

}  // namespace greenring::detail
