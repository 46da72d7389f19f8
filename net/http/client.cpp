// greenring — the HTTP/1.1 client.
//
// Invariants: a connection is in the pool only between exchanges, and only
// if its last response was delimited (not close-delimited), read exactly to
// its end with no byte left over, and allowed keep-alive (RELIABILITY P5).
// Every read is bounded by min(idle timeout, time left of the total
// deadline), so a server dripping bytes cannot stretch a request (P4). A
// body that ends before its Content-Length or last chunk is truncated_body
// (P3). Redirects: at most max_redirects hops, http(s) only, credentials
// dropped when the scheme, host or port changes (P6).
#include "byte_buffer.hpp"
#include "decode.hpp"
#include "parser.hpp"
#include "transport.hpp"

#include <greenring/file.hpp>
#include <greenring/hub.hpp>
#include <greenring/lock.hpp>
#include <greenring/resolver.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

namespace greenring::http {

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::bad_url: return "bad_url";
    case errc::unsupported: return "unsupported";
    case errc::connect_failed: return "connect_failed";
    case errc::timeout: return "timeout";
    case errc::bad_response: return "bad_response";
    case errc::too_large: return "too_large";
    case errc::truncated_body: return "truncated_body";
    case errc::too_many_redirects: return "too_many_redirects";
    case errc::bad_redirect: return "bad_redirect";
    case errc::io: return "io";
    case errc::tls: return "tls";
  }
  return "unknown";
}

namespace detail {

// Connection caps: a request first takes a permit of its host (when
// max_connections_per_host is set), then one of the client (when
// max_connections is set), in that order, so nobody waits for a host while
// holding a client-wide permit. A permit is the right to one exchange in
// progress; with it the request takes an idle connection of its host or,
// only if there is none, opens one. So a host's open connections (idle
// and in use) never exceed its permits. Client-wide, idle connections of
// other hosts can push the count to the cap: opening then closes one of
// them first. Semaphores hand permits over in FIFO order and handle kills
// and timeouts of the waiters.
struct host_entry {
  std::vector<transport> idle;
  std::unique_ptr<semaphore> permits;  // max_connections_per_host
  std::size_t users = 0;               // requests using this entry now
};

struct pool_state {
  std::map<std::string, host_entry> hosts;  // key: scheme://host:port
  std::unique_ptr<semaphore> permits;       // max_connections
  std::unique_ptr<tls::context> tls_ctx;    // made on the first https request
  std::size_t idle_count = 0;
  std::size_t open = 0;
  std::uint64_t made = 0;
  static constexpr std::size_t max_idle_per_host = 64;

  // Closes one idle connection, of any host but `except`; false if none.
  bool close_one_idle(const host_entry* except) {
    for (auto it = hosts.begin(); it != hosts.end(); ++it) {
      if (&it->second == except || it->second.idle.empty()) continue;
      it->second.idle.erase(it->second.idle.begin());  // the oldest
      --idle_count;
      --open;
      if (it->second.users == 0 && it->second.idle.empty()) hosts.erase(it);
      return true;
    }
    return false;
  }
};

}  // namespace detail

namespace {

using clk = std::chrono::steady_clock;

using body_sink = std::function<bool(const char*, std::size_t)>;

struct exchange_ctx {
  const options& o;
  std::string url;  // for messages
  clk::time_point deadline;
  const body_sink* on_body;  // o.on_body, a download's file, or nothing

  duration time_left() const { return std::max<duration>(deadline - clk::now(), duration::zero()); }
  duration read_timeout() const {
    const auto left = deadline - clk::now();
    if (left <= duration::zero()) throw error(errc::timeout, url, "total timeout exceeded");
    return std::min<duration>(o.idle_timeout, left);
  }
  [[noreturn]] void fail_io(const char* what, const std::error_code& ec) const {
    if (ec == std::errc::timed_out) {
      if (clk::now() >= deadline) throw error(errc::timeout, url, std::string("total timeout exceeded during ") + what);
      throw error(errc::timeout, url, std::string("no data for the idle timeout during ") + what);
    }
    if (ec.category() == tls::category())  // a corrupt record or the peer's fatal alert
      throw error(errc::tls, url, std::string(what) + ": TLS: " + ec.message());
    throw error(errc::io, url, std::string(what) + ": " + ec.message());
  }
};

// A connection with the bytes read past the current message.
struct conn {
  detail::transport s;
  detail::byte_buffer buf;
  bool reused = false;
  bool unclean_eof = false;  // TLS: the peer closed without close_notify
  // The last read took less than it had room for: the socket is probably
  // drained, and the next read would wait (true before the first read).
  bool drained = true;

  // Reads what has arrived into get()'s buffer; 0 at EOF. Without TLS a
  // drained socket is first waited on with no buffer held (release() runs
  // before that wait), then read with a plain non-blocking recv that never
  // leaves the task: a buffer is taken only once its bytes are there and is
  // done with before the task next waits, so a thousand requests woken at
  // once never hold a thousand buffers. TLS reads through its own buffers.
  template <class Get, class Release>
  std::size_t read_ready(exchange_ctx& x, std::error_code& ec, Get get, Release release) {
    if (s.tls) return s.tls->read_some(get(), ec, x.read_timeout());
    for (;;) {
      if (drained) {
        release();
        s.tcp.wait_readable(ec, x.read_timeout());
        if (ec) return 0;
      }
      const mutable_buffer b = get();
      const std::size_t n = s.tcp.try_read_some(b, ec);
      if (ec == std::errc::operation_would_block) {  // another reader took them
        ec.clear();
        drained = true;
        continue;
      }
      drained = n < b.size;
      return n;
    }
  }

  // Reads more into buf; returns false at EOF.
  bool fill(exchange_ctx& x, const char* what) {
    // Into buf, 4 KiB at a time: heads are small and bodies of known length
    // bypass buf (read_body), so neither the task's stack nor the buffer
    // grows much per connection.
    std::error_code ec;
    const std::size_t n = read_ready(
        x, ec, [this] { return buf.prepare(4096); }, [this] { buf.release(); });
    if (!ec) buf.commit(n);
    if (ec) {
      if (ec == std::errc::connection_reset) return false;
      if (ec == io_errc::end_of_stream) {
        unclean_eof = true;
        return false;
      }
      x.fail_io(what, ec);
    }
    return n > 0;
  }
};

detail::limits limits_of(const options& o) { return {o.max_header_line, o.max_header_bytes, o.max_headers}; }
// For a response head: lines may end in LF alone (see detail::limits).
detail::limits head_limits_of(const options& o) {
  detail::limits l = limits_of(o);
  l.bare_lf = true;
  return l;
}

std::string pool_key(const url& u) { return u.scheme + "://" + u.host + ":" + std::to_string(u.port); }

struct stale_connection {};  // a reused connection that the server had closed

// The decoder for a response's Content-Encoding when options.decompress
// asks for it (and the response has a body).
std::unique_ptr<detail::content_decoder> decoder_for(const exchange_ctx& x, const detail::framing& f, response& r) {
  if (!x.o.decompress || f.k == detail::framing::none) return nullptr;
  const std::string* ce = r.header("Content-Encoding");
  if (!ce) return nullptr;
  const std::string_view v = *ce;  // the parser trimmed it
  if (v.empty() || detail::iequals(v, "identity")) return nullptr;
  auto d = detail::content_decoder::make(v);
  if (!d) throw error(errc::unsupported, x.url, "Content-Encoding \"" + std::string(v) + "\" is not gzip or deflate");
  r.content_encoding = d->name();
  std::erase_if(r.head, [](const header& h) {
    return detail::iequals(h.name, "Content-Encoding") || detail::iequals(h.name, "Content-Length");
  });
  return d;
}

// Reads the body per `f`, into r.body or x.on_body, decoding it first when
// options.decompress applies. Returns true when the connection ended
// exactly at the end of the body.
bool read_body(conn& c, exchange_ctx& x, const detail::framing& f, response& r) {
  auto deliver = [&](const char* p, std::size_t n) {
    if (n == 0) return;
    r.body_bytes += n;
    if (x.on_body) {
      if (!(*x.on_body)(p, n)) throw error(errc::too_large, x.url, "body refused by the on_body callback");
      return;
    }
    if (r.body.size() + n > x.o.max_body_bytes)
      throw error(errc::too_large, x.url,
                  std::string(r.content_encoding.empty() ? "body" : "decoded body") + " larger than max_body_bytes (" +
                      std::to_string(x.o.max_body_bytes) + ")");
    r.body.append(p, n);
  };
  const auto decoder = decoder_for(x, f, r);
  const detail::content_decoder::sink_type decoded = deliver;
  auto sink = [&](const char* p, std::size_t n) {
    if (!decoder) return deliver(p, n);
    try {
      decoder->feed(p, n, decoded);
    } catch (const detail::decode_error& e) {
      throw error(errc::bad_response, x.url, e.what());
    }
  };
  auto finish = [&](bool clean) {
    if (decoder) try {
        decoder->finish();
      } catch (const detail::decode_error& e) {
        throw error(errc::truncated_body, x.url, e.what());
      }
    return clean;
  };
  // Bodies go straight into r.body when nothing stands between.
  const bool direct = !x.on_body && !decoder;
  switch (f.k) {
    case detail::framing::none:
      return true;
    case detail::framing::by_length: {
      if (direct && f.length > x.o.max_body_bytes)
        throw error(errc::too_large, x.url, "Content-Length " + std::to_string(f.length) + " larger than max_body_bytes (" +
                                               std::to_string(x.o.max_body_bytes) + ")");
      if (direct) r.body.reserve(static_cast<std::size_t>(f.length));
      std::uint64_t left = f.length;
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, c.buf.size()));
      sink(c.buf.data(), take);
      c.buf.consume(take);
      left -= take;
      std::unique_ptr<char[]> tmp;
      constexpr std::size_t tmp_size = 16384;
      // r.body grows geometrically ahead of the bytes read (std::string
      // zero-fills what it grows by: at most twice the body in all), and
      // is cut to what arrived at the end.
      std::size_t filled = r.body.size();
      struct trim_body {
        std::string& b;
        std::size_t& n;
        bool on;
        ~trim_body() {
          if (on) b.resize(n);
        }
      } trim_on_exit{r.body, filled, direct};
      while (left > 0) {
        // The rest goes straight into the body (or a heap buffer for the
        // callback or the decoder): no copy through the connection's buffer.
        std::error_code ec;
        std::size_t n;
        if (!direct) {
          const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, tmp_size));
          n = c.read_ready(
              x, ec,
              [&] {
                if (!tmp) tmp = std::make_unique_for_overwrite<char[]>(tmp_size);
                return mutable_buffer(tmp.get(), want);
              },
              [&] { tmp.reset(); });
          if (!ec && n > 0) sink(tmp.get(), n);
        } else {
          if (filled == r.body.size())
            r.body.resize(filled + static_cast<std::size_t>(std::min<std::uint64_t>(left, std::max<std::size_t>(filled, 64 * 1024))));
          n = c.read_ready(
              x, ec, [&] { return mutable_buffer(r.body.data() + filled, r.body.size() - filled); }, [] {});
          if (!ec) {
            filled += n;
            r.body_bytes += n;
          }
        }
        if (ec && ec != std::errc::connection_reset && ec != io_errc::end_of_stream) x.fail_io("reading the body", ec);
        if (ec || n == 0)
          throw error(errc::truncated_body, x.url, "connection closed after " + std::to_string(f.length - left) + " of " +
                                                       std::to_string(f.length) + " body bytes");
        left -= n;
      }
      return finish(true);
    }
    case detail::framing::chunked: {
      detail::chunked_decoder d(limits_of(x.o));
      for (;;) {
        std::size_t used;
        try {
          used = d.feed(c.buf.data(), c.buf.size(), sink);
        } catch (const detail::parse_error& e) {
          throw error(e.limit() ? errc::too_large : errc::bad_response, x.url, std::string("chunked body: ") + e.what());
        }
        c.buf.consume(used);
        if (d.done()) return finish(true);
        if (!c.fill(x, "reading the body"))
          throw error(errc::truncated_body, x.url, "connection closed before the last chunk");
      }
    }
    case detail::framing::until_close:
      for (;;) {
        sink(c.buf.data(), c.buf.size());
        c.buf.clear();
        if (!c.fill(x, "reading the body")) {
          if (c.unclean_eof)
            throw error(errc::truncated_body, x.url, "TLS connection closed without close_notify before the end of a close-delimited body");
          return finish(false);
        }
      }
  }
  return false;
}

// One request/response on `c`. Returns whether `c` may be reused.
bool exchange(conn& c, exchange_ctx& x, std::string_view method, const url& u, const std::string& body,
              const headers& extra, response& r) {
  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(u.target).append(" HTTP/1.1\r\nHost: ").append(u.authority());
  req.append("\r\nUser-Agent: greenring/0.1\r\nAccept: */*\r\n");
  bool has_length = false, has_encoding = false;
  for (const auto& h : extra) {
    req.append(h.name).append(": ").append(h.value).append("\r\n");
    if (detail::iequals(h.name, "Content-Length")) has_length = true;
    if (detail::iequals(h.name, "Accept-Encoding")) has_encoding = true;
  }
  if (x.o.decompress && !has_encoding) req.append("Accept-Encoding: gzip, deflate\r\n");
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH"))
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("\r\n");
  const_buffer parts[] = {const_buffer(req), const_buffer(body)};
  std::error_code send_ec;
  c.s.write(parts, send_ec, x.read_timeout());
  // Not kept while the response is awaited: with a thousand requests in
  // flight that is a quarter MiB of heads already sent.
  std::string().swap(req);
  if (send_ec) {
    // A server may answer before it has read the whole body and close,
    // resetting the connection under our write (a 413 for an upload too
    // large, say). Its answer is then in our receive queue: read it, as
    // curl does. Over TLS a failed write ends the session, so not there.
    const bool peer_gone = send_ec == std::errc::broken_pipe || send_ec == std::errc::connection_reset;
    if (!peer_gone || c.s.tls) {
      if (peer_gone && c.reused) throw stale_connection{};
      x.fail_io("sending the request", send_ec);
    }
  }
  const auto lim = head_limits_of(x.o);
  constexpr int max_interim = 16;  // a server sending 1xx forever is refused
  for (int interim = 0;; ++interim) {  // interim 1xx responses come before the final one
    if (interim > max_interim)
      throw error(errc::bad_response, x.url, "more than " + std::to_string(max_interim) + " interim (1xx) responses");
    std::size_t end;
    for (;;) {
      try {
        end = detail::find_head_end(c.buf.view(), lim);
      } catch (const detail::parse_error& e) {
        throw error(e.limit() ? errc::too_large : errc::bad_response, x.url, e.what());
      }
      if (end) break;
      if (!c.fill(x, "reading the response head")) {
        if (c.reused && c.buf.empty()) throw stale_connection{};
        if (send_ec && c.buf.empty()) x.fail_io("sending the request", send_ec);
        throw error(c.buf.empty() ? errc::io : errc::bad_response, x.url,
                    c.buf.empty() ? "connection closed before any response" : "connection closed inside the response head");
      }
    }
    response_head h;
    try {
      h = detail::parse_response_head(c.buf.view().substr(0, end), lim);
    } catch (const detail::parse_error& e) {
      throw error(e.limit() ? errc::too_large : errc::bad_response, x.url, e.what());
    }
    c.buf.consume(end);
    if (h.status >= 100 && h.status < 200) {
      if (h.status == 101) throw error(errc::unsupported, x.url, "the server switched protocols (101)");
      continue;
    }
    detail::framing f;
    try {
      f = detail::response_framing(h, method == "HEAD");
    } catch (const detail::parse_error& e) {
      throw error(e.limit() ? errc::too_large : errc::bad_response, x.url, e.what());
    }
    r.status = h.status;
    r.reason = std::move(h.reason);
    r.head = std::move(h.head);
    const bool clean_end = read_body(c, x, f, r);
    return f.reusable && clean_end && c.buf.empty() && !send_ec;
  }
}

bool is_redirect(int s) noexcept { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

// A request's hold on its host's pool entry and on its permits, for one
// hop. Releasing after the connection went back to the idle list lets the
// next waiter find it there.
class lease {
 public:
  lease(detail::pool_state& p, const options& o, const std::string& key) : p_(p), it_(p.hosts.try_emplace(key).first) {
    ++h().users;
    if (o.max_connections_per_host && !h().permits) h().permits = std::make_unique<semaphore>(o.max_connections_per_host);
    if (o.max_connections && !p.permits) p.permits = std::make_unique<semaphore>(o.max_connections);
  }
  // Waits for the permits (within the total deadline).
  void acquire(const options& o, exchange_ctx& x) {
    if (h().permits) {
      if (!h().permits->acquire(x.time_left()))
        throw error(errc::timeout, x.url,
                    "total timeout exceeded waiting for a connection (max_connections_per_host " +
                        std::to_string(o.max_connections_per_host) + ")");
      host_permit_ = true;
    }
    if (p_.permits) {
      if (!p_.permits->acquire(x.time_left()))
        throw error(errc::timeout, x.url,
                    "total timeout exceeded waiting for a connection (max_connections " + std::to_string(o.max_connections) +
                        ")");
      client_permit_ = true;
    }
  }
  ~lease() {
    if (client_permit_) p_.permits->release();
    if (host_permit_) h().permits->release();
    if (--h().users == 0 && h().idle.empty() && (!h().permits || h().permits->waiting() == 0)) p_.hosts.erase(it_);
  }
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;

  detail::host_entry& h() const noexcept { return it_->second; }
  // Makes room for one more connection under max_connections.
  void before_open(const options& o) {
    if (o.max_connections && p_.open >= o.max_connections) p_.close_one_idle(&h());
  }

 private:
  detail::pool_state& p_;
  std::map<std::string, detail::host_entry>::iterator it_;
  bool host_permit_ = false, client_permit_ = false;
};

// A connection counted in pool_state::open while it lives outside the idle
// list.
struct counted_conn : conn {
  detail::pool_state& p;
  bool counted = false;
  explicit counted_conn(detail::pool_state& ps) : p(ps) {}
  ~counted_conn() {
    if (counted) --p.open;
  }
};

// Whether an idle keep-alive connection can carry the next request: only
// when nothing arrived on it while it sat in the pool. An EOF or a reset
// means the server closed it; bytes mean a response nobody asked for (Go's
// "unsolicited response on idle HTTP channel"), which would otherwise be
// read as the answer to the next request. Under TLS the records that came
// are decrypted first: a session ticket or a key update is fine, data or
// close_notify is not.
bool idle_usable(detail::transport& t) noexcept {
  char b;
  if (t.tls) {
    std::error_code ec;
    try {
      t.tls->try_read_some(mutable_buffer(&b, 1), ec);
    } catch (...) {
      return false;  // no memory for OpenSSL: a fresh connection then
    }
    return ec == std::errc::operation_would_block;
  }
  const ssize_t n = ::recv(t.tcp.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// Moves the newest usable idle connection into `c` (c.reused then), closing
// the ones that changed while idle.
void take_idle(detail::pool_state& pool, std::vector<detail::transport>& idle, counted_conn& c) {
  while (!idle.empty()) {
    c.s = std::move(idle.back());
    idle.pop_back();
    --pool.idle_count;
    if (idle_usable(c.s)) {
      c.counted = c.reused = true;
      return;
    }
    c.s.close();
    --pool.open;
  }
}

// The cold parts of client::send, out of line so that its frame, which every
// request's task keeps while it waits, stays small (see sock_op).

// Connects `c` to `u` (and starts TLS for https), counted in the pool.
[[gnu::noinline]] void open_connection(detail::pool_state& pool, const options& o, lease& l, const url& u,
                                       exchange_ctx& x, counted_conn& c) {
  if (x.time_left() <= duration::zero()) throw error(errc::timeout, x.url, "total timeout exceeded before connecting");
  l.before_open(o);
  std::error_code ec;
  c.s.tcp = tcp_stream::connect(u.host, u.port, ec, std::min<duration>(o.connect_timeout, x.time_left()));
  if (ec) {
    if (ec == std::errc::timed_out) throw error(errc::timeout, x.url, "connect timed out");
    // A name that did not resolve says so ("resolve no.such.host: Name or
    // service not known"), not that a connect failed.
    const bool unresolved = ec.category() == resolver_category();
    throw error(errc::connect_failed, x.url,
                (unresolved ? "resolve " + u.host : "connect to " + u.authority()) + ": " + ec.message());
  }
  ++pool.made;
  ++pool.open;
  c.counted = true;
  if (u.scheme != "https") return;
  if (!pool.tls_ctx) {
    tls::client_options t;
    t.verify = !o.insecure;
    t.ca_pem = o.ca_pem;
    t.alpn = {"http/1.1"};  // said out loud, as curl and browsers do
    pool.tls_ctx = std::make_unique<tls::context>(tls::context::client(t));
  }
  try {
    c.s.tls = std::make_unique<tls::stream>(
        tls::stream::connect(std::move(c.s.tcp), *pool.tls_ctx, u.host, std::min<duration>(o.tls_handshake_timeout, x.time_left())));
  } catch (const tls::error& e) {
    throw error(errc::tls, x.url, e.what());
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::timed_out) throw error(errc::timeout, x.url, "TLS handshake timed out");
    throw error(errc::tls, x.url, e.what());
  }
}

// The redirect `r` asks for: its target, with the method, body and headers
// adjusted for it.
[[gnu::noinline]] url next_hop(const options& o, const exchange_ctx& x, const url& u, const response& r, int hop,
                               const std::string& origin, std::string& method, std::string& body, headers& base) {
  const std::string* loc = r.header("Location");
  if (!loc || loc->empty()) throw error(errc::bad_redirect, x.url, "redirect without a Location");
  if (hop + 1 > o.max_redirects)
    throw error(errc::too_many_redirects, x.url, "more than " + std::to_string(o.max_redirects) + " redirects");
  url next = u.resolve(*loc);
  if (r.status == 303 || ((r.status == 301 || r.status == 302) && method == "POST")) {
    method = method == "HEAD" ? "HEAD" : "GET";
    body.clear();
    std::erase_if(base, [](const header& h) { return detail::iequals(h.name, "Content-Type"); });
  }
  if (pool_key(next) != origin)  // another scheme, host or port (curl's CVE-2022-27776)
    std::erase_if(base, [](const header& h) {
      return detail::iequals(h.name, "Authorization") || detail::iequals(h.name, "Cookie");
    });
  return next;
}

}  // namespace

client::client(options opts) : opts_(std::move(opts)), pool_(std::make_unique<detail::pool_state>()) {}
client::~client() = default;

std::size_t client::idle_connections() const noexcept { return pool_->idle_count; }
std::uint64_t client::connections_made() const noexcept { return pool_->made; }
std::size_t client::open_connections() const noexcept { return pool_->open; }

response client::get(std::string_view u) { return request("GET", u); }
response client::head(std::string_view u) { return request("HEAD", u); }
response client::post(std::string_view u, std::string body, std::string content_type) {
  return request("POST", u, std::move(body), {{"Content-Type", std::move(content_type)}});
}
response client::request(std::string_view method, std::string_view u, std::string body, headers extra) {
  return send(method, u, std::move(body), std::move(extra), opts_.on_body ? &opts_.on_body : nullptr);
}

response client::download(std::string_view u, const std::string& path) {
  const std::string part = path + ".part";
  file f = file::open(part, O_WRONLY | O_CREAT | O_TRUNC);
  try {
    // Written in pieces of up to 256 KiB, each through the ring.
    std::string pending;
    std::uint64_t offset = 0;
    auto flush = [&] {
      f.write_at(const_buffer(pending), offset);
      offset += pending.size();
      pending.clear();
    };
    const body_sink sink = [&](const char* p, std::size_t n) {
      pending.append(p, n);
      if (pending.size() >= (256u << 10)) flush();
      return true;
    };
    response r = send("GET", u, {}, {}, &sink);
    flush();
    f.close();
    if (::rename(part.c_str(), path.c_str()) != 0)
      throw std::system_error(errno, std::generic_category(), "download: rename " + part + " to " + path);
    return r;
  } catch (...) {
    f.close();
    ::unlink(part.c_str());
    throw;
  }
}

response client::send(std::string_view method_in, std::string_view url_text, std::string body, headers extra,
                      const body_sink* sink) {
  url u = url::parse(url_text);
  std::string method(method_in);
  exchange_ctx x{opts_, u.to_string(), clk::now() + std::min<duration>(opts_.total_timeout, std::chrono::hours(24 * 365)),
                 sink};
  headers base = opts_.extra_headers;
  base.insert(base.end(), extra.begin(), extra.end());
  const std::string origin = pool_key(u);
  for (int hop = 0;; ++hop) {
    x.url = u.to_string();
    response r;
    r.url = x.url;
    lease l(*pool_, opts_, pool_key(u));
    l.acquire(opts_, x);
    auto& idle = l.h().idle;
    for (int attempt = 0;; ++attempt) {
      counted_conn c(*pool_);
      if (attempt == 0) take_idle(*pool_, idle, c);
      if (!c.reused) open_connection(*pool_, opts_, l, u, x, c);
      bool reusable;
      try {
        reusable = exchange(c, x, method, u, body, base, r);
      } catch (const stale_connection&) {
        continue;  // the server closed a kept-alive connection meanwhile: once more, fresh
      }
      if (reusable && idle.size() < detail::pool_state::max_idle_per_host) {
        idle.push_back(std::move(c.s));
        ++pool_->idle_count;
        c.counted = false;  // counted as idle now
      }
      break;
    }
    if (!opts_.follow_redirects || !is_redirect(r.status)) return r;
    u = next_hop(opts_, x, u, r, hop, origin, method, body, base);
  }
}

response get(std::string_view u, const options& opts) {
  client c(opts);
  return c.get(u);
}

}  // namespace greenring::http
