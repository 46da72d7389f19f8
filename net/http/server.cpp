// greenring — the small HTTP/1.1 server: a task per connection (from
// stream_server), keep-alive, one handler call per request.
#include "byte_buffer.hpp"
#include "parser.hpp"
#include "transport.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <greenring/hub.hpp>

#include <cstdio>
#include <ctime>
#include <map>
#include <vector>

namespace greenring::http {

const char* reason_phrase(int s) noexcept {
  // RFC 9110 section 15 (and 6585 for 428, 429, 431; 8297 for 103).
  switch (s) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

reply file_reply(const std::string& path, std::string content_type) {
  std::error_code ec;
  file f = file::open(path, O_RDONLY, 0, ec);
  struct stat st {};
  if (ec || ::fstat(f.native_handle(), &st) != 0 || !S_ISREG(st.st_mode))
    return reply{404, {{"Content-Type", "text/plain"}}, "not found\n"};
  reply r{200, {{"Content-Type", std::move(content_type)}}, {}};
  r.file_length = static_cast<std::uint64_t>(st.st_size);
  r.file = std::make_shared<file>(std::move(f));
  return r;
}

namespace detail {
// Connections of one server: the idle ones (between requests) are closed
// at stop(), the busy ones finish their request and then close.
struct server_state {
  std::uint64_t served = 0;
  bool stopping = false;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, std::pair<tcp_stream*, const bool*>> conns;  // stream, busy flag
  std::unique_ptr<tls::context> tls_ctx;
};
}  // namespace detail

namespace {

// "Date: Wed, 02 Dec 2026 06:38:24 GMT\r\n" for the current second (RFC
// 9110 6.6.1: an origin server with a clock sends Date in its responses),
// formatted once a second per thread, in English whatever the locale.
std::string_view date_field() {
  struct cache {
    std::time_t at = -1;
    char text[48];
    std::size_t len = 0;
  };
  thread_local cache c;
  const std::time_t now = std::time(nullptr);
  if (now != c.at) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm t{};
    gmtime_r(&now, &t);
    const int n = std::snprintf(c.text, sizeof c.text, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[t.tm_wday],
                                t.tm_mday, months[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
    c.len = n > 0 ? static_cast<std::size_t>(n) : 0;
    c.at = now;
  }
  return {c.text, c.len};
}

// Up to `n` bytes of a file reply's body from body offset `from` into
// `out`; fewer only where the file ends.
std::size_t read_file_range(const reply& rep, std::uint64_t from, char* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    std::error_code ec;
    const std::size_t k = rep.file->read_at(mutable_buffer(out + got, n - got), rep.file_offset + from + got, ec);
    if (ec) throw std::system_error(ec, "read " + rep.file->path());
    if (k == 0) break;
    got += k;
  }
  return got;
}

// A file reply's body after its head. Returns false when the file gave
// fewer bytes than the head announced: the connection must then end.
bool send_file_body(detail::transport& s, const reply& rep) {
  const std::uint64_t len = rep.file_length;
  std::error_code ec;
  std::uint64_t sent = 0;
  if (!s.tls) {
    while (sent < len) {
      const std::size_t piece = static_cast<std::size_t>(std::min<std::uint64_t>(len - sent, std::uint64_t{1} << 30));
      const std::size_t n = s.tcp.send_file(rep.file->native_handle(), rep.file_offset + sent, piece, ec, std::chrono::seconds(60));
      if (ec) throw std::system_error(ec, "send reply (file " + rep.file->path() + ")");
      sent += n;
      if (n < piece) return false;  // the file ended early
    }
    return true;
  }
  std::vector<char> buf(64 * 1024);  // on the heap: a task's stack is small
  while (sent < len) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(len - sent, buf.size()));
    const std::size_t n = read_file_range(rep, sent, buf.data(), want);
    if (n == 0) return false;
    const const_buffer part(buf.data(), n);
    s.write(std::span<const const_buffer>(&part, 1), ec, std::chrono::seconds(60));
    if (ec) throw std::system_error(ec, "send reply");
    sent += n;
  }
  return true;
}

// Sends `rep`; false when a file body came up short (close the connection).
bool send_reply(detail::transport& s, const reply& rep, bool head_only, bool close, bool say_keep_alive = false) {
  const bool no_body = rep.status == 204 || rep.status == 304 || (rep.status >= 100 && rep.status < 200);
  const bool file_body = rep.file != nullptr;
  const std::string_view body = head_only || no_body || file_body ? std::string_view() : std::string_view(rep.body);
  // A small body goes in the same buffer as the head: one plain send
  // instead of a sendmsg with two pieces (cheaper in the kernel).
  const bool together = body.size() <= 16 * 1024;
  // A small file is read into the same buffer and goes out with the head
  // in one send: two splices through io-wq cost more than the copy (wrk
  // -c100 here: a 32 KiB file 53k req/s read, 36k spliced; 64 KiB is
  // faster spliced).
  const bool file_bytes = file_body && !head_only && !no_body;  // the file's bytes go out
  const bool small_file = file_bytes && rep.file_length <= 32 * 1024;
  std::string h;
  h.reserve(160 + (together ? body.size() : 0) + (small_file ? rep.file_length : 0));
  h.append("HTTP/1.1 ").append(std::to_string(rep.status)).append(" ").append(reason_phrase(rep.status)).append("\r\n");
  bool has_date = false;
  for (const auto& f : rep.head) {
    h.append(f.name).append(": ").append(f.value).append("\r\n");
    has_date = has_date || detail::iequals(f.name, "Date");
  }
  if (!has_date) h.append(date_field());
  if (!no_body)
    h.append("Content-Length: ").append(std::to_string(file_body ? rep.file_length : rep.body.size())).append("\r\n");
  if (close) h.append("Connection: close\r\n");
  else if (say_keep_alive) h.append("Connection: keep-alive\r\n");
  h.append("\r\n");
  if (together) h.append(body);
  bool complete = true;
  if (small_file) {
    const std::size_t at = h.size(), len = static_cast<std::size_t>(rep.file_length);
    h.resize(at + len);
    const std::size_t got = read_file_range(rep, 0, h.data() + at, len);
    h.resize(at + got);  // a file cut short: what it had, then the connection ends
    complete = got == len;
  }
  const_buffer parts[] = {const_buffer(h), const_buffer(together ? std::string_view() : body)};
  std::error_code ec;
  s.write(std::span<const const_buffer>(parts, together ? 1 : 2), ec, std::chrono::seconds(60));
  if (ec) throw std::system_error(ec, "send reply");
  if (file_bytes && !small_file) return send_file_body(s, rep);
  return complete;
}

// Whether the first byte a client sends on a TLS port starts an HTTP
// request line (a letter) rather than a TLS record (0x16). Peeks: the
// handshake still reads every byte.
bool sends_plain_http(tcp_stream& s, duration timeout) {
  std::error_code ec;
  s.wait_readable(ec, timeout);
  if (ec) return false;
  unsigned char b = 0;
  const ssize_t n = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 1 && b >= 'A' && b <= 'Z';
}

// Answers a request we will not serve and closes the connection the way
// nginx's lingering_close does: the reply, then FIN, then whatever the
// client is still sending is read and dropped (at most 8 MiB, 2 s), so
// that closing with unread input does not send an RST that can destroy the
// reply before the client has read it.
void reject(detail::transport& s, int status, const std::string& why) {
  send_reply(s, reply{status, {}, why + "\n"}, false, true);
  if (s.tls) return;  // close_notify follows; TLS peers read until it
  s.tcp.shutdown(SHUT_WR);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  char sink[4096];
  for (std::size_t dropped = 0; dropped < (8u << 20);) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= duration::zero()) break;
    std::error_code ec;
    const std::size_t n = s.tcp.read_some(mutable_buffer(sink, sizeof sink), ec, left);
    if (ec || n == 0) break;
    dropped += n;
  }
}

void serve_connection(detail::transport& s, const server::handler_type& handler, const server_options& o,
                      detail::server_state& st) {
  detail::limits lim{o.max_request_head, o.max_request_head, 100};
  detail::byte_buffer buf;
  bool busy = false;
  // Reads straight into buf, a few KiB at a time (no big stack buffer: a
  // thousand idle connections would each keep its pages).
  // Each read waits at most idle_timeout, and not past `until` (max: no
  // bound) when given.
  using clk = std::chrono::steady_clock;
  auto more = [&](std::error_code& ec, clk::time_point until = clk::time_point::max()) {
    duration wait = o.idle_timeout;
    if (until != clk::time_point::max()) {
      const auto left = until - clk::now();
      if (left <= duration::zero()) {
        ec = std::make_error_code(std::errc::timed_out);
        return std::size_t{0};
      }
      wait = std::min<duration>(wait, left);
    }
    mutable_buffer room = buf.prepare(4096);
    std::size_t n = s.read_some(room, ec, wait);
    if (ec) return std::size_t{0};
    buf.commit(n);
    return n;
  };
  const std::uint64_t id = ++st.next_id;
  st.conns.emplace(id, std::make_pair(&s.tcp_for_close(), &busy));
  struct leave {
    detail::server_state& st;
    std::uint64_t id;
    ~leave() { st.conns.erase(id); }
  } on_exit{st, id};
  for (;;) {
    busy = false;
    if (st.stopping) return;
    std::size_t end = 0;
    try {
      // Once a request has begun, its whole head must arrive within
      // header_timeout (nginx's client_header_timeout): a client dripping
      // a byte now and then cannot hold the connection for ever.
      auto head_deadline = clk::time_point::max();
      if (!buf.empty()) head_deadline = clk::now() + o.header_timeout;  // pipelined bytes
      // Empty lines before a request line are skipped (RFC 9112 2.2: some
      // clients send a CRLF after a POST body), up to a few.
      std::size_t blank = 0;
      auto skip_blank_lines = [&] {
        while (buf.size() >= 2 && buf.view().substr(0, 2) == "\r\n") {
          if (++blank > 8) throw detail::parse_error("too many empty lines before the request line");
          buf.consume(2);
        }
      };
      skip_blank_lines();
      detail::check_request_start(buf.view());
      while (!(end = detail::find_head_end(buf.view(), lim))) {
        std::error_code ec;
        std::size_t n = more(ec, head_deadline);
        if (ec == std::errc::timed_out && head_deadline != clk::time_point::max()) {
          reject(s, 408, "request head not complete within the header timeout");
          return;
        }
        if (ec || n == 0) return;  // idle, closed or reset: nothing to answer
        skip_blank_lines();
        detail::check_request_start(buf.view());
        if (buf.empty()) continue;
        if (head_deadline == clk::time_point::max()) head_deadline = clk::now() + o.header_timeout;
        busy = true;
      }
    } catch (const detail::parse_error& e) {
      // Over the limit before the request line ended: the target is what
      // is too long (414), else the header fields are (431).
      const std::size_t eol = buf.view().find("\r\n");
      const bool line_too_long = e.limit() && (eol == std::string_view::npos || eol > o.max_request_head);
      reject(s, !e.limit() ? 400 : line_too_long ? 414 : 431,
             line_too_long ? "request line longer than " + std::to_string(o.max_request_head) + " bytes" : e.what());
      return;
    }
    request req;
    detail::request_body rb;
    try {
      req = detail::parse_request_head(buf.view().substr(0, end), lim);
      rb = detail::request_body_framing(req);
    } catch (const detail::version_error& e) {
      reject(s, 505, e.what());
      return;
    } catch (const detail::parse_error& e) {
      reject(s, 400, e.what());
      return;
    }
    buf.consume(end);
    if (rb.length > o.max_request_body) {
      reject(s, 413, "request body too large");
      return;
    }
    // Expect: 100-continue (curl sends it before large bodies): say go
    // ahead, unless the body is already arriving.
    if (const std::string* expect = req.header("Expect"); expect && req.minor_version == 1) {
      if (!detail::iequals(*expect, "100-continue")) {  // the parser trimmed it
        reject(s, 417, "unsupported expectation");
        return;
      }
      if ((rb.chunked || rb.length > 0) && buf.empty()) {
        std::error_code ec;
        s.write(std::span<const const_buffer>({const_buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"))}), ec,
                o.idle_timeout);
        if (ec) return;
      }
    }
    if (rb.chunked) {
      struct too_big {};
      detail::chunked_decoder d(lim);
      try {
        for (;;) {
          const std::size_t used = d.feed(buf.data(), buf.size(), [&](const char* p, std::size_t n) {
            if (req.body.size() + n > o.max_request_body) throw too_big{};
            req.body.append(p, n);
          });
          buf.consume(used);
          if (d.done()) break;
          std::error_code ec;
          if (more(ec) == 0 || ec) return;
        }
      } catch (const detail::parse_error& e) {
        reject(s, 400, std::string("chunked body: ") + e.what());
        return;
      } catch (const too_big&) {
        reject(s, 413, "request body too large");
        return;
      }
    } else {
      const auto len = static_cast<std::size_t>(rb.length);
      while (buf.size() < len) {
        std::error_code ec;
        if (more(ec) == 0 || ec) return;
      }
      req.body = std::string(buf.view().substr(0, len));
      buf.consume(len);
    }
    req.peer = s.peer();
    bool close = !detail::persistent(req.head, req.minor_version);
    // An HTTP/1.0 client keeps the connection only if the reply says so.
    const bool keep_alive_1_0 = req.minor_version == 0 && !close;
    reply rep;
    try {
      rep = handler(req);
    } catch (const std::exception& e) {
      rep = reply{500, {}, std::string("handler failed: ") + e.what() + "\n"};
      close = true;
    }
    if (o.delay > duration::zero()) sleep(o.delay);
    const bool complete = send_reply(s, rep, req.method == "HEAD", close || st.stopping, keep_alive_1_0);
    ++st.served;
    if (close || !complete) return;
  }
}

}  // namespace

server::server(const address& at, handler_type handler, server_options opts)
    : st_(std::make_shared<detail::server_state>()) {
  if (!opts.tls_cert_pem.empty()) {
    st_->tls_ctx = std::make_unique<tls::context>(tls::context::server(opts.tls_cert_pem, opts.tls_key_pem));
    st_->tls_ctx->set_alpn({"http/1.1"});  // a client offering only h2 goes on without ALPN
  }
  srv_ = std::make_unique<stream_server>(tcp_listener::bind(at, 1024, opts.reuse_port), [h = std::move(handler), opts, st = st_](tcp_stream& s) {
    try {
      detail::transport t;
      if (st->tls_ctx) {
        if (sends_plain_http(s, opts.idle_timeout)) {
          // As nginx and Go do: say so in plain HTTP, not with a TLS alert
          // the client cannot read.
          t.tcp = std::move(s);
          reject(t, 400, "plain HTTP request sent to an HTTPS port");
          return;
        }
        t.tls = std::make_unique<tls::stream>(tls::stream::accept(std::move(s), *st->tls_ctx, opts.idle_timeout));
      } else {
        t.tcp = std::move(s);
      }
      serve_connection(t, h, opts, *st);
      if (t.tls) t.tls->shutdown();
    } catch (const std::system_error&) {
      // The client went away mid-reply: nothing to tell anybody.
    } catch (const tls::error&) {
      // A failed handshake: the client has been told by the TLS alert.
    }
  });
}

server::~server() {
  try {
    stop(duration::zero());
  } catch (...) {
  }
}
void server::start() { srv_->start(); }
void server::serve_forever() { srv_->serve_forever(); }
std::uint64_t server::requests_served() const noexcept { return st_->served; }

void server::stop(duration grace) {
  st_->stopping = true;
  // Connections waiting for a next request have nothing to finish. Each
  // close() blocks (until the connection's read is cancelled), and other
  // connections may end meanwhile: look them up afresh every time.
  std::uint64_t after = 0;
  for (;;) {
    auto it = st_->conns.upper_bound(after);
    while (it != st_->conns.end() && *it->second.second) ++it;
    if (it == st_->conns.end()) break;
    after = it->first;
    it->second.first->close();
  }
  srv_->stop(grace);
}
const address& server::local() const noexcept { return srv_->local(); }
std::uint64_t server::connections_accepted() const noexcept { return srv_->accepted(); }


}  // namespace greenring::http
