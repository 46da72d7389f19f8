// greenring — one io_uring request made by a task and waited on in place
// (internal).
//
//   io_op op(h, fd, counter);                   // counter: the socket's, or nullptr
//   io_uring_prep_recv(op.sqe(deadline), fd, buf, len, 0);
//   int res = op.wait("recv");                  // -errno or the result
//
// Lifetime rule (RELIABILITY U1): the op, and every buffer it names, lives
// in the waiting frame; `wait` does not return or throw until the kernel has
// posted the op's CQE. When the task is killed or its `timeout` scope
// expires while the request is in flight, `wait` submits an async cancel and
// keeps waiting, deaf to further kills, for the terminal CQE; only then does
// the exception continue. Whatever that CQE says (cancelled, completed
// anyway, failed) is left in `result()` for the caller to inspect.
//
// A per-call deadline is a hub timer, not a kernel linked timeout: most
// deadlines never fire (an idle timeout of 60 s on every read), and the
// hub's timer FIFO arms and disarms them in O(1) in user space, where a
// linked timeout costs an SQE, an hrtimer and the ring's timeout lock each
// time. When it fires, the waiting task submits an async cancel and waits
// for the CQE as for a kill; a cancelled result becomes -ETIMEDOUT, one that
// completed anyway is kept.
#pragma once

#include "hub.hpp"
#include "uring.hpp"

#include <greenring/detail/io_counter.hpp>

#include <liburing.h>

#include <cstdint>

namespace greenring::detail {

class io_op final : public completion {
 public:
  io_op(hub& h, int fd, io_counter* counter) noexcept : h_(h), fd_(fd), counter_(counter) { fn = &on_complete; }
  ~io_op() = default;
  io_op(const io_op&) = delete;
  io_op& operator=(const io_op&) = delete;

  /// The SQE to prepare; `deadline` bounds the wait for its completion.
  io_uring_sqe* sqe(clock::time_point deadline = clock::time_point::max());
  /// Submits (with the hub's next batch) and parks until the CQE. Returns its
  /// `res`: a result, or -errno; -ETIMEDOUT when the deadline given to sqe()
  /// expired first. Throws the caller's kill/timeout after the CQE arrived.
  int wait(const char* what);

  int result() const noexcept { return res_; }
  bool done() const noexcept { return done_; }
  int fd() const noexcept { return fd_; }

  /// The hub's list of every op in flight (for fork and diagnostics).
  io_op* prev_ = nullptr;
  io_op* next_ = nullptr;
  /// Completes the op with `res` without a CQE: only for a forked child,
  /// whose copy of the op will never get one from the parent's ring.
  void abandon(int res) noexcept;

  static void on_complete(completion* c, int res, unsigned flags) noexcept;

 private:
  static void on_deadline(timer_node* t) noexcept;
  void submit_cancel();
  hub& h_;
  int fd_;
  io_counter* counter_;
  io_uring_sqe* sqe_ = nullptr;
  greenlet* owner_ = nullptr;
  clock::time_point deadline_ = clock::time_point::max();
  timer_node timer_;
  int res_ = 0;
  bool done_ = false;
  bool cancelled_ = false;  // by a kill or a timeout scope
  bool expired_ = false;    // the deadline fired before the CQE
  bool cancel_sent_ = false;  // an async cancel of this request was submitted
};

/// One POLL_ADD of `fd` for `events`, waited on as any io_op (`counter`:
/// the descriptor's, so close() cancels it, or nullptr): the ready events,
/// -ETIMEDOUT after `deadline`, or -errno. Out of line: a task parked here
/// keeps a small frame.
int poll_once(hub& h, int fd, io_counter* counter, short events, clock::time_point deadline, const char* what);

/// Submits a cancel for every request on `fd` and returns; the requests'
/// own CQEs follow. Never dropped: a full submission queue is flushed first.
void cancel_fd(hub& h, int fd);

}  // namespace greenring::detail
