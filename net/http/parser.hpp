// greenring — HTTP/1.1 message parsing (internal): pure functions over
// bytes, so that the client, the server and the fuzz targets share them.
//
// Strict by design (RELIABILITY.md P1, P2): CRLF line endings only; no NUL,
// bare CR or obs-fold; no whitespace before a header's colon; bounded line,
// block and count; Content-Length digits only, overflow-checked, duplicates
// must agree; chunk sizes of at most 16 significant hex digits, checked
// before each shift, followed only by `;`, SP/HTAB or CRLF.
#pragma once

#include <greenring/http.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace greenring::http::detail {

/// A malformed or over-limit message; `limit` tells which kind.
class parse_error : public std::runtime_error {
 public:
  parse_error(const std::string& what, bool limit = false) : std::runtime_error(what), limit_(limit) {}
  bool limit() const noexcept { return limit_; }

 private:
  bool limit_;
};

struct limits {
  std::size_t max_line = 8 * 1024;
  std::size_t max_bytes = 64 * 1024;
  std::size_t max_headers = 100;
  /// Lines may end in a bare LF (RFC 9112 2.2 lets a recipient accept
  /// that): on for response heads, as curl, Go and browsers do for the
  /// odd embedded server; off for requests and chunk lines, where a
  /// parser that disagrees with a proxy about line ends is a smuggling
  /// vector. A bare CR is an error either way.
  bool bare_lf = false;
};

/// A request in a version of HTTP we do not speak (2.0 and up): 505.
class version_error : public parse_error {
 public:
  using parse_error::parse_error;
};

/// ASCII case-insensitive equality (header names, codings).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Whether any `name` field in `h` lists `token` (comma-separated,
/// case-insensitive): Connection: close, keep-alive, ...
bool has_token(const headers& h, std::string_view name, std::string_view token) noexcept;
/// RFC 9112 9.3: whether a message of this version with these fields
/// leaves its connection open (1.1 unless "close"; 1.0 only with
/// "keep-alive"). The rule for requests and responses alike.
bool persistent(const headers& h, int minor_version) noexcept;

/// Where the head (status/request line + headers) ends in `buf`: the
/// offset just past CRLFCRLF, or 0 when not complete yet. Throws when the
/// head already breaks a limit or holds a byte no head may hold.
std::size_t find_head_end(std::string_view buf, const limits& l);
/// Throws parse_error when `buf`, a request head still arriving, cannot
/// begin a request line: a byte outside a method token before the first
/// space (a TLS ClientHello sent to a plain-http port, say), so the
/// server answers 400 at once instead of after its header timeout.
void check_request_start(std::string_view buf);
/// The longest request method accepted (the longest registered is 17).
inline constexpr std::size_t max_method_bytes = 64;

/// Parses a complete response head (as delimited by find_head_end).
response_head parse_response_head(std::string_view head, const limits& l);
/// Parses a complete request head.
request parse_request_head(std::string_view head, const limits& l);

/// How a response's body is delimited.
struct framing {
  enum kind { none, by_length, chunked, until_close } k = none;
  std::uint64_t length = 0;
  bool reusable = true;  // the connection may carry another exchange after it
};
framing response_framing(const response_head& h, bool head_request);
/// How a request's body is delimited: Content-Length (0 when absent) or
/// chunked. Transfer-Encoding other than exactly `chunked`, or together
/// with Content-Length (a smuggling vector), throws.
struct request_body {
  bool chunked = false;
  std::uint64_t length = 0;
};
request_body request_body_framing(const request& r);

/// Incremental chunked-body decoder.
class chunked_decoder {
 public:
  explicit chunked_decoder(const limits& l) : l_(l) {}
  /// Consumes bytes from [p, p+n) and calls sink(data, len) for body
  /// bytes. Returns how many were consumed: all of them, unless the body
  /// ended inside the range (done() is then true; the rest belongs to the
  /// next message). Throws parse_error.
  template <class Sink>
  std::size_t feed(const char* p, std::size_t n, Sink&& sink);
  bool done() const noexcept { return s_ == st::done; }

 private:
  enum class st { size, size_ws, ext, size_lf, data, data_cr, data_lf, trailer, trailer_lf, done };
  static int hex(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  limits l_;
  st s_ = st::size;
  std::uint64_t size_ = 0;
  unsigned digits_ = 0, significant_ = 0;
  std::size_t line_ = 0;            // bytes of the current size/ext or trailer line
  std::size_t trailer_bytes_ = 0, trailer_lines_ = 0;
  std::int64_t excess_ = 0;         // framing bytes not paid for by data (see size_lf)
};

template <class Sink>
std::size_t chunked_decoder::feed(const char* p, std::size_t n, Sink&& sink) {
  std::size_t i = 0;
  while (i < n) {
    const char c = p[i];
    switch (s_) {
      case st::size: {
        const int h = hex(c);
        if (h >= 0) {
          if (++digits_ > 64) throw parse_error("chunk size has too many digits");
          if (significant_ > 0 || h != 0) {
            if (++significant_ > 16 || size_ > (UINT64_MAX >> 4)) throw parse_error("chunk size overflows 64 bits");
            size_ = (size_ << 4) | static_cast<unsigned>(h);
          }
          ++i;
          break;
        }
        if (digits_ == 0) throw parse_error("chunk size expected");
        if (c == ';') s_ = st::ext;
        else if (c == ' ' || c == '\t') s_ = st::size_ws;
        else if (c == '\r') s_ = st::size_lf;
        else throw parse_error("invalid character after chunk size");
        line_ = digits_ + 1;
        ++i;
        break;
      }
      case st::size_ws:
        if (c == ' ' || c == '\t') {
        } else if (c == ';') {
          s_ = st::ext;
        } else if (c == '\r') {
          s_ = st::size_lf;
        } else {
          throw parse_error("invalid character after chunk size");
        }
        if (++line_ > 4096) throw parse_error("chunk extension longer than 4 KiB", true);
        ++i;
        break;
      case st::ext:
        if (c == '\r') s_ = st::size_lf;
        else if (c == '\n' || c == '\0') throw parse_error("invalid byte in chunk extension");
        if (++line_ > 4096) throw parse_error("chunk extension longer than 4 KiB", true);
        ++i;
        break;
      case st::size_lf:
        if (c != '\n') throw parse_error("bare CR in chunk size line");
        ++i;
        // Go's rule against chunk-extension amplification (CVE-2023-39326):
        // each chunk may spend 16 bytes plus twice its size on framing;
        // beyond 16 KiB of framing not paid for by data, the peer is sending
        // little else.
        excess_ += static_cast<std::int64_t>(line_) + 3;  // the line, its LF, the CRLF after the data
        excess_ -= size_ > (std::uint64_t{1} << 40) ? (std::int64_t{1} << 41) : 16 + 2 * static_cast<std::int64_t>(size_);
        if (excess_ < 0) excess_ = 0;
        if (excess_ > 16 * 1024) throw parse_error("chunked body is mostly framing (chunk sizes and extensions)", true);
        digits_ = significant_ = 0;
        line_ = 0;
        if (size_ == 0) {
          s_ = st::trailer;
        } else {
          s_ = st::data;
        }
        break;
      case st::data: {
        const std::uint64_t take = std::min<std::uint64_t>(size_, n - i);
        sink(p + i, static_cast<std::size_t>(take));
        i += static_cast<std::size_t>(take);
        size_ -= take;
        if (size_ == 0) s_ = st::data_cr;
        break;
      }
      case st::data_cr:
        if (c != '\r') throw parse_error("CRLF expected after chunk data");
        s_ = st::data_lf;
        ++i;
        break;
      case st::data_lf:
        if (c != '\n') throw parse_error("CRLF expected after chunk data");
        s_ = st::size;
        ++i;
        break;
      case st::trailer:
        // Trailer lines up to an empty line; each counts toward the header
        // limits. Their contents are not used.
        if (c == '\r') {
          s_ = st::trailer_lf;
        } else {
          if (c == '\n' || c == '\0') throw parse_error("invalid byte in chunked trailer");
          if (++line_ > l_.max_line) throw parse_error("trailer line longer than the limit", true);
        }
        if (++trailer_bytes_ > l_.max_bytes) throw parse_error("trailers larger than the header limit", true);
        ++i;
        break;
      case st::trailer_lf:
        if (c != '\n') throw parse_error("bare CR in chunked trailer");
        ++i;
        if (line_ == 0) {
          s_ = st::done;
          return i;
        }
        if (++trailer_lines_ > l_.max_headers) throw parse_error("too many trailer fields", true);
        line_ = 0;
        s_ = st::trailer;
        break;
      case st::done:
        return i;
    }
  }
  return i;
}

}  // namespace greenring::http::detail
