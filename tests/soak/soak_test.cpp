// Soak (RELIABILITY.md section 6): for GREENRING_SOAK_SECONDS (default 10;
// scripts/test.sh gives 60) one hub runs everything at once: HTTP fetches
// against a hostile server, plain and over TLS (every response kind below,
// in random order and sizes, over one shared keep-alive pool and over
// one-shot clients), tasks
// fetching that a killer task kills at random moments or that random
// Timeout scopes cancel, bounded queues whose producers and consumers are
// killed while waiting, thread-pool jobs whose waiters are killed, and echo
// connections. Every fetch must end exactly as its response kind says (a
// byte-exact body, or the one error that kind deserves), no item may be
// lost or duplicated, and afterwards the leak fixture checks that no task,
// timer, request in flight, stack or fd is left. GREENRING_SOAK_SEED picks
// the random choices (printed, so a failure can be replayed).
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
namespace gr = greenring;
namespace http = greenring::http;

namespace {

class Soak : public greenring_test::Runtime {};

using clk = std::chrono::steady_clock;

unsigned env_number(const char* name, unsigned fallback) {
  const char* v = std::getenv(name);
  return v && *v ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : fallback;
}

// What the hostile server does with a request for /k/<kind>/<n>.
enum class kind {
  ok_length,             // Content-Length, body written in pieces
  ok_chunked,            // chunks of random sizes, extensions, a trailer
  ok_close,              // body delimited by closing the connection
  interim,               // 100 and 103 before the final response
  redirect,              // 302 to /k/ok_length/<n>
  keepalive_then_close,  // a keep-alive response, then the server hangs up
  redirect_loop,         // 302 to itself
  truncated_length,      // Content-Length more than what is sent, then close
  truncated_chunked,     // close inside a chunk
  bad_status,            // "2OO"
  conflicting_length,    // two different Content-Lengths
  huge_header,           // one header line above the 8 KiB limit
  chunk_overflow,        // a chunk size of 17 hex digits
  no_response,           // closes without a byte
  reset_mid_body,        // half the body, then an RST
  stall,                 // never answers
  drip,                  // one byte of head per millisecond, forever
  close_unclean,         // close-delimited body, no close_notify under TLS
  forged_record,         // half the body, then a record no key made (bytes under TLS), then close
  count
};
constexpr std::size_t kinds = static_cast<std::size_t>(kind::count);
constexpr std::array<const char*, kinds> kind_names = {
    "ok_length", "ok_chunked",         "ok_close",    "interim",        "redirect",    "keepalive_then_close",
    "redirect_loop", "truncated_length", "truncated_chunked", "bad_status", "conflicting_length", "huge_header",
    "chunk_overflow", "no_response", "reset_mid_body", "stall", "drip", "close_unclean",
    "forged_record"};

// Over TLS a body that ends with the connection but without close_notify
// may have been cut by an attacker: truncated (RELIABILITY.md P3).
bool succeeds(kind k, bool tls) { return k <= kind::keepalive_then_close || (k == kind::close_unclean && !tls); }
bool times_out(kind k) { return k == kind::stall || k == kind::drip; }
// The errors a failing kind may end with (reset_mid_body: the RST may
// overtake the bytes before it, so the client may see no head at all).
std::vector<http::errc> allowed_errors(kind k, bool tls) {
  using e = http::errc;
  switch (k) {
    case kind::forged_record: return {tls ? e::tls : e::truncated_body};
    case kind::close_unclean: return {e::truncated_body};
    case kind::redirect_loop: return {e::too_many_redirects};
    case kind::truncated_length:
    case kind::truncated_chunked: return {e::truncated_body};
    case kind::bad_status:
    case kind::conflicting_length: return {e::bad_response};
    case kind::huge_header: return {e::too_large};
    case kind::chunk_overflow: return {e::bad_response};
    case kind::no_response: return {e::io};
    case kind::reset_mid_body: return {e::truncated_body, e::io, e::bad_response};
    case kind::stall:
    case kind::drip: return {e::timeout};
    default: return {};
  }
}

// Bytes that are not all the same, so a misplaced or missing piece shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13 + n) % 26);
  return s;
}

// Failures seen in any task, reported once at the end (and the first few
// as they happen, with what was asked).
struct failures {
  std::size_t count = 0;
  void add(const std::string& what) {
    if (++count <= 20) ADD_FAILURE() << what;
  }
};

// ------------------------------------------------------------ the server

template <class Stream>
void write_pieces(Stream& s, std::string_view out, std::mt19937& rng, std::error_code& ec) {
  while (!out.empty() && !ec) {
    const std::size_t n = std::min<std::size_t>(out.size(), 1 + rng() % 6000);
    s.write_all(gr::const_buffer(out.data(), n), ec);
    out.remove_prefix(n);
  }
}

std::string chunked(const std::string& body, std::mt19937& rng) {
  static const char* hex = "0123456789abcdef";
  static const char* HEX = "0123456789ABCDEF";
  std::string out;
  for (std::size_t at = 0; at < body.size();) {
    const std::size_t n = std::min<std::size_t>(body.size() - at, 1 + rng() % 4096);
    const char* digits = rng() % 2 ? hex : HEX;
    std::string size;
    for (std::size_t v = n; v; v >>= 4) size.insert(size.begin(), digits[v & 15]);
    out += size;
    if (rng() % 4 == 0) out += ";ext=\"v\"";
    out += "\r\n";
    out.append(body, at, n);
    out += "\r\n";
    at += n;
  }
  out += "0\r\n";
  if (rng() % 2) out += "X-Trailer: t\r\n";
  out += "\r\n";
  return out;
}

int fd_of(gr::tcp_stream& s) { return s.native_handle(); }
int fd_of(gr::tls::stream& s) { return s.lower().native_handle(); }
gr::tcp_stream& under(gr::tcp_stream& s) { return s; }
gr::tcp_stream& under(gr::tls::stream& s) { return s.lower(); }
void close_notify(gr::tcp_stream&) {}
void close_notify(gr::tls::stream& s) { s.shutdown(); }

// Serves one connection: requests for /k/<kind>/<n>, each answered as its
// kind says; returns (closing it) when the kind ends the connection.
template <class Stream>
void hostile(Stream& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::string in;
  char buf[4096];
  std::error_code ec;
  for (;;) {
    std::size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      const std::size_t n = s.read_some(buf, ec);
      if (ec || n == 0 || in.size() > 64 * 1024) return;
      in.append(buf, n);
    }
    const std::string line = in.substr(0, in.find("\r\n"));
    in.erase(0, end + 4);
    // "GET /k/<name>/<n> HTTP/1.1"
    const std::size_t p = line.find("/k/"), q = line.find('/', p + 3), sp = line.find(' ', q);
    if (p == std::string::npos || q == std::string::npos || sp == std::string::npos) return;
    const std::string name = line.substr(p + 3, q - p - 3);
    const std::size_t n = std::stoul(line.substr(q + 1, sp - q - 1));
    const auto it = std::find(kind_names.begin(), kind_names.end(), name);
    if (it == kind_names.end()) return;
    const kind k = static_cast<kind>(it - kind_names.begin());
    const std::string body = pattern(n);
    const std::string with_length = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" + body;
    switch (k) {
      case kind::ok_length:
        write_pieces(s, with_length, rng, ec);
        break;
      case kind::ok_chunked:
        write_pieces(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, rng), rng, ec);
        break;
      case kind::ok_close:
        write_pieces(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body, rng, ec);
        close_notify(s);
        return;
      case kind::close_unclean:
        write_pieces(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body, rng, ec);
        return;
      case kind::interim:
        write_pieces(s, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n" + with_length, rng,
                     ec);
        break;
      case kind::redirect:
        s.write_all("HTTP/1.1 302 Found\r\nLocation: /k/ok_length/" + std::to_string(n) + "\r\nContent-Length: 0\r\n\r\n",
                    ec);
        break;
      case kind::keepalive_then_close:
        write_pieces(s, with_length, rng, ec);
        return;
      case kind::redirect_loop:
        s.write_all("HTTP/1.1 302 Found\r\nLocation: /k/redirect_loop/" + std::to_string(n) +
                        "\r\nContent-Length: 0\r\n\r\n",
                    ec);
        break;
      case kind::truncated_length:
        write_pieces(s, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n + 10) + "\r\n\r\n" + body, rng, ec);
        return;
      case kind::truncated_chunked:
        s.write_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + body.substr(0, n % 200), ec);
        return;
      case kind::bad_status:
        s.write_all("HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", ec);
        return;
      case kind::conflicting_length:
        s.write_all("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", ec);
        return;
      case kind::huge_header:
        s.write_all("HTTP/1.1 200 OK\r\nX-Big: " + std::string(9000, 'b') + "\r\nContent-Length: 0\r\n\r\n", ec);
        return;
      case kind::chunk_overflow:
        s.write_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nxx", ec);
        return;
      case kind::no_response:
        return;
      case kind::reset_mid_body: {
        s.write_all("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n + 100) + "\r\n\r\n" + body.substr(0, n / 2),
                    ec);
        ::linger lg{1, 0};
        ::setsockopt(fd_of(s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        return;
      }
      case kind::stall:  // until the client gives up and closes
        while (s.read_some(buf, ec) > 0 && !ec) {
        }
        return;
      case kind::drip: {
        // Never ends while the client waits; 5,000 bytes stay under the
        // header-line limit, and then a complete response shows a client
        // that failed to give up.
        s.write_all("HTTP/1.1 200 OK\r\nX-Drip: ", ec);
        for (int i = 0; i < 5000 && !ec; ++i) {
          gr::sleep(1ms);
          s.write_all("d", ec);
        }
        s.write_all("\r\nContent-Length: 0\r\n\r\n", ec);
        return;
      }
      case kind::forged_record:
        // Over plain HTTP the 21 bytes are body bytes, still short of the
        // length; under TLS the client's check of the record must fail.
        write_pieces(s, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n + 100) + "\r\n\r\n" + body.substr(0, n / 2),
                     rng, ec);
        if (!ec) under(s).write_all(std::string_view("\x17\x03\x03\x00\x10" "AAAAAAAAAAAAAAAA", 21), ec);
        return;
      case kind::count:
        return;
    }
    if (ec) return;
  }
}

// ------------------------------------------------------------ the clients

struct soak {
  explicit soak(unsigned seed)
      : seed(seed),
        server(gr::address::parse("127.0.0.1:0"), [this](gr::tcp_stream& s) { hostile(s, this->seed + ++conns); }),
        tls_server(gr::address::parse("127.0.0.1:0"),
                   [this](gr::tcp_stream& s) {
                     std::optional<gr::tls::stream> t;
                     try {
                       t.emplace(gr::tls::stream::accept(std::move(s), tls_ctx, 10s));
                     } catch (const std::exception&) {
                       return;  // a client that gave up during the handshake
                     }
                     hostile(*t, this->seed + ++conns);
                   }),
        echo(gr::address::parse("127.0.0.1:0"), [](gr::tcp_stream& s) {
          char buf[8192];
          std::error_code ec;
          for (;;) {
            const std::size_t n = s.read_some(buf, ec);
            if (ec || n == 0) return;
            s.write_all(gr::const_buffer(buf, n), ec);
            if (ec) return;
          }
        }) {
    server.start();
    tls_server.start();
    echo.start();
  }
  std::string url(kind k, std::size_t n, bool tls) const {
    return (tls ? "https://" + tls_server.local().to_string() : "http://" + server.local().to_string()) + "/k/" +
           kind_names[static_cast<std::size_t>(k)] + "/" + std::to_string(n);
  }
  http::options client_options() const {
    http::options o;
    o.max_redirects = 4;
    o.ca_pem = {ca.cert_pem};
    return o;
  }

  unsigned seed;
  unsigned conns = 0;
  gr::tls::certificate ca = gr::tls::make_certificate({"Soak CA", {}, {}, 0, 30, true, nullptr});
  gr::tls::certificate leaf = gr::tls::make_certificate({"soak", {}, {"127.0.0.1"}, 0, 30, false, &ca});
  gr::tls::context tls_ctx = gr::tls::context::server(leaf.cert_pem, leaf.key_pem);
  gr::stream_server server;
  gr::stream_server tls_server;
  gr::stream_server echo;
  http::client shared{client_options()};
  failures fail;
  std::array<std::size_t, kinds> checked{};
  std::size_t tls_fetches = 0, killed_fetches = 0, cancelled_fetches = 0, victim_fetches = 0;
  std::size_t queue_items = 0, pool_jobs = 0, echo_bytes = 0, ticks = 0;
};

std::size_t body_size(std::mt19937& rng) {
  switch (rng() % 8) {
    case 0: return 0;
    case 1: return 1 + rng() % 16;
    case 7: return 100'000 + rng() % 200'000;
    default: return rng() % 20'000;
  }
}

// One fetch of kind `k` and its check: through the shared pool (stall and
// drip then cancelled by a Timeout scope) or through a one-shot client
// (stall and drip then stopped by its idle and total timeouts).
void fetch_and_check(soak& st, kind k, std::size_t n, bool shared, bool tls) {
  const std::string u = st.url(k, n, tls);
  const std::string what = std::string(kind_names[static_cast<std::size_t>(k)]) + " n=" + std::to_string(n) +
                           (shared ? " (shared pool" : " (one-shot") + (tls ? ", TLS)" : ")");
  st.tls_fetches += tls;
  try {
    http::response r;
    if (shared && times_out(k)) {
      gr::timeout t(30ms);
      try {
        r = st.shared.get(u);
      } catch (const gr::timeout_error& e) {
        if (!t.is(e)) throw;
        ++st.checked[static_cast<std::size_t>(k)];
        return;
      }
    } else if (shared) {
      r = st.shared.get(u);
    } else {
      http::options o = st.client_options();
      if (times_out(k)) {
        o.idle_timeout = 30ms;
        o.total_timeout = 60ms;
      }
      r = http::get(u, o);
    }
    if (!succeeds(k, tls)) {
      st.fail.add(what + ": succeeded (status " + std::to_string(r.status) + ", " + std::to_string(r.body.size()) +
                  " bytes)");
    } else if (r.status != 200 || r.body != pattern(n)) {
      st.fail.add(what + ": status " + std::to_string(r.status) + ", " + std::to_string(r.body.size()) +
                  " bytes, body " + (r.body == pattern(n) ? "right" : "wrong"));
    } else if (k == kind::redirect && r.url != st.url(kind::ok_length, n, tls)) {
      st.fail.add(what + ": ended at " + r.url);
    } else {
      ++st.checked[static_cast<std::size_t>(k)];
    }
  } catch (const http::error& e) {
    const auto ok = allowed_errors(k, tls);
    if (succeeds(k, tls) || std::find(ok.begin(), ok.end(), e.code()) == ok.end())
      st.fail.add(what + ": " + http::to_string(e.code()) + ": " + e.what());
    else
      ++st.checked[static_cast<std::size_t>(k)];
  } catch (const std::exception& e) {
    st.fail.add(what + ": " + e.what());
  }
}

// Fetches that get killed or cancelled at random points: whatever they
// were doing must leave the shared pool usable (checked at the end).
void victim(soak& st, unsigned seed) {
  std::mt19937 rng(seed);
  for (;;) {
    const kind k = rng() % 2 ? kind::ok_length : rng() % 2 ? kind::ok_chunked : kind::stall;
    const std::size_t n = body_size(rng);
    const bool tls = rng() % 16 == 0;  // few: a handshake cut short costs the server one
    try {
      gr::timeout t(std::chrono::microseconds(rng() % 10000));
      http::response r = st.shared.get(st.url(k, n, tls));
      ++st.victim_fetches;
      if (k == kind::stall || r.body != pattern(n)) st.fail.add("victim: a wrong answer for " + st.url(k, n, tls));
    } catch (const gr::timeout_error&) {
      ++st.cancelled_fetches;
    } catch (const http::error& e) {
      st.fail.add(std::string("victim: ") + e.what());
    }
  }
}

// Producers and consumers over a bounded queue, some killed while they
// wait: every item is consumed exactly once or was never put.
void queue_round(soak& st, std::mt19937& rng) {
  constexpr int producers = 4, consumers = 4, per_producer = 50;
  gr::queue<int> q(1 + rng() % 8);
  std::vector<char> put(producers * per_producer, 0), got(producers * per_producer, 0);
  std::vector<gr::task<void>> ps, cs;
  for (int p = 0; p < producers; ++p)
    ps.push_back(gr::spawn([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        const int id = p * per_producer + i;
        q.put(id);
        put[id] = 1;
      }
    }));
  auto consume = [&] {
    for (;;) {
      std::optional<int> v;
      try {
        v = q.get(5ms);
      } catch (const gr::queue_empty&) {
        continue;
      } catch (const gr::queue_closed&) {
        return;
      }
      if (got[*v]++) st.fail.add("queue: item " + std::to_string(*v) + " delivered twice");
    }
  };
  for (int c = 0; c < consumers; ++c) cs.push_back(gr::spawn(consume));
  for (int i = 0; i < 20; ++i) {
    gr::sleep(std::chrono::microseconds(rng() % 500));
    if (rng() % 3 == 0) ps[rng() % producers].kill();
    if (rng() % 3 == 0) {
      auto& c = cs[rng() % consumers];
      c.kill();
      c = gr::spawn(consume);  // a fresh consumer for the one killed
    }
  }
  gr::joinall(ps);
  q.close();
  gr::joinall(cs);
  if (!q.empty()) st.fail.add("queue: " + std::to_string(q.size()) + " items left after close and drain");
  for (std::size_t id = 0; id < put.size(); ++id) {
    if (put[id] && !got[id]) st.fail.add("queue: item " + std::to_string(id) + " put and lost");
    if (!put[id] && got[id]) {
      // put() was killed after inserting: forbidden ("a putter killed
      // while waiting never inserts"), unless it returned first and the
      // kill came at the next switch, which is after put[id] = 1.
      st.fail.add("queue: item " + std::to_string(id) + " delivered but its put did not return");
    }
    st.queue_items += got[id];
  }
}

// Thread-pool jobs whose waiters are killed at random: the jobs still run
// and their results reach the waiters that are left.
void pool_round(soak& st, gr::threadpool& pool, std::mt19937& rng) {
  std::vector<gr::task<void>> waiters;
  for (int i = 0; i < 8; ++i)
    waiters.push_back(gr::spawn([&st, &pool, i] {
      auto r = pool.submit([i] {
        unsigned long long x = 0;
        for (int j = 0; j < 1000 * (i + 1); ++j) x += static_cast<unsigned long long>(j) * j;
        return x;
      });
      unsigned long long want = 0;
      for (int j = 0; j < 1000 * (i + 1); ++j) want += static_cast<unsigned long long>(j) * j;
      if (r.get() != want) st.fail.add("threadpool: a wrong result");
      ++st.pool_jobs;
    }));
  gr::sleep(std::chrono::microseconds(rng() % 300));
  waiters[rng() % waiters.size()].kill();
  gr::joinall(waiters);
}

// Runs `f` however the scope is left (a kill unwinds through it).
template <class F>
struct on_exit {
  F f;
  ~on_exit() { f(); }
};
// Clang 14 does not deduce an aggregate's template arguments by itself.
template <class F>
on_exit(F) -> on_exit<F>;

// Tasks that take ticks from one ticker and then read or write under one
// rwlock, some killed at random: no tick may be taken twice or off the
// grid, no reader may overlap a writer, and the wait_group that counts the
// tasks (done() on every way out) must reach zero with the lock free.
void ticker_round(soak& st, std::mt19937& rng) {
  const auto period = std::chrono::microseconds(100 + rng() % 200);
  gr::ticker tick(period);
  gr::rwlock rw;
  int readers_in = 0;
  bool writer_in = false;
  std::set<clk::time_point> seen;
  gr::wait_group wg;
  std::vector<gr::task<void>> ts;
  for (int i = 0; i < 8; ++i) {
    wg.add();
    ts.push_back(gr::spawn([&, i] {
      on_exit done{[&] { wg.done(); }};
      for (int j = 0; j < 10; ++j) {
        const auto due = tick.tick();
        if (!seen.insert(due).second) st.fail.add("ticker: a tick taken twice");
        if ((due - *seen.begin()) % period != clk::duration::zero()) st.fail.add("ticker: a tick off the grid");
        ++st.ticks;
        if (i % 4 == 0) {
          std::unique_lock l(rw);
          if (readers_in || writer_in) st.fail.add("rwlock: a writer got in beside others");
          writer_in = true;
          on_exit leave{[&] { writer_in = false; }};
          gr::yield();
        } else {
          std::shared_lock l(rw);
          if (writer_in) st.fail.add("rwlock: a reader got in beside a writer");
          ++readers_in;
          on_exit leave{[&] { --readers_in; }};
          gr::yield();
        }
      }
    }));
  }
  for (int k = 0; k < 3; ++k) {
    gr::sleep(std::chrono::microseconds(rng() % 1500));
    ts[rng() % ts.size()].kill();
  }
  if (!wg.wait(30s)) {
    st.fail.add("wait_group: the ticker round did not end");
    gr::killall(ts);
  }
  gr::joinall(ts);
  if (readers_in || writer_in || rw.locked()) st.fail.add("rwlock: held after every task ended");
}

// An echo connection: random messages back byte for byte.
void echo_round(soak& st, std::mt19937& rng) {
  auto s = gr::tcp_stream::connect(st.echo.local());
  for (int i = 0; i < 10; ++i) {
    std::string out = pattern(1 + rng() % 70'000);
    std::string back(out.size(), '\0');
    auto w = gr::spawn([&] { s.write_all(out); });  // both ways at once: no deadlock on full buffers
    s.read_exact(gr::mutable_buffer(back.data(), back.size()));
    w.join();
    if (back != out) st.fail.add("echo: bytes differ");
    st.echo_bytes += back.size();
  }
}

TEST_F(Soak, EverythingAtOnceLeavesNothingBehind) {
  const unsigned seconds = env_number("GREENRING_SOAK_SECONDS", 10);
  const unsigned seed = env_number("GREENRING_SOAK_SEED", 20261202);
  std::printf("soak: %u s, seed %u (GREENRING_SOAK_SEED replays it)\n", seconds, seed);
  const auto deadline = clk::now() + std::chrono::seconds(seconds);
  const int workers = greenring_test::k_tsan ? 12 : 32, victims = greenring_test::k_tsan ? 6 : 16;
  {
    soak st(seed);
    gr::threadpool pool(2);

    // Checked fetches: every kind once per round, in a random order.
    std::vector<gr::task<void>> checkers;
    for (int w = 0; w < workers; ++w)
      checkers.push_back(gr::spawn([&st, &deadline, w, seed] {
        std::mt19937 rng(seed * 31 + w);
        std::array<kind, kinds> order;
        for (std::size_t i = 0; i < kinds; ++i) order[i] = static_cast<kind>(i);
        do {
          std::shuffle(order.begin(), order.end(), rng);
          for (kind k : order) fetch_and_check(st, k, body_size(rng), rng() % 3 != 0, rng() % 8 == 0);
        } while (clk::now() < deadline);
      }));

    // Victims and their killer.
    std::vector<gr::task<void>> vs;
    for (int v = 0; v < victims; ++v) vs.push_back(gr::spawn(victim, std::ref(st), seed * 17 + v));
    auto killer = gr::spawn([&] {
      std::mt19937 rng(seed + 5);
      unsigned next = 0;
      while (clk::now() < deadline) {
        gr::sleep(std::chrono::microseconds(rng() % 2000));
        auto& v = vs[rng() % vs.size()];
        v.kill();
        ++st.killed_fetches;
        v = gr::spawn(victim, std::ref(st), seed * 19 + next++);
      }
    });

    // Queues, thread-pool waiters, tickers with rwlocks and echo connections,
    // round after round.
    auto churn = gr::spawn([&] {
      std::mt19937 rng(seed + 7);
      do {
        queue_round(st, rng);
        pool_round(st, pool, rng);
        ticker_round(st, rng);
        echo_round(st, rng);
      } while (clk::now() < deadline);
    });

    gr::joinall(checkers);
    killer.join();
    churn.join();
    gr::killall(vs);
    EXPECT_TRUE(killer.successful());
    EXPECT_TRUE(churn.successful()) << "churn ended with an exception";
    for (auto& c : checkers) EXPECT_TRUE(c.successful());

    // The shared pool still works after all those kills and cancels: a
    // poisoned connection would show here as a wrong or failed answer.
    for (kind k : {kind::ok_length, kind::ok_chunked, kind::ok_close, kind::interim, kind::redirect})
      for (int i = 0; i < 4; ++i) fetch_and_check(st, k, 1000 + i, true, i % 2 == 1);
    EXPECT_LE(st.shared.open_connections(), static_cast<std::size_t>(workers + victims + 1));

    std::printf("soak: %zu failures; checked fetches per kind:", st.fail.count);
    for (std::size_t i = 0; i < kinds; ++i) std::printf(" %s %zu", kind_names[i], st.checked[i]);
    std::printf("\nsoak: %zu of the checked fetches over TLS; victims %zu done, %zu killed, %zu cancelled; "
                "%zu queue items, %zu pool jobs, %zu ticks, %zu echo bytes\n",
                st.tls_fetches, st.victim_fetches, st.killed_fetches, st.cancelled_fetches, st.queue_items, st.pool_jobs,
                st.ticks, st.echo_bytes);
    EXPECT_EQ(st.fail.count, 0u);
    // Every kind was checked at least once per worker (a round is whole).
    for (std::size_t i = 0; i < kinds; ++i) EXPECT_GE(st.checked[i], static_cast<std::size_t>(workers)) << kind_names[i];
    pool.join();
    st.server.stop(1s);
    st.tls_server.stop(1s);
    st.echo.stop(1s);
  }
}

}  // namespace
