// greenring — buffered reading: lines and delimited records from any
// greenring stream (Go's bufio.Reader, Boost.Asio's read_until, Python's
// socket.makefile().readline()).
//
//   greenring::buffered_reader in(conn);               // a tcp_stream, tls::stream or pipe_stream
//   while (true) {
//     std::string line = in.read_line();                // "hello\n"; "" at end of stream
//     if (line.empty() || line == "quit\r\n") break;
//     conn.write_all(line);
//   }
//   std::string head = in.read_until("\r\n\r\n");       // any delimiter
//   in.read_exact(body);                                 // then exact bytes: what was read ahead comes first
//
// The reader reads ahead from the stream in chunks and keeps what it has
// not handed out; records and byte reads can be mixed freely. A record is
// returned with its delimiter. When the stream ends, what is left comes
// back without one (so the last line of a file without a final newline is
// not lost), and after that an empty string: as Python's readline, "" means
// end of stream, never an empty line ("\n").
//
// Untrusted peers: a record may be at most `max_record` bytes (64 KiB by
// default), delimiter included. A peer that sends more without a delimiter
// gets io_errc::too_long instead of growing the buffer: the reader never
// holds more than max_record plus one chunk. Errors come in the two shapes
// of the socket API: a trailing std::error_code& (EOF is not an error), or
// std::system_error naming the call, the stream and the cause
// ("read_until 127.0.0.1:5555: ..."). A per-call timeout bounds the whole
// call; bytes that arrived before it expired stay buffered for the next one.
// Kills and timeout scopes pass through as in the stream's own calls, and
// leave the reader as it was before the interrupted read.
//
// Like the stream, a reader belongs to one thread; one task reads through
// it at a time.
#pragma once

#include <greenring/buffer.hpp>
#include <greenring/detail/duration.hpp>
#include <greenring/detail/wait_list.hpp>
#include <greenring/socket.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace greenring {

namespace detail {
/// How a reader names its stream in errors: the peer, or the pipe's name.
template <class Stream>
std::string stream_name(Stream& s) {
  if constexpr (requires { s.peer().to_string(); })
    return s.peer().to_string();
  else if constexpr (requires { s.lower().peer().to_string(); })
    return s.lower().peer().to_string();
  else if constexpr (requires { std::string(s.name()); })
    return std::string(s.name());
  else
    return "stream";
}

/// Reads from `s` into p[got, size) until it is full, within `deadline`;
/// returns the new `got`. EOF first is io_errc::end_of_stream in `ec`.
template <class Stream>
std::size_t read_rest(Stream& s, char* p, std::size_t size, std::size_t got, std::error_code& ec,
                      clock::time_point deadline) {
  while (got < size) {
    std::size_t n = s.read_some(mutable_buffer(p + got, size - got), ec, time_left(deadline));
    if (ec) return got;
    if (n == 0) {
      ec = make_error_code(io_errc::end_of_stream);
      return got;
    }
    got += n;
  }
  return got;
}
}  // namespace detail

/// Buffered reads over `Stream`: anything with
/// `read_some(mutable_buffer, std::error_code&, duration)`. The stream must
/// outlive the reader.
template <class Stream>
class buffered_reader {
 public:
  static constexpr std::size_t default_max_record = 64 * 1024;
  /// How much one read from the stream asks for.
  static constexpr std::size_t chunk = 4096;

  explicit buffered_reader(Stream& s, std::size_t max_record = default_max_record) : s_(&s), max_(max_record) {
    if (max_record == 0) throw std::invalid_argument("buffered_reader: max_record must be at least 1");
  }
  buffered_reader(const buffered_reader&) = delete;
  buffered_reader& operator=(const buffered_reader&) = delete;
  /// The moved-from reader is empty (and still reads from the stream).
  buffered_reader(buffered_reader&& o) noexcept
      : s_(o.s_), max_(o.max_), buf_(std::move(o.buf_)), cap_(std::exchange(o.cap_, 0)),
        start_(std::exchange(o.start_, 0)), end_(std::exchange(o.end_, 0)) {}
  buffered_reader& operator=(buffered_reader&& o) noexcept {
    if (this != &o) {
      s_ = o.s_;
      max_ = o.max_;
      buf_ = std::move(o.buf_);
      cap_ = std::exchange(o.cap_, 0);
      start_ = std::exchange(o.start_, 0);
      end_ = std::exchange(o.end_, 0);
    }
    return *this;
  }

  /// The next record ending in `delim` (non-empty), delimiter included; at
  /// end of stream what is left without one, then "". Errors (a timeout,
  /// io_errc::too_long, the stream's) return "" and keep what was read.
  std::string read_until(std::string_view delim, std::error_code& ec, duration timeout = forever) {
    if (delim.empty()) throw std::invalid_argument("buffered_reader::read_until: empty delimiter");
    ec.clear();
    const auto deadline = detail::deadline_in(timeout);
    std::size_t scanned = 0;  // bytes of the buffer known to hold no delimiter start
    for (;;) {
      const std::string_view have = buffered();
      const std::size_t at = have.find(delim, scanned);
      if (at != std::string_view::npos && at + delim.size() <= max_) return take(at + delim.size());
      if (at != std::string_view::npos || have.size() >= max_) {
        ec = make_error_code(io_errc::too_long);
        return {};
      }
      scanned = have.size() >= delim.size() ? have.size() - delim.size() + 1 : 0;
      if (fill(deadline, ec) == 0) return ec ? std::string() : take(size());  // end of stream: the rest
    }
  }
  std::string read_until(std::string_view delim, duration timeout = forever) {
    std::error_code ec;
    std::string r = read_until(delim, ec, timeout);
    if (ec) fail("read_until", ec);
    return r;
  }
  /// read_until("\n"): a line with its "\n" (and a "\r" before it, if the
  /// peer sent one); "" at end of stream.
  std::string read_line(std::error_code& ec, duration timeout = forever) { return read_until("\n", ec, timeout); }
  std::string read_line(duration timeout = forever) {
    std::error_code ec;
    std::string r = read_until("\n", ec, timeout);
    if (ec) fail("read_line", ec);
    return r;
  }

  /// What is buffered, else what one read from the stream brings (at least
  /// 1 byte, at most buf.size); 0 at end of stream.
  std::size_t read_some(mutable_buffer buf, std::error_code& ec, duration timeout = forever) {
    ec.clear();
    if (buf.size == 0) return 0;
    if (size() == 0) {
      if (buf.size >= chunk) return s_->read_some(buf, ec, timeout);  // no point copying through us
      if (fill(detail::deadline_in(timeout), ec) == 0) return 0;
    }
    return copy_out(buf);
  }
  std::size_t read_some(mutable_buffer buf, duration timeout = forever) {
    std::error_code ec;
    std::size_t n = read_some(buf, ec, timeout);
    if (ec) fail("read_some", ec);
    return n;
  }
  /// Fills `buf` completely: buffered bytes first, then the stream's.
  /// EOF first is io_errc::end_of_stream; the error_code form returns how
  /// many bytes it did put into `buf` (they are consumed).
  std::size_t read_exact(mutable_buffer buf, std::error_code& ec, duration timeout = forever) {
    ec.clear();
    const auto deadline = detail::deadline_in(timeout);
    const std::size_t got = copy_out(buf);
    return detail::read_rest(*s_, static_cast<char*>(buf.data), buf.size, got, ec, deadline);
  }
  void read_exact(mutable_buffer buf, duration timeout = forever) {
    std::error_code ec;
    read_exact(buf, ec, timeout);
    if (ec) fail("read_exact", ec);
  }

  /// Read from the stream but not handed out yet.
  std::string_view buffered() const noexcept { return {buf_.get() + start_, end_ - start_}; }
  std::size_t size() const noexcept { return end_ - start_; }
  /// Drops the first `n` buffered bytes (at most size()).
  void consume(std::size_t n) noexcept {
    start_ += std::min(n, size());
    if (start_ == end_) reset();
  }
  std::size_t max_record() const noexcept { return max_; }
  Stream& stream() noexcept { return *s_; }

 private:
  // One read from the stream onto the end of the buffer; returns its size
  // (0: end of stream or an error in ec). Never grows the buffer past
  // max_record + chunk.
  std::size_t fill(detail::clock::time_point deadline, std::error_code& ec) {
    if (cap_ - end_ < chunk) make_room();
    std::size_t n = s_->read_some(mutable_buffer(buf_.get() + end_, cap_ - end_), ec, detail::time_left(deadline));
    if (ec) return 0;
    end_ += n;
    return n;
  }
  void make_room() {
    const std::size_t have = size();
    if (start_ > 0 && cap_ - have >= chunk) {
      std::memmove(buf_.get(), buf_.get() + start_, have);  // slide down: room at the end
    } else {
      // Doubling, but never past what the longest record needs.
      const std::size_t want = std::max(have + chunk, std::min(cap_ * 2, max_ + chunk));
      std::unique_ptr<char[]> bigger(new char[want]);
      if (have) std::memcpy(bigger.get(), buf_.get() + start_, have);
      buf_ = std::move(bigger);
      cap_ = want;
    }
    start_ = 0;
    end_ = have;
  }
  std::string take(std::size_t n) {
    std::string r(buf_.get() + start_, n);
    consume(n);
    return r;
  }
  std::size_t copy_out(mutable_buffer buf) noexcept {
    const std::size_t n = std::min(buf.size, size());
    if (n) std::memcpy(buf.data, buf_.get() + start_, n);
    consume(n);
    return n;
  }
  // Empty: back to the start, and a buffer grown for a long record goes
  // (a thousand idle connections should not each keep 64 KiB).
  void reset() noexcept {
    start_ = end_ = 0;
    if (cap_ > 4 * chunk) {
      buf_.reset();
      cap_ = 0;
    }
  }
  [[noreturn]] void fail(const char* what, std::error_code ec) {
    std::string msg = std::string(what) + " " + detail::stream_name(*s_);
    if (ec == io_errc::too_long) msg += " (limit " + std::to_string(max_) + " bytes)";
    throw std::system_error(ec, msg);
  }

  Stream* s_;
  std::size_t max_;
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0, start_ = 0, end_ = 0;
};

}  // namespace greenring
