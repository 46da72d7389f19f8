// greenring — readiness waits on descriptors greenring does not own.
#include "detail/io.hpp"

#include <greenring/detail/wait_list.hpp>
#include <greenring/poll.hpp>

#include <cerrno>
#include <string>

namespace greenring {

short wait_fd(int fd, short events, std::error_code& ec, duration timeout) {
  ec.clear();
  detail::hub& h = detail::hub::get();
  const auto deadline = detail::deadline_in(timeout);
  for (;;) {
    const int r = detail::poll_once(h, fd, nullptr, events, deadline, "poll");
    if (r >= 0) return static_cast<short>(r);
    if (r == -EINTR || r == -EAGAIN) continue;
    ec = std::error_code(-r, std::system_category());
    return 0;
  }
}

short wait_fd(int fd, short events, duration timeout) {
  std::error_code ec;
  short r = wait_fd(fd, events, ec, timeout);
  if (ec) throw std::system_error(ec, "poll fd " + std::to_string(fd));
  return r;
}

short wait_readable(int fd, duration timeout) { return wait_fd(fd, POLLIN, timeout); }
short wait_writable(int fd, duration timeout) { return wait_fd(fd, POLLOUT, timeout); }

void cancel_waits(int fd) {
  detail::hub& h = detail::hub::get();
  detail::cancel_fd(h, fd);
  // Submitted now, not with the next batch: a cancel by descriptor finds
  // its requests through the fd, which the caller may close next.
  h.ring().poll();
}

}  // namespace greenring
