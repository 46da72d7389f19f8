// greenring — wait_signal: a signalfd read on the hub's ring.
//
// The signalfd lives for one wait; the signals stay blocked afterwards (an
// unblocked SIGINT arriving between two waits would kill the process).
#include "detail/io.hpp"

#include <greenring/signal.hpp>

#include <pthread.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace greenring {
namespace {

sigset_t make_set(std::initializer_list<int> sigs) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : sigs)
    if (sigaddset(&set, s) != 0) throw std::system_error(EINVAL, std::system_category(), "wait_signal: bad signal number " + std::to_string(s));
  return set;
}

}  // namespace

void block_signals(std::initializer_list<int> sigs) {
  sigset_t set = make_set(sigs);
  if (int e = pthread_sigmask(SIG_BLOCK, &set, nullptr)) throw std::system_error(e, std::system_category(), "pthread_sigmask");
}

int wait_signal(std::initializer_list<int> sigs, duration timeout) {
  sigset_t set = make_set(sigs);
  if (int e = pthread_sigmask(SIG_BLOCK, &set, nullptr)) throw std::system_error(e, std::system_category(), "pthread_sigmask");
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "signalfd");
  detail::io_counter counter;
  struct closer {
    int& fd;
    detail::io_counter& c;
    ~closer() { detail::close_fd(fd, c); }
  } close_on_exit{fd, counter};
  detail::hub& h = detail::hub::get();
  const auto deadline = timeout == forever ? detail::clock::time_point::max() : detail::deadline_after(timeout);
  for (;;) {
    signalfd_siginfo info{};
    detail::io_op op(h, fd, &counter);
    io_uring_prep_read(op.sqe(deadline), fd, &info, sizeof info, 0);
    int r = op.wait("wait_signal");
    if (r == static_cast<int>(sizeof info)) return static_cast<int>(info.ssi_signo);
    if (r == -ETIMEDOUT) return 0;
    if (r == -EINTR || r == -EAGAIN) {
      // Nothing pending yet on a non-blocking signalfd: wait until readable.
      detail::io_op p(h, fd, &counter);
      io_uring_prep_poll_add(p.sqe(deadline), fd, POLLIN);
      if (p.wait("wait_signal") == -ETIMEDOUT) return 0;
      continue;
    }
    throw std::system_error(-r, std::system_category(), "wait_signal: read signalfd");
  }
}

}  // namespace greenring
