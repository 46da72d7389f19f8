// greenring — waiting for readiness of any file descriptor, for code that
// does its own IO on it: a C client library in non-blocking mode (libpq,
// hiredis, libcurl's multi interface), a pipe, an inotify or timer fd.
// gevent's wait_read / wait_write, Go's netpoller, PhotonLibOS's
// wait_for_fd_readable.
//
//   ::fcntl(fd, F_SETFL, O_NONBLOCK);
//   for (;;) {
//     ssize_t n = ::read(fd, buf, sizeof buf);
//     if (n >= 0 || errno != EAGAIN) break;
//     greenring::wait_readable(fd);  // parks this task until there is more
//   }
//
// The wait is a poll request on the hub's ring. The descriptor stays the
// caller's: close it only when no task waits on it, or first call
// cancel_waits(fd), which ends those waits with operation_canceled (the
// ring holds its own reference to the file, so closing alone would not).
#pragma once

#include <greenring/detail/duration.hpp>

#include <poll.h>

#include <system_error>

namespace greenring {

/// Parks until `fd` has one of `events` (POLLIN, POLLOUT, POLLPRI, ...) or
/// an error or hang-up; the events it has. A timeout is
/// std::errc::timed_out, cancel_waits() std::errc::operation_canceled, a bad
/// descriptor EBADF; the throwing form names the fd ("poll fd 7: ...").
short wait_fd(int fd, short events, duration timeout = forever);
short wait_fd(int fd, short events, std::error_code& ec, duration timeout = forever);
/// wait_fd(fd, POLLIN, ...) and wait_fd(fd, POLLOUT, ...).
short wait_readable(int fd, duration timeout = forever);
short wait_writable(int fd, duration timeout = forever);

/// Ends every greenring wait and request on `fd` made from this thread;
/// each fails with std::errc::operation_canceled. Returns once they have.
void cancel_waits(int fd);

}  // namespace greenring
