// greenring — TCP, Unix-domain and UDP sockets that park the calling task
// instead of blocking the thread.
//
//   auto conn = greenring::tcp_stream::connect("example.com", 80);
//   conn.write_all("GET / HTTP/1.0\r\n\r\n");
//   char buf[4096];
//   while (std::size_t n = conn.read_some(buf)) consume(buf, n);   // 0: EOF
//
// Errors, one shape everywhere: each IO call comes in two forms. The form
// with a trailing `std::error_code&` reports IO outcomes there (EOF is 0
// bytes, not an error); the other throws std::system_error whose message
// names the operation, the peer and the cause ("connect 127.0.0.1:9:
// Connection refused"). Both forms raise cancellation (kill, an expired
// `timeout` scope) as exceptions: those are not IO outcomes.
//
// Timeouts: every blocking call takes an optional per-call timeout; when it
// expires the request is cancelled and the call fails with
// std::errc::timed_out. A `timeout` scope around the call cancels it too and
// raises timeout_error. Either way the call returns only after the kernel is
// done with the buffer. If a cancelled read or write had already moved
// bytes, the stream is marked broken (io_errc::broken) instead of dropping
// them silently.
//
// A socket belongs to the thread that made it. Several tasks may use one
// socket (say one reads while another writes); close() from any of them
// cancels what the others have in flight, waits for it, then closes.
// Writes from several tasks go out one whole call after another, in the
// order they were made (a write_all is never interleaved with another
// task's bytes); reads are not serialised: each read gets what comes next.
#pragma once

#include <greenring/address.hpp>
#include <greenring/buffer.hpp>
#include <greenring/detail/duration.hpp>
#include <greenring/detail/io_counter.hpp>
#include <greenring/lock.hpp>
#include <greenring/task.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace greenring {

class file;

/// greenring's own IO error conditions (category "greenring").
enum class io_errc {
  closed = 1,     // the socket was closed (by another task) during the call
  broken,         // an earlier cancelled call had moved bytes: the stream is out of step
  end_of_stream,  // read_exact: EOF before the buffer was full
  too_long,       // buffered_reader: no delimiter within the record limit
};
const std::error_category& io_category() noexcept;
inline std::error_code make_error_code(io_errc e) noexcept { return {static_cast<int>(e), io_category()}; }

namespace detail {
/// A socket's descriptor and peer; shared by the socket classes.
struct socket_core {
  socket_core() = default;
  socket_core(socket_core&& o) noexcept;
  socket_core& operator=(socket_core&& o) noexcept;
  ~socket_core() { close(); }
  void close() noexcept;
  int fd = -1;
  address peer;
  io_counter counter;
  bool broken = false;
  bool closing = false;
  /// One write (write_some, write_all, send_file) at a time, as Go's
  /// net.Conn: the others wait for this permit in FIFO order (counted in
  /// `counter`, so close() waits for them too).
  semaphore writer{1};
};
}  // namespace detail

/// A connected byte stream: TCP over IPv4/IPv6, or a Unix stream socket.
class tcp_stream {
 public:
  tcp_stream() = default;
  tcp_stream(tcp_stream&&) noexcept = default;
  tcp_stream& operator=(tcp_stream&&) noexcept = default;
  /// Closes (see close()).
  ~tcp_stream() = default;

  /// Connects to `to` (IPv4, IPv6 or Unix). Blocks the task, not the thread.
  static tcp_stream connect(const address& to, duration timeout = forever);
  static tcp_stream connect(const address& to, std::error_code& ec, duration timeout = forever);
  /// Connects to whichever of `candidates` answers first, Happy Eyeballs
  /// style (RFC 8305): families interleaved (IPv6, IPv4, IPv6, ...), the
  /// next attempt started when the one before has failed or has not
  /// connected within `attempt_delay`, the others cancelled once one has.
  /// An address that drops SYNs (a broken IPv6 route) costs 250 ms, not
  /// the whole timeout. `timeout` bounds everything; on failure `ec` is the
  /// last attempt's error (timed_out when time ran out).
  static tcp_stream connect(const std::vector<address>& candidates, std::error_code& ec, duration timeout = forever);
  static tcp_stream connect(const std::vector<address>& candidates, duration timeout = forever);
  static constexpr duration attempt_delay = std::chrono::milliseconds(250);
  /// Resolves `host` (see resolve()) and connects to one of its addresses
  /// as above; `timeout` bounds the whole attempt. The error names the
  /// host and the last address tried.
  static tcp_stream connect(std::string_view host, std::uint16_t port, duration timeout = forever);
  static tcp_stream connect(std::string_view host, std::uint16_t port, std::error_code& ec,
                            duration timeout = forever);
  /// Adopts a connected stream socket (takes ownership of `fd`).
  static tcp_stream from_fd(int fd);

  /// Reads what is there (at least 1 byte, at most buf.size), waiting for
  /// data if none is; returns 0 at end of stream.
  std::size_t read_some(mutable_buffer buf, duration timeout = forever);
  std::size_t read_some(mutable_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Waits until a read would not block (bytes, EOF or an error are there)
  /// without holding a buffer meanwhile: for connections that wait long
  /// (a server's think time, an idle keep-alive) and should cost no
  /// receive buffer while they do. gevent's wait_read.
  void wait_readable(duration timeout = forever);
  void wait_readable(std::error_code& ec, duration timeout = forever);
  /// Reads what has already arrived without waiting and without leaving
  /// the task (one recv(2) with MSG_DONTWAIT): returns 0 with
  /// std::errc::operation_would_block in `ec` when nothing has, 0 with no
  /// error at end of stream. With wait_readable, the readiness style of
  /// gevent or Go: a buffer is taken only once the bytes are there and
  /// released before the task next waits, so that a thousand connections
  /// woken at once never hold a thousand buffers. (read_some goes through
  /// the ring and holds its buffer until the hub's next turn.)
  std::size_t try_read_some(mutable_buffer buf, std::error_code& ec) noexcept;
  /// Fills `buf` completely. EOF first is io_errc::end_of_stream; the
  /// error_code form returns the bytes read before it.
  void read_exact(mutable_buffer buf, duration timeout = forever);
  std::size_t read_exact(mutable_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Sends one chunk; returns how much the kernel took (maybe less).
  std::size_t write_some(const_buffer buf, duration timeout = forever);
  std::size_t write_some(const_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Sends all of `buf`, however many calls that takes (a slow reader just
  /// makes it wait). `timeout` bounds the whole call. The error_code form
  /// returns how much was sent.
  void write_all(const_buffer buf, duration timeout = forever);
  std::size_t write_all(const_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Vectored write_all: the buffers in order, as one stream of bytes.
  void write_all(std::span<const const_buffer> bufs, duration timeout = forever);
  std::size_t write_all(std::span<const const_buffer> bufs, std::error_code& ec, duration timeout = forever);

  /// sendfile(2)'s job: sends `count` bytes of the file `fd` starting at
  /// `offset`, without copying them through user space (spliced through a
  /// pipe, on the ring). Returns the bytes sent: `count`, or fewer when the
  /// file ends first; on an error (ec, or the throwing form's
  /// "sendfile 127.0.0.1:80: ...") what was sent before it. The deadline
  /// covers the whole transfer. `fd` stays the caller's.
  std::size_t send_file(int fd, std::uint64_t offset, std::size_t count, duration timeout = forever);
  std::size_t send_file(int fd, std::uint64_t offset, std::size_t count, std::error_code& ec,
                        duration timeout = forever);
  /// The same for a greenring::file (its errors name the socket's peer).
  std::size_t send_file(const file& f, std::uint64_t offset, std::size_t count, duration timeout = forever);

  /// shutdown(2): SHUT_WR sends FIN after what is queued. Never blocks.
  void shutdown(int how = SHUT_WR);
  /// Cancels this socket's requests in flight (their callers get
  /// io_errc::closed), waits for their completions, then closes the fd.
  /// Idempotent, never throws, not interruptible.
  void close() noexcept { core_.close(); }

  void set_nodelay(bool on);
  /// SO_KEEPALIVE; `idle` > 0 also sets TCP_KEEPIDLE (seconds).
  void set_keepalive(bool on, int idle_seconds = 0);

  bool is_open() const noexcept { return core_.fd >= 0; }
  const address& peer() const noexcept { return core_.peer; }
  address local() const;
  int native_handle() const noexcept { return core_.fd; }

 private:
  detail::socket_core core_;
};

/// A listening stream socket (TCP or Unix).
class tcp_listener {
 public:
  tcp_listener() = default;
  tcp_listener(tcp_listener&&) noexcept = default;
  tcp_listener& operator=(tcp_listener&&) noexcept = default;

  /// socket + SO_REUSEADDR (IP) + bind + listen. Port 0 picks a free port
  /// (see local()). `reuse_port` sets SO_REUSEPORT. Throws system_error
  /// naming the address.
  static tcp_listener bind(const address& at, int backlog = 1024, bool reuse_port = false);

  /// Waits for a connection; the stream's peer() is the client's address.
  /// EMFILE/ENFILE are reported, not retried: stream_server backs off.
  /// A connection already queued is taken at once (the listener's fd is
  /// non-blocking), so an accept loop drains a burst without waiting a
  /// hub turn per connection; after 64 such in a row a call waits through
  /// the ring, letting the tasks it spawned run.
  tcp_stream accept(duration timeout = forever);
  tcp_stream accept(std::error_code& ec, duration timeout = forever);

  void close() noexcept { core_.close(); }
  bool is_open() const noexcept { return core_.fd >= 0; }
  /// The bound address (with the port the kernel chose).
  const address& local() const noexcept { return core_.peer; }
  int native_handle() const noexcept { return core_.fd; }

  /// Connections queued before this many in a row are taken at once.
  static constexpr unsigned accept_burst = 64;

 private:
  detail::socket_core core_;  // `peer` holds the local address here
  unsigned streak_ = 0;       // accepts in a row that did not wait
};

/// A datagram socket (UDP over IPv4/IPv6, or Unix datagrams).
class udp_socket {
 public:
  udp_socket() = default;
  udp_socket(udp_socket&&) noexcept = default;
  udp_socket& operator=(udp_socket&&) noexcept = default;

  /// A socket bound to `at` (port 0: any free port).
  static udp_socket bind(const address& at);
  /// An unbound socket of `family` (AF_INET, AF_INET6, AF_UNIX).
  static udp_socket open(int family);

  /// Sends one datagram to `to`; returns its size.
  std::size_t send_to(const_buffer buf, const address& to, duration timeout = forever);
  std::size_t send_to(const_buffer buf, const address& to, std::error_code& ec, duration timeout = forever);
  /// Receives one datagram and who sent it. A datagram longer than
  /// buf.size is cut to it (the rest is gone, as with recvfrom(2)), and
  /// `truncated` says so.
  struct received {
    std::size_t size;
    address from;
    bool truncated = false;
  };
  received receive_from(mutable_buffer buf, duration timeout = forever);
  received receive_from(mutable_buffer buf, std::error_code& ec, duration timeout = forever);

  /// connect(2) on a datagram socket (no handshake, no wait): fixes the
  /// peer for send() and receive(), which then take datagrams from it only.
  /// An ICMP "port unreachable" for an earlier send comes back as
  /// ECONNREFUSED from a later call ("recv 127.0.0.1:9: Connection refused").
  void connect(const address& to);
  /// One datagram to the connected peer; returns its size.
  std::size_t send(const_buffer buf, duration timeout = forever);
  std::size_t send(const_buffer buf, std::error_code& ec, duration timeout = forever);
  /// One datagram from the connected peer (truncated to buf.size).
  std::size_t receive(mutable_buffer buf, duration timeout = forever);
  std::size_t receive(mutable_buffer buf, std::error_code& ec, duration timeout = forever);
  /// The connected peer; an empty address before connect().
  address peer() const { return connected_ ? core_.peer : address(); }

  void close() noexcept { core_.close(); }
  bool is_open() const noexcept { return core_.fd >= 0; }
  address local() const;
  int native_handle() const noexcept { return core_.fd; }

 private:
  detail::socket_core core_;
  bool connected_ = false;
};

/// gevent's StreamServer: accepts connections and runs `handler(stream)`
/// in a task per connection.
///
///   greenring::stream_server server(greenring::address::parse("127.0.0.1:8000"),
///                                   [](greenring::tcp_stream& s) { echo(s); });
///   server.serve_forever();    // until stop()
///
/// When accept hits the descriptor limit (EMFILE/ENFILE) or runs out of
/// memory, it says so once on stderr and backs off (10 ms doubling to 1 s)
/// instead of spinning or failing.
class stream_server {
 public:
  using handler_type = std::function<void(tcp_stream&)>;
  stream_server(tcp_listener listener, handler_type handler);
  stream_server(const address& at, handler_type handler);
  /// stop(0s): kills connections still running.
  ~stream_server();
  stream_server(const stream_server&) = delete;
  stream_server& operator=(const stream_server&) = delete;

  /// Runs the accept loop in the calling task until stop() is called.
  void serve_forever();
  /// Runs serve_forever() in a new task and returns.
  void start();
  /// Stops accepting and closes the listener, waits up to `grace` for the
  /// connections to finish, then kills the rest. Returns when all are gone.
  void stop(duration grace = std::chrono::seconds(5));

  const address& local() const noexcept { return local_; }
  /// Connections being served now.
  std::size_t connections() const noexcept { return conns_.size(); }
  /// Connections accepted since the start.
  std::uint64_t accepted() const noexcept { return accepted_; }

 private:
  tcp_listener listener_;
  address local_;
  handler_type handler_;
  std::map<std::uint64_t, any_task> conns_;
  any_task acceptor_;
  std::uint64_t accepted_ = 0;
  bool stopping_ = false;
  greenlet* stop_waiter_ = nullptr;
};

/// Limits of a datagram_server.
struct datagram_server_options {
  /// Handlers running at once; at the limit the server stops receiving
  /// until one ends (datagrams wait in the socket's receive buffer, and the
  /// kernel drops new ones when it is full, as UDP does).
  std::size_t max_handlers = 1000;
  /// The largest datagram passed on whole (64 KiB holds any UDP datagram);
  /// longer ones (Unix datagrams) are truncated to it.
  std::size_t max_datagram = 64 * 1024;
};

/// gevent's DatagramServer: receives datagrams on a bound socket and runs
/// `handler(data, from, socket)` in a task per datagram, which can answer
/// with socket.send_to(reply, from).
///
///   greenring::datagram_server server(greenring::address::parse("127.0.0.1:9000"),
///       [](std::string_view data, const greenring::address& from, greenring::udp_socket& s) {
///         s.send_to(greenring::const_buffer(data), from);
///       });
///   server.serve_forever();    // until stop()
///
/// A handler that throws fails its own task (reported as a task failure is)
/// and the server goes on. Receive errors a datagram socket reports for
/// earlier sends (ECONNREFUSED from an ICMP error) are skipped; running out
/// of memory is reported once on stderr and backed off from, never spun on.
class datagram_server {
 public:
  using handler_type = std::function<void(std::string_view data, const address& from, udp_socket& socket)>;
  datagram_server(udp_socket socket, handler_type handler, datagram_server_options opts = {});
  datagram_server(const address& at, handler_type handler, datagram_server_options opts = {});
  /// stop(0s): kills handlers still running.
  ~datagram_server();
  datagram_server(const datagram_server&) = delete;
  datagram_server& operator=(const datagram_server&) = delete;

  /// Runs the receive loop in the calling task until stop() is called.
  void serve_forever();
  /// Runs serve_forever() in a new task and returns.
  void start();
  /// Stops receiving and closes the socket, waits up to `grace` for the
  /// handlers to finish, then kills the rest. Returns when all are gone.
  void stop(duration grace = std::chrono::seconds(5));

  const address& local() const noexcept { return local_; }
  /// The server's socket, for sending from outside a handler.
  udp_socket& socket() noexcept { return socket_; }
  /// Handlers running now.
  std::size_t handlers() const noexcept { return tasks_.size(); }
  /// Datagrams received since the start.
  std::uint64_t received() const noexcept { return received_; }

 private:
  void wake_waiter() noexcept;
  udp_socket socket_;
  address local_;
  handler_type handler_;
  datagram_server_options opts_;
  std::map<std::uint64_t, any_task> tasks_;
  any_task receiver_;
  std::uint64_t received_ = 0;
  bool stopping_ = false;
  greenlet* waiter_ = nullptr;  // the receive loop at max_handlers, or stop()
};

}  // namespace greenring

template <>
struct std::is_error_code_enum<greenring::io_errc> : std::true_type {};
