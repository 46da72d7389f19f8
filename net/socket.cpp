// greenring — sockets on the hub's io_uring.
//
// Invariants: every request goes through sock_op, which keeps the socket's
// io_counter exact (close() waits on it) and never returns before the CQE
// (io_op). Sends always use IORING_OP_SEND/SENDMSG with MSG_NOSIGNAL, never
// write/writev, so a reset peer is an error and never a SIGPIPE. A CQE of
// -EINTR or -EAGAIN is retried here (after a poll for -EAGAIN), never
// surfaced. A cancelled call that had moved bytes marks the socket broken.
#include "../runtime/detail/io.hpp"

#include <greenring/detail/wait_list.hpp>
#include <greenring/file.hpp>
#include <greenring/hub.hpp>
#include <greenring/queue.hpp>
#include <greenring/reader.hpp>
#include <greenring/resolver.hpp>
#include <greenring/socket.hpp>
#include <greenring/timeout.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

namespace greenring {
namespace {

using detail::clock;

// sock_op's results beyond -errno.
constexpr int res_closed = -(1 << 20) - 1;
constexpr int res_broken = -(1 << 20) - 2;

std::error_code to_ec(int r) noexcept {
  if (r == res_closed) return make_error_code(io_errc::closed);
  if (r == res_broken) return make_error_code(io_errc::broken);
  return {-r, std::system_category()};
}

// A request's result as a byte count, its failure in `ec`.
std::size_t bytes_or(int r, std::error_code& ec) noexcept {
  if (r < 0) {
    ec = to_ec(r);
    return 0;
  }
  return static_cast<std::size_t>(r);
}

[[noreturn]] void throw_io(const char* op, const address& peer, std::error_code ec) {
  throw std::system_error(ec, std::string(op) + " " + peer.to_string());
}

// What sock_op does off its fast path lives in these, out of line, so that
// a task parked in a request keeps a small frame: a thousand tasks waiting
// each touch one stack page, not two.
[[gnu::noinline, gnu::cold]] void name_timeout(timeout_error& e, const char* what, const detail::socket_core& c) {
  if (e.where.empty()) e.where = std::string("timeout: ") + what + " " + c.peer.to_string();
}

// Runs one request on `c`'s fd, prepared by prep(sqe); see the invariants.
// `retry_events`: POLLIN/POLLOUT to wait for before retrying after a CQE
// -EAGAIN/-EINTR; 0 for requests that must not be repeated (connect).
// res_closed or res_broken when `c` can take no more calls, else 0.
int unusable(const detail::socket_core& c) noexcept {
  if (c.fd < 0 || c.closing) return res_closed;
  if (c.broken) return res_broken;
  return 0;
}

template <class Prep>
int sock_op(detail::socket_core& c, const char* what, clock::time_point deadline, short retry_events, Prep prep) {
  detail::hub& h = detail::hub::get();
  for (;;) {
    if (int u = unusable(c)) return u;
    detail::io_op op(h, c.fd, &c.counter);
    prep(op.sqe(deadline));
    int r;
    try {
      r = op.wait(what);
    } catch (timeout_error& e) {
      if (op.result() > 0) c.broken = true;
      name_timeout(e, what, c);
      throw;
    } catch (...) {
      if (op.result() > 0) c.broken = true;
      throw;
    }
    if (r < 0 && (c.closing || c.fd < 0)) return res_closed;
    if (retry_events && (r == -EINTR || r == -EAGAIN)) {
      // After a CQE of -EAGAIN: wait until the socket is ready, then retry.
      if (r == -EAGAIN && detail::poll_once(h, c.fd, &c.counter, retry_events, deadline, what) == -ETIMEDOUT)
        return -ETIMEDOUT;
      continue;
    }
    return r;
  }
}

// The write side of `c` (its `writer` semaphore), held for one whole write
// call (see socket_core). Waiting is out of line (a frame kept small).
[[gnu::noinline]] int wait_write_turn(detail::socket_core& c, clock::time_point deadline);

class write_turn {
 public:
  write_turn(detail::socket_core& c, clock::time_point deadline) : c_(c) {
    if (!c.writer.try_acquire()) err_ = wait_write_turn(c, deadline);
  }
  ~write_turn() {
    if (err_ == 0) c_.writer.release();
  }
  write_turn(const write_turn&) = delete;
  write_turn& operator=(const write_turn&) = delete;
  /// 0 when held; else -ETIMEDOUT, res_closed or res_broken.
  int error() const noexcept { return err_; }

 private:
  detail::socket_core& c_;
  int err_ = 0;
};

int wait_write_turn(detail::socket_core& c, clock::time_point deadline) {
  if (int u = unusable(c)) return u;
  // Counted like a request, so that close() waits until this waiter has
  // left (it may be the owner's destructor about to free `c`).
  const detail::io_counter_use counted(&c.counter);
  try {
    // FIFO; a waiter handed the turn and then killed passes it on.
    return c.writer.acquire(detail::time_left(deadline)) ? 0 : -ETIMEDOUT;
  } catch (timeout_error& e) {
    name_timeout(e, "send", c);
    throw;
  }
}

int new_socket(int family, int type) {
  int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

void set_int_opt(const detail::socket_core& c, int level, int name, int v, const char* what) {
  if (::setsockopt(c.fd, level, name, &v, sizeof v) != 0)
    throw_io(what, c.peer, {errno, std::system_category()});
}

address sock_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return address();
  return address::from_native(reinterpret_cast<sockaddr*>(&ss), len);
}

class io_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "greenring"; }
  std::string message(int e) const override {
    switch (static_cast<io_errc>(e)) {
      case io_errc::closed: return "socket closed during the call";
      case io_errc::broken:
        return "stream abandoned: an earlier cancelled call had already moved bytes";
      case io_errc::end_of_stream: return "end of stream";
      case io_errc::too_long: return "record longer than the limit (no delimiter)";
    }
    return "unknown greenring error";
  }
  std::error_condition default_error_condition(int e) const noexcept override {
    if (static_cast<io_errc>(e) == io_errc::closed) return std::errc::bad_file_descriptor;
    if (static_cast<io_errc>(e) == io_errc::broken) return std::errc::connection_aborted;
    return {e, *this};
  }
};

}  // namespace

const std::error_category& io_category() noexcept {
  static const io_category_impl c;
  return c;
}

namespace detail {

socket_core::socket_core(socket_core&& o) noexcept : peer(o.peer), broken(o.broken) {
  // Moving a socket with requests in flight would strand their counter.
  GREENRING_ASSERT(o.counter.in_flight == 0 && !o.counter.closing, "a socket was moved while a task was using it");
  fd = std::exchange(o.fd, -1);
}

socket_core& socket_core::operator=(socket_core&& o) noexcept {
  if (this != &o) {
    close();
    GREENRING_ASSERT(o.counter.in_flight == 0 && !o.counter.closing, "a socket was moved while a task was using it");
    fd = std::exchange(o.fd, -1);
    peer = o.peer;
    broken = o.broken;
    closing = false;
  }
  return *this;
}

void socket_core::close() noexcept {
  if (fd < 0 && !counter.closing) return;
  closing = true;
  close_fd(fd, counter);  // sets fd to -1; waits for a concurrent closer
}

}  // namespace detail

// ---------------------------------------------------------------- tcp_stream

tcp_stream tcp_stream::connect(const address& to, std::error_code& ec, duration timeout) {
  ec.clear();
  tcp_stream s;
  int fd = new_socket(to.family(), SOCK_STREAM);
  if (fd < 0) {
    ec = to_ec(fd);
    return s;
  }
  s.core_.fd = fd;
  s.core_.peer = to;
  int r = sock_op(s.core_, "connect", detail::deadline_in(timeout), 0, [&](io_uring_sqe* q) {
    io_uring_prep_connect(q, fd, to.native(), to.native_size());
  });
  if (r < 0) {
    ec = to_ec(r);
    s.close();
    return s;
  }
  // As Go does: small request/response exchanges must not wait for Nagle.
  if (to.is_ip()) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return s;
}

tcp_stream tcp_stream::connect(const address& to, duration timeout) {
  std::error_code ec;
  tcp_stream s = connect(to, ec, timeout);
  if (ec) throw_io("connect", to, ec);
  return s;
}

namespace {

// RFC 8305 section 4: alternate the families, keeping each family's order.
std::vector<address> interleave_families(const std::vector<address>& in) {
  std::vector<address> first, second;
  const int lead = in.empty() ? AF_UNSPEC : in.front().family();
  for (const auto& a : in) (a.family() == lead ? first : second).push_back(a);
  std::vector<address> out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

}  // namespace

tcp_stream tcp_stream::connect(const std::vector<address>& candidates, std::error_code& ec, duration timeout) {
  ec.clear();
  if (candidates.empty()) {
    ec = std::make_error_code(std::errc::host_unreachable);
    return {};
  }
  const auto dl = detail::deadline_in(timeout);
  if (candidates.size() == 1) return connect(candidates.front(), ec, timeout);
  const std::vector<address> order = interleave_families(candidates);
  // Attempts run as tasks; each reports its index on `ended` when it ends.
  // They use this frame: the guard, destroyed first, kills (and so waits
  // for) any still running before the rest goes.
  queue<std::size_t> ended;
  std::vector<tcp_stream> got(order.size());
  std::vector<std::error_code> errs(order.size());
  struct attempts {
    std::vector<task<void>> running;
    ~attempts() {
      for (auto& t : running) t.kill();
    }
  } att;
  std::size_t next = 0, live = 0;
  auto launch = [&] {
    const std::size_t i = next++;
    ++live;
    att.running.push_back(spawn([&, i] {
      got[i] = connect(order[i], errs[i], detail::time_left(dl));
      ended.put(i);
    }));
  };
  launch();
  for (;;) {
    std::optional<std::size_t> done;
    const auto now = clock::now();
    if (now >= dl) break;
    const duration wait = next < order.size() ? std::min<duration>(attempt_delay, dl - now) : dl - now;
    try {
      done = ended.get(wait);
    } catch (const queue_empty&) {
    }
    if (!done) {
      if (next < order.size()) launch();  // the last one is slow: start the next beside it
      continue;
    }
    --live;
    if (!errs[*done]) {
      ec.clear();
      return std::move(got[*done]);  // the guard cancels the others
    }
    ec = errs[*done];
    if (next < order.size()) launch();  // failed: the next one at once
    else if (live == 0) return {};
  }
  ec = std::make_error_code(std::errc::timed_out);
  return {};
}

tcp_stream tcp_stream::connect(const std::vector<address>& candidates, duration timeout) {
  std::error_code ec;
  tcp_stream s = connect(candidates, ec, timeout);
  if (ec) throw_io("connect", candidates.empty() ? address() : candidates.back(), ec);
  return s;
}

tcp_stream tcp_stream::connect(std::string_view host, std::uint16_t port, std::error_code& ec, duration timeout) {
  ec.clear();
  const auto dl = detail::deadline_in(timeout);
  std::vector<address> addrs = resolve(host, port, ec, AF_UNSPEC, detail::time_left(dl));
  if (ec) return {};
  return connect(addrs, ec, detail::time_left(dl));
}

tcp_stream tcp_stream::connect(std::string_view host, std::uint16_t port, duration timeout) {
  std::error_code ec;
  const auto dl = detail::deadline_in(timeout);
  std::vector<address> addrs = resolve(host, port, ec, AF_UNSPEC, detail::time_left(dl));
  if (ec) throw std::system_error(ec, "resolve " + std::string(host));
  tcp_stream s = connect(addrs, ec, detail::time_left(dl));
  if (ec) {
    std::string what = "connect " + std::string(host) + ":" + std::to_string(port);
    if (!addrs.empty()) what += " (" + addrs.back().to_string() + (addrs.size() > 1 ? " and others" : "") + ")";
    throw std::system_error(ec, what);
  }
  return s;
}

tcp_stream tcp_stream::from_fd(int fd) {
  tcp_stream s;
  s.core_.fd = fd;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    s.core_.peer = address::from_native(reinterpret_cast<sockaddr*>(&ss), len);
  return s;
}

std::size_t tcp_stream::read_some(mutable_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  int r = sock_op(core_, "recv", detail::deadline_in(timeout), POLLIN, [&](io_uring_sqe* q) {
    io_uring_prep_recv(q, core_.fd, buf.data, buf.size, 0);
  });
  return bytes_or(r, ec);
}

void tcp_stream::wait_readable(std::error_code& ec, duration timeout) {
  ec.clear();
  int r = sock_op(core_, "poll", detail::deadline_in(timeout), 0, [&](io_uring_sqe* q) {
    io_uring_prep_poll_add(q, core_.fd, POLLIN);
  });
  bytes_or(r, ec);
}

std::size_t tcp_stream::try_read_some(mutable_buffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (int u = unusable(core_)) {
    ec = to_ec(u);
    return 0;
  }
  for (;;) {
    ssize_t n = ::recv(core_.fd, buf.data, buf.size, MSG_DONTWAIT);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? std::make_error_code(std::errc::operation_would_block)
                                                   : std::error_code(errno, std::system_category());
    return 0;
  }
}

void tcp_stream::wait_readable(duration timeout) {
  std::error_code ec;
  wait_readable(ec, timeout);
  if (ec) throw_io("poll", core_.peer, ec);
}

std::size_t tcp_stream::read_some(mutable_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t n = read_some(buf, ec, timeout);
  if (ec) throw_io("recv", core_.peer, ec);
  return n;
}

std::size_t tcp_stream::read_exact(mutable_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  return detail::read_rest(*this, static_cast<char*>(buf.data), buf.size, 0, ec, detail::deadline_in(timeout));
}

void tcp_stream::read_exact(mutable_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t got = read_exact(buf, ec, timeout);
  if (ec)
    throw std::system_error(ec, "read_exact " + core_.peer.to_string() + " (after " + std::to_string(got) + " of " +
                                    std::to_string(buf.size) + " bytes)");
}

namespace {
// A pipe for one send_file, closed however the call ends.
struct splice_pipe {
  int fd[2] = {-1, -1};
  splice_pipe() noexcept {
    if (::pipe2(fd, O_CLOEXEC) != 0) fd[0] = fd[1] = -1;
  }
  ~splice_pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  splice_pipe(const splice_pipe&) = delete;
  splice_pipe& operator=(const splice_pipe&) = delete;
};
}  // namespace

std::size_t tcp_stream::send_file(int in, std::uint64_t offset, std::size_t count, std::error_code& ec,
                                  duration timeout) {
  ec.clear();
  if (int u = unusable(core_)) {
    ec = to_ec(u);
    return 0;
  }
  if (count == 0) return 0;
  if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return 0;
  }
  const auto dl = detail::deadline_in(timeout);
  write_turn turn(core_, dl);
  if (turn.error()) return bytes_or(turn.error(), ec);
  splice_pipe p;
  if (p.fd[0] < 0) {
    ec = {errno, std::system_category()};
    return 0;
  }
  // A bigger pipe moves more per round trip (1 MiB is the default
  // pipe-max-size for unprivileged processes); the default 64 KiB will do.
  const int cap = ::fcntl(p.fd[1], F_SETPIPE_SZ, 1 << 20);
  const std::size_t chunk = cap > 0 ? static_cast<std::size_t>(cap) : 64 * 1024;
  detail::hub& h = detail::hub::get();
  std::size_t sent = 0;
  while (sent < count) {
    // File -> pipe. Not this socket's request: close() does not wait for
    // it, and the next step then finds the socket closed.
    const unsigned want = static_cast<unsigned>(std::min(count - sent, chunk));
    int r;
    {
      detail::io_op op(h, in, nullptr);
      io_uring_prep_splice(op.sqe(dl), in, static_cast<std::int64_t>(offset + sent), p.fd[1], -1, want, SPLICE_F_MOVE);
      r = op.wait("sendfile");
    }
    if (r < 0) {
      ec = to_ec(r);
      return sent;
    }
    if (r == 0) return sent;  // the file ended
    // Pipe -> socket, until the pipe is empty.
    for (auto left = static_cast<unsigned>(r); left > 0;) {
      int w = sock_op(core_, "sendfile", dl, POLLOUT, [&](io_uring_sqe* q) {
        io_uring_prep_splice(q, p.fd[0], -1, core_.fd, -1, left, SPLICE_F_MOVE);
      });
      if (w <= 0) {
        // What is left in the pipe was never sent and goes with it: the
        // peer has exactly the first `sent` bytes, and a caller may go on
        // from offset + sent.
        ec = w < 0 ? to_ec(w) : make_error_code(io_errc::broken);
        return sent;
      }
      left -= static_cast<unsigned>(w);
      sent += static_cast<std::size_t>(w);
    }
  }
  return sent;
}

std::size_t tcp_stream::send_file(const file& f, std::uint64_t offset, std::size_t count, duration timeout) {
  return send_file(f.native_handle(), offset, count, timeout);
}

std::size_t tcp_stream::send_file(int in, std::uint64_t offset, std::size_t count, duration timeout) {
  std::error_code ec;
  std::size_t n = send_file(in, offset, count, ec, timeout);
  if (ec) throw_io("sendfile", core_.peer, ec);
  return n;
}

namespace {
// One send, the write turn already held.
int send_some(detail::socket_core& c, const_buffer buf, clock::time_point deadline) {
  return sock_op(c, "send", deadline, POLLOUT,
                 [&](io_uring_sqe* q) { io_uring_prep_send(q, c.fd, buf.data, buf.size, MSG_NOSIGNAL); });
}
}  // namespace

std::size_t tcp_stream::write_some(const_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  const auto dl = detail::deadline_in(timeout);
  write_turn turn(core_, dl);
  if (turn.error()) return bytes_or(turn.error(), ec);
  return bytes_or(send_some(core_, buf, dl), ec);
}

std::size_t tcp_stream::write_some(const_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t n = write_some(buf, ec, timeout);
  if (ec) throw_io("send", core_.peer, ec);
  return n;
}

std::size_t tcp_stream::write_all(const_buffer buf, std::error_code& ec, duration timeout) {
  const auto dl = detail::deadline_in(timeout);
  auto* p = static_cast<const char*>(buf.data);
  std::size_t sent = 0;
  ec.clear();
  write_turn turn(core_, dl);
  if (turn.error()) return bytes_or(turn.error(), ec);
  do {
    std::size_t n = bytes_or(send_some(core_, const_buffer(p + sent, buf.size - sent), dl), ec);
    if (ec) return sent;
    sent += n;
  } while (sent < buf.size);
  return sent;
}

void tcp_stream::write_all(const_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t sent = write_all(buf, ec, timeout);
  if (ec)
    throw std::system_error(ec, "send " + core_.peer.to_string() + " (after " + std::to_string(sent) + " of " +
                                    std::to_string(buf.size) + " bytes)");
}

std::size_t tcp_stream::write_all(std::span<const const_buffer> bufs, std::error_code& ec, duration timeout) {
  const auto dl = detail::deadline_in(timeout);
  // Bounded for the task's stack (see sock_op); more pieces take more calls.
  constexpr std::size_t max_iov = 16;
  std::size_t sent = 0;
  std::size_t i = 0, off = 0;  // position: buffer i, byte off
  ec.clear();
  write_turn turn(core_, dl);
  if (turn.error()) return bytes_or(turn.error(), ec);
  while (i < bufs.size()) {
    if (bufs[i].size == off) {
      ++i;
      off = 0;
      continue;
    }
    iovec iov[max_iov];
    std::size_t n = 0;
    for (std::size_t j = i; j < bufs.size() && n < max_iov; ++j) {
      std::size_t skip = j == i ? off : 0;
      if (bufs[j].size == skip) continue;
      iov[n].iov_base = const_cast<char*>(static_cast<const char*>(bufs[j].data) + skip);
      iov[n].iov_len = bufs[j].size - skip;
      ++n;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    // One piece left: a plain send, which the kernel handles with less work.
    int r = sock_op(core_, n == 1 ? "send" : "sendmsg", dl, POLLOUT, [&](io_uring_sqe* q) {
      if (n == 1)
        io_uring_prep_send(q, core_.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
      else
        io_uring_prep_sendmsg(q, core_.fd, &msg, MSG_NOSIGNAL);
    });
    if (r < 0) {
      ec = to_ec(r);
      return sent;
    }
    std::size_t k = static_cast<std::size_t>(r);
    sent += k;
    while (k > 0 && i < bufs.size()) {  // advance past what the kernel took
      std::size_t rest = bufs[i].size - off;
      if (k < rest) {
        off += k;
        k = 0;
      } else {
        k -= rest;
        ++i;
        off = 0;
      }
    }
  }
  return sent;
}

void tcp_stream::write_all(std::span<const const_buffer> bufs, duration timeout) {
  std::error_code ec;
  std::size_t sent = write_all(bufs, ec, timeout);
  if (ec) throw std::system_error(ec, "sendmsg " + core_.peer.to_string() + " (after " + std::to_string(sent) + " bytes)");
}

void tcp_stream::shutdown(int how) {
  if (::shutdown(core_.fd, how) != 0 && errno != ENOTCONN) throw_io("shutdown", core_.peer, {errno, std::system_category()});
}

void tcp_stream::set_nodelay(bool on) { set_int_opt(core_, IPPROTO_TCP, TCP_NODELAY, on, "setsockopt TCP_NODELAY"); }

void tcp_stream::set_keepalive(bool on, int idle_seconds) {
  set_int_opt(core_, SOL_SOCKET, SO_KEEPALIVE, on, "setsockopt SO_KEEPALIVE");
  if (on && idle_seconds > 0) set_int_opt(core_, IPPROTO_TCP, TCP_KEEPIDLE, idle_seconds, "setsockopt TCP_KEEPIDLE");
}

address tcp_stream::local() const { return sock_name(core_.fd); }

// -------------------------------------------------------------- tcp_listener

tcp_listener tcp_listener::bind(const address& at, int backlog, bool reuse_port) {
  tcp_listener l;
  // Non-blocking, for accept's direct accept4 (the ring does not care).
  int fd = new_socket(at.family(), SOCK_STREAM | SOCK_NONBLOCK);
  if (fd < 0) throw_io("socket", at, to_ec(fd));
  l.core_.fd = fd;
  l.core_.peer = at;
  if (at.is_ip()) set_int_opt(l.core_, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt SO_REUSEADDR");
  if (reuse_port) set_int_opt(l.core_, SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt SO_REUSEPORT");
  if (::bind(fd, at.native(), at.native_size()) != 0) throw_io("bind", at, {errno, std::system_category()});
  if (::listen(fd, backlog) != 0) throw_io("listen", at, {errno, std::system_category()});
  l.core_.peer = sock_name(fd);
  if (l.core_.peer.family() == AF_UNSPEC) l.core_.peer = at;
  return l;
}

tcp_stream tcp_listener::accept(std::error_code& ec, duration timeout) {
  ec.clear();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  // Go's way: a connection already queued is taken with a direct accept4,
  // so a burst is drained at once instead of one per hub turn (which let
  // the backlog overflow under connection churn: SYNs dropped, clients
  // waiting out a 1 s retransmit). The ring only when none is queued, and
  // after accept_burst in a row, so that the acceptor parks and the tasks
  // it spawned get to run.
  int r = -EAGAIN;
  if (streak_ < accept_burst && !unusable(core_)) {
    r = ::accept4(core_.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (r < 0) r = -errno;
  }
  if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR) {
    streak_ = 0;
    r = sock_op(core_, "accept", detail::deadline_in(timeout), POLLIN, [&](io_uring_sqe* q) {
      len = sizeof ss;
      io_uring_prep_accept(q, core_.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    });
  } else {
    ++streak_;
  }
  if (r < 0) {
    ec = to_ec(r);
    return {};
  }
  tcp_stream s = tcp_stream::from_fd(r);
  if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
    int one = 1;
    ::setsockopt(r, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return s;
}

tcp_stream tcp_listener::accept(duration timeout) {
  std::error_code ec;
  tcp_stream s = accept(ec, timeout);
  if (ec) throw_io("accept", core_.peer, ec);
  return s;
}

// ---------------------------------------------------------------- udp_socket

udp_socket udp_socket::open(int family) {
  udp_socket u;
  int fd = new_socket(family, SOCK_DGRAM);
  if (fd < 0) throw std::system_error(to_ec(fd), "socket (datagram)");
  u.core_.fd = fd;
  return u;
}

udp_socket udp_socket::bind(const address& at) {
  udp_socket u = open(at.family());
  if (::bind(u.core_.fd, at.native(), at.native_size()) != 0) throw_io("bind", at, {errno, std::system_category()});
  u.core_.peer = sock_name(u.core_.fd);
  return u;
}

address udp_socket::local() const { return sock_name(core_.fd); }

std::size_t udp_socket::send_to(const_buffer buf, const address& to, std::error_code& ec, duration timeout) {
  ec.clear();
  iovec iov{const_cast<void*>(buf.data), buf.size};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to.native());
  msg.msg_namelen = to.native_size();
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  detail::socket_core& c = core_;
  address saved = c.peer;
  c.peer = to;  // for the messages
  int r = sock_op(c, "sendto", detail::deadline_in(timeout), POLLOUT, [&](io_uring_sqe* q) {
    io_uring_prep_sendmsg(q, c.fd, &msg, MSG_NOSIGNAL);
  });
  c.peer = saved;
  c.broken = false;  // datagrams cannot get out of step
  return bytes_or(r, ec);
}

std::size_t udp_socket::send_to(const_buffer buf, const address& to, duration timeout) {
  std::error_code ec;
  std::size_t n = send_to(buf, to, ec, timeout);
  if (ec) throw_io("sendto", to, ec);
  return n;
}

udp_socket::received udp_socket::receive_from(mutable_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  sockaddr_storage ss{};
  iovec iov{buf.data, buf.size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  int r = sock_op(core_, "recvfrom", detail::deadline_in(timeout), POLLIN, [&](io_uring_sqe* q) {
    msg.msg_name = &ss;
    msg.msg_namelen = sizeof ss;
    io_uring_prep_recvmsg(q, core_.fd, &msg, 0);
  });
  core_.broken = false;
  if (r < 0) {
    ec = to_ec(r);
    return {0, address(), false};
  }
  return {static_cast<std::size_t>(r), address::from_native(reinterpret_cast<sockaddr*>(&ss), msg.msg_namelen),
          (msg.msg_flags & MSG_TRUNC) != 0};
}

udp_socket::received udp_socket::receive_from(mutable_buffer buf, duration timeout) {
  std::error_code ec;
  received r = receive_from(buf, ec, timeout);
  if (ec) throw_io("recvfrom", local(), ec);
  return r;
}

void udp_socket::connect(const address& to) {
  if (core_.fd < 0) throw_io("connect", to, make_error_code(io_errc::closed));
  if (::connect(core_.fd, to.native(), to.native_size()) != 0) throw_io("connect", to, {errno, std::system_category()});
  core_.peer = to;
  connected_ = true;
}

std::size_t udp_socket::send(const_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  int r = sock_op(core_, "send", detail::deadline_in(timeout), POLLOUT, [&](io_uring_sqe* q) {
    io_uring_prep_send(q, core_.fd, buf.data, buf.size, MSG_NOSIGNAL);
  });
  core_.broken = false;  // datagrams cannot get out of step
  return bytes_or(r, ec);
}

std::size_t udp_socket::send(const_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t n = send(buf, ec, timeout);
  if (ec) throw_io("send", core_.peer, ec);
  return n;
}

std::size_t udp_socket::receive(mutable_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  int r = sock_op(core_, "recv", detail::deadline_in(timeout), POLLIN, [&](io_uring_sqe* q) {
    io_uring_prep_recv(q, core_.fd, buf.data, buf.size, 0);
  });
  core_.broken = false;
  return bytes_or(r, ec);
}

std::size_t udp_socket::receive(mutable_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t n = receive(buf, ec, timeout);
  if (ec) throw_io("recv", core_.peer, ec);
  return n;
}

// ----------------------------------------------------------- datagram_server

datagram_server::datagram_server(udp_socket socket, handler_type handler, datagram_server_options opts)
    : socket_(std::move(socket)), local_(socket_.local()), handler_(std::move(handler)), opts_(opts) {
  opts_.max_handlers = std::max<std::size_t>(opts_.max_handlers, 1);
  opts_.max_datagram = std::max<std::size_t>(opts_.max_datagram, 1);
}

datagram_server::datagram_server(const address& at, handler_type handler, datagram_server_options opts)
    : datagram_server(udp_socket::bind(at), std::move(handler), opts) {}

datagram_server::~datagram_server() {
  try {
    stop(duration::zero());
  } catch (...) {
    // Killed while stopping: the handlers were killed already.
  }
}

namespace {
// Names `g` as the one to wake while it waits; clears that only if it is
// still `g` (a stop() may have taken the slot meanwhile).
struct waiting_here {
  waiting_here(greenlet*& slot, greenlet& g) noexcept : slot_(slot), g_(g) { slot_ = &g_; }
  ~waiting_here() {
    if (slot_ == &g_) slot_ = nullptr;
  }
  waiting_here(const waiting_here&) = delete;
  waiting_here& operator=(const waiting_here&) = delete;
  greenlet*& slot_;
  greenlet& g_;
};
}  // namespace

namespace {
// A server's stop(): waits up to `grace` for its handler tasks (those in
// `tasks`, which each schedule `waiter` as they end) to finish, then kills
// the rest. A handler that calls stop() waits for the others, not itself.
void finish_tasks(std::map<std::uint64_t, any_task>& tasks, greenlet*& waiter, duration grace, const char* what) {
  const std::uint64_t self = greenlet::current().id();
  auto others = [&] {
    std::size_t n = 0;
    for (auto& [k, t] : tasks) n += t.id() != self;
    return n;
  };
  if (others() > 0 && grace > duration::zero()) {
    detail::hub& h = detail::hub::get();
    detail::wake_timer timer(h, h.current(), detail::deadline_in(grace));
    waiting_here w(waiter, h.current());
    while (others() > 0 && !timer.fired) h.block(what);
  }
  std::vector<any_task> rest;
  for (auto& [k, t] : tasks)
    if (t.id() != self) rest.push_back(t);
  killall(rest);
}
}  // namespace

void datagram_server::wake_waiter() noexcept {
  if (waiter_) detail::hub::get().schedule(*waiter_);
}

void datagram_server::serve_forever() {
  using namespace std::chrono_literals;
  detail::hub& h = detail::hub::get();
  // On the heap: a 64 KiB buffer on the task's stack would need a big stack.
  std::vector<char> buf(opts_.max_datagram);
  duration backoff = duration::zero();
  bool reported = false;
  while (!stopping_) {
    if (tasks_.size() >= opts_.max_handlers) {
      // At the limit: receive nothing until a handler ends (or stop()).
      waiting_here w(waiter_, h.current());
      while (!stopping_ && tasks_.size() >= opts_.max_handlers) h.block("datagram_server: max_handlers running");
      continue;
    }
    std::error_code ec;
    const udp_socket::received got = socket_.receive_from(mutable_buffer(buf.data(), buf.size()), ec);
    if (ec) {
      if (stopping_ || ec == io_errc::closed) break;
      const int e = ec.category() == std::system_category() ? ec.value() : 0;
      // An ICMP error for an earlier send_to, or a signal: not ours to stop for.
      if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EINTR) continue;
      if (!reported)
        std::fprintf(stderr, "greenring: recvfrom on %s: %s; backing off until it succeeds\n",
                     local_.to_string().c_str(), ec.message().c_str());
      reported = true;
      backoff = std::clamp<duration>(backoff * 2, 10ms, 1s);
      sleep(backoff);
      continue;
    }
    if (reported) std::fprintf(stderr, "greenring: recvfrom on %s works again\n", local_.to_string().c_str());
    reported = false;
    backoff = duration::zero();
    const std::uint64_t key = ++received_;
    any_task t = spawn([this, key](std::string data, address from) {
      struct leave {
        datagram_server* srv;
        std::uint64_t key;
        ~leave() {
          srv->tasks_.erase(key);
          srv->wake_waiter();
        }
      } on_exit{this, key};
      handler_(data, from, socket_);
    }, std::string(buf.data(), std::min(got.size, buf.size())), got.from);
    // spawn() only queues the task; were it ever to have run to its end
    // already, it must not be kept.
    if (t.ready()) continue;
    tasks_.emplace(key, std::move(t));
  }
}

void datagram_server::start() {
  receiver_ = spawn(task_options{"datagram_server " + local_.to_string()}, [this] { serve_forever(); });
}

void datagram_server::stop(duration grace) {
  stopping_ = true;
  wake_waiter();     // a receive loop waiting for a free handler slot
  socket_.close();   // cancels the receive in flight
  if (receiver_ && receiver_.id() != greenlet::current().id()) receiver_.join();
  finish_tasks(tasks_, waiter_, grace, "datagram_server stop");
}

// ------------------------------------------------------------- stream_server

stream_server::stream_server(tcp_listener listener, handler_type handler)
    : listener_(std::move(listener)), local_(listener_.local()), handler_(std::move(handler)) {}

stream_server::stream_server(const address& at, handler_type handler)
    : stream_server(tcp_listener::bind(at), std::move(handler)) {}

stream_server::~stream_server() {
  try {
    stop(duration::zero());
  } catch (...) {
    // Killed while stopping: the connections were killed already.
  }
}

void stream_server::serve_forever() {
  using namespace std::chrono_literals;
  duration backoff = duration::zero();
  bool reported = false;
  while (!stopping_) {
    std::error_code ec;
    tcp_stream s = listener_.accept(ec);
    if (ec) {
      if (stopping_ || ec == io_errc::closed) break;
      const int e = ec.category() == std::system_category() ? ec.value() : 0;
      if (e == ECONNABORTED || e == EPROTO || e == EPERM || e == EINTR) continue;  // that client's problem
      // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or
      // anything unexpected: say so once, then back off; never spin.
      if (!reported)
        std::fprintf(stderr, "greenring: accept on %s: %s; backing off until it succeeds\n",
                     local_.to_string().c_str(), ec.message().c_str());
      reported = true;
      backoff = std::clamp<duration>(backoff * 2, 10ms, 1s);
      sleep(backoff);
      continue;
    }
    if (reported) std::fprintf(stderr, "greenring: accept on %s works again\n", local_.to_string().c_str());
    reported = false;
    backoff = duration::zero();
    const std::uint64_t key = ++accepted_;
    any_task t = spawn([this, key](tcp_stream conn) {
      struct leave {
        stream_server* srv;
        std::uint64_t key;
        ~leave() {
          srv->conns_.erase(key);
          if (srv->stop_waiter_) detail::hub::get().schedule(*srv->stop_waiter_);
        }
      } on_exit{this, key};
      handler_(conn);
    }, std::move(s));
    conns_.emplace(key, std::move(t));
  }
}

void stream_server::start() {
  acceptor_ = spawn(task_options{"stream_server " + local_.to_string()}, [this] { serve_forever(); });
}

void stream_server::stop(duration grace) {
  stopping_ = true;
  listener_.close();  // cancels the accept in flight
  if (acceptor_ && acceptor_.id() != greenlet::current().id()) acceptor_.join();
  finish_tasks(conns_, stop_waiter_, grace, "stream_server stop");
}

}  // namespace greenring
