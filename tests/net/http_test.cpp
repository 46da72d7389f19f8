// HTTP/1.1 client and server: framing, reuse, redirects, limits and every
// hostile response of RELIABILITY.md P1-P6, against servers started here
// (greenring's own, and raw ones that send exactly the bytes a test wants).
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace http = greenring::http;
using greenring::tcp_stream;

namespace {

class Http : public greenring_test::Runtime {};

// Answers each request with the next of `replies`, byte for byte; closes
// the connection after each reply unless `keep_alive`.
struct raw_server {
  explicit raw_server(std::vector<std::string> r, bool keep_alive = false, greenring::duration drip = {})
      : replies(std::move(r)), keep(keep_alive), drip_every(drip) {
    task = greenring::spawn([this] { serve(); });
  }
  ~raw_server() {
    listener.close();
    task.kill();
  }
  std::string url(const std::string& path = "/") const { return "http://" + listener.local().to_string() + path; }
  void serve() {
    std::size_t next = 0;
    while (next < replies.size()) {
      std::error_code ec;
      tcp_stream s = listener.accept(ec);
      if (ec) return;
      ++connections;
      while (next < replies.size()) {
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
          std::size_t n = s.read_some(buf, ec);
          if (ec || n == 0) break;
          req.append(buf, n);
        }
        if (req.find("\r\n\r\n") == std::string::npos) break;
        requests.push_back(req.substr(0, req.find("\r\n")));
        const std::string& out = replies[next++];
        if (drip_every > greenring::duration::zero()) {
          for (char c : out) {
            s.write_all(greenring::const_buffer(&c, 1), ec);
            if (ec) return;
            greenring::sleep(drip_every);
          }
        } else {
          s.write_all(out, ec);
        }
        if (!keep) break;
      }
    }
  }
  greenring::tcp_listener listener = greenring::tcp_listener::bind(greenring::address::parse("127.0.0.1:0"));
  std::vector<std::string> replies;
  bool keep;
  greenring::duration drip_every;
  int connections = 0;
  std::vector<std::string> requests;
  greenring::task<void> task;
};

http::errc fetch_error(const std::string& reply, http::options o = {}, std::string* what = nullptr) {
  raw_server srv({reply});
  try {
    http::get(srv.url(), o);
  } catch (const http::error& e) {
    if (what) *what = e.what();
    return e.code();
  }
  return http::errc{};
}

TEST_F(Http, UrlsParseStrictly) {
  auto u = http::url::parse("HTTP://Example.COM:8080/a/b?q=1#frag");
  EXPECT_EQ(u.scheme, "http");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.target, "/a/b?q=1");
  EXPECT_EQ(http::url::parse("https://[::1]/").authority(), "[::1]");
  EXPECT_EQ(http::url::parse("http://h").target, "/");
  EXPECT_EQ(http::url::parse("http://h?x").target, "/?x");
  EXPECT_EQ(http::url::parse("http://h/%41%2f").target, "/%41%2f");
  for (const char* bad : {"ftp://h/", "h/x", "http://", "http://u:p@h/", "http://h:0/", "http://h:65536/", "http://h:/",
                          "http://[::1/", "http://[zz]/", "http://h/a b", "http://h/%zz", "http://h/%4", "http://ho st/"}) {
    try {
      http::url::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const http::error& e) {
      EXPECT_EQ(e.code(), http::errc::bad_url) << bad;
    }
  }
  auto base = http::url::parse("http://h/a/b?x");
  EXPECT_EQ(base.resolve("c").to_string(), "http://h/a/c");
  EXPECT_EQ(base.resolve("/d").to_string(), "http://h/d");
  EXPECT_EQ(base.resolve("//o:81/e").to_string(), "http://o:81/e");
  EXPECT_EQ(base.resolve("https://s/").to_string(), "https://s/");
  EXPECT_THROW(base.resolve("javascript:alert(1)"), http::error);
  EXPECT_THROW(base.resolve("ftp://s/"), http::error);
}

TEST_F(Http, ContentLengthChunkedAndCloseDelimitedBodies) {
  raw_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
                  "HTTP/1.1 200 OK\r\n\r\nuntil close"});
  http::client c;
  EXPECT_EQ(c.get(srv.url()).body, "hello");
  EXPECT_EQ(c.get(srv.url()).body, "hello world");
  auto r = c.get(srv.url());
  EXPECT_EQ(r.body, "until close");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(c.idle_connections(), 0u) << "the raw server closes every connection";
}

TEST_F(Http, NoBodyForHeadAnd204And304AndInterimResponsesAreSkipped) {
  raw_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n",
                  "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
                  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
                 true);
  http::client c;
  auto h = c.head(srv.url());
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "");
  EXPECT_EQ(c.get(srv.url()).status, 204);
  EXPECT_EQ(c.get(srv.url()).status, 304);
  auto r = c.get(srv.url());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(srv.connections, 1) << "all four on one kept-alive connection";
}

TEST_F(Http, KeepAliveReusesConnectionsAndSharesThemAcrossTasks) {
  http::server srv(greenring::address::parse("127.0.0.1:0"),
                   [](const http::request& r) { return http::reply{200, {}, "page " + r.target}; });
  srv.start();
  http::client c;
  const std::string base = "http://" + srv.local().to_string();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c.get(base + "/x").body, "page /x");
  EXPECT_EQ(srv.connections_accepted(), 1u);
  EXPECT_EQ(c.idle_connections(), 1u);
  std::vector<greenring::task<bool>> ts;
  for (int t = 0; t < 50; ++t)
    ts.push_back(greenring::spawn([&, t] {
      for (int i = 0; i < 4; ++i)
        if (c.get(base + "/" + std::to_string(t)).body != "page /" + std::to_string(t)) return false;
      return true;
    }));
  for (auto& t : ts) EXPECT_TRUE(t.get());
  EXPECT_LE(srv.connections_accepted(), 51u);
  EXPECT_EQ(srv.requests_served(), 210u);
  srv.stop();
}

TEST_F(Http, StaleKeptAliveConnectionIsRetriedOnAFreshOne) {
  raw_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"});
  http::client c;
  EXPECT_EQ(c.get(srv.url()).body, "a");
  EXPECT_EQ(c.idle_connections(), 1u) << "the response allowed keep-alive";
  EXPECT_EQ(c.get(srv.url()).body, "b") << "the server had closed the pooled connection";
  EXPECT_EQ(srv.connections, 2);
}

TEST_F(Http, PostSendsTheBody) {
  http::server srv(greenring::address::parse("127.0.0.1:0"), [](const http::request& r) {
    return http::reply{200, {}, r.method + " " + std::to_string(r.body.size()) + " " + r.body};
  });
  srv.start();
  http::client c;
  EXPECT_EQ(c.post("http://" + srv.local().to_string() + "/p", "payload").body, "POST 7 payload");
  srv.stop();
}

TEST_F(Http, RedirectsAreFollowedAndBounded) {
  http::server srv(greenring::address::parse("127.0.0.1:0"), [](const http::request& r) {
    if (r.target == "/a") return http::reply{302, {{"Location", "b"}}, ""};
    if (r.target == "/b") return http::reply{301, {{"Location", "/c"}}, ""};
    if (r.target == "/loop") return http::reply{307, {{"Location", "/loop"}}, ""};
    if (r.target == "/ftp") return http::reply{302, {{"Location", "ftp://x/"}}, ""};
    if (r.target == "/none") return http::reply{302, {}, ""};
    return http::reply{200, {}, "at " + r.target};
  });
  srv.start();
  const std::string base = "http://" + srv.local().to_string();
  http::client c;
  auto r = c.get(base + "/a");
  EXPECT_EQ(r.body, "at /c");
  EXPECT_EQ(r.url, base + "/c");
  try {
    c.get(base + "/loop");
    FAIL();
  } catch (const http::error& e) {
    EXPECT_EQ(e.code(), http::errc::too_many_redirects);
  }
  EXPECT_EQ(srv.requests_served(), 3u + 11u) << "the first request plus max_redirects (10) hops";
  for (const char* p : {"/ftp", "/none"}) {
    try {
      c.get(base + p);
      FAIL() << p;
    } catch (const http::error& e) {
      EXPECT_EQ(e.code(), http::errc::bad_redirect) << p;
    }
  }
  http::options no;
  no.follow_redirects = false;
  EXPECT_EQ(http::get(base + "/a", no).status, 302);
  srv.stop();
}

TEST_F(Http, TruncatedBodiesAreErrorsNotShortSuccesses) {
  std::string what;
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", {}, &what), http::errc::truncated_body);
  EXPECT_NE(what.find("5 of 10"), std::string::npos) << what;
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"), http::errc::truncated_body);
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\nContent-Len"), http::errc::bad_response);
  EXPECT_EQ(fetch_error(""), http::errc::io);
}

TEST_F(Http, HostileResponsesGetSpecificErrors) {
  struct hostile {
    const char* reply;
    http::errc code;
  };
  const hostile cases[] = {
      {"HTTP/2 200 OK\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 20 OK\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 2000 OK\r\n\r\n", http::errc::bad_response},
      {"ICY 200 OK\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", http::errc::too_large},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedchunked\r\n\r\n0\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n123x\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", http::errc::bad_response},
      {"HTTP/1.1 200 OK\nA: b\n\n", http::errc::bad_response},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", http::errc::unsupported},
  };
  for (const auto& c : cases) {
    std::string what;
    EXPECT_EQ(fetch_error(c.reply, {}, &what), c.code) << c.reply << " -> " << what;
  }
  std::string nul = "HTTP/1.1 200 OK\r\nA: b";
  nul.push_back('\0');
  nul += "c\r\n\r\n";
  EXPECT_EQ(fetch_error(nul), http::errc::bad_response);
  std::string ext(5000, 'e');
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + ext + "\r\nx\r\n0\r\n\r\n"),
            http::errc::too_large);
  // Limits on the head.
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\nA: " + std::string(9000, 'a') + "\r\n\r\n"), http::errc::too_large);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 101; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(fetch_error(many + "\r\n"), http::errc::too_large);
  std::string huge = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 20; ++i) huge += "H" + std::to_string(i) + ": " + std::string(4000, 'v') + "\r\n";
  EXPECT_EQ(fetch_error(huge + "\r\n"), http::errc::too_large);
  http::options small;
  small.max_body_bytes = 4;
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", small), http::errc::too_large);
  EXPECT_EQ(fetch_error("HTTP/1.1 200 OK\r\n\r\nhello", small), http::errc::too_large);
}

TEST_F(Http, ContentLengthWithChunkedUsesChunkedAndNeverReuses) {
  raw_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"}, true);
  http::client c;
  EXPECT_EQ(c.get(srv.url()).body, "ok");
  EXPECT_EQ(c.idle_connections(), 0u);
}

TEST_F(Http, SlowDripIsStoppedByTheTotalDeadline) {
  raw_server srv({"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'd')}, false, 20ms);
  http::options o;
  o.idle_timeout = 1s;       // every byte comes well within this
  o.total_timeout = 300ms;   // but the whole response never does
  std::string what;
  try {
    http::get(srv.url(), o);
    FAIL();
  } catch (const http::error& e) {
    EXPECT_EQ(e.code(), http::errc::timeout);
    EXPECT_NE(std::string(e.what()).find("total timeout"), std::string::npos) << e.what();
  }
}

TEST_F(Http, LargeBodyStreamsToACallback) {
  http::server srv(greenring::address::parse("127.0.0.1:0"),
                   [](const http::request&) { return http::reply{200, {}, std::string(8 << 20, 'z')}; });
  srv.start();
  http::options o;
  o.max_body_bytes = 1024;  // does not apply to streamed bodies
  std::uint64_t seen = 0;
  bool all_z = true;
  o.on_body = [&](const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) all_z = all_z && p[i] == 'z';
    seen += n;
    return true;
  };
  auto r = http::get("http://" + srv.local().to_string() + "/big", o);
  EXPECT_EQ(r.body_bytes, 8u << 20);
  EXPECT_EQ(seen, 8u << 20);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(all_z);
  srv.stop();
}

TEST_F(Http, ConnectErrorsAndHttpsAreReported) {
  greenring::address gone;
  {
    auto l = greenring::tcp_listener::bind(greenring::address::parse("127.0.0.1:0"));
    gone = l.local();
  }
  try {
    http::get("http://" + gone.to_string() + "/");
    FAIL();
  } catch (const http::error& e) {
    EXPECT_EQ(e.code(), http::errc::connect_failed);
    EXPECT_NE(std::string(e.what()).find("Connection refused"), std::string::npos) << e.what();
  }
  try {
    http::get("https://" + gone.to_string() + "/");
    FAIL();
  } catch (const http::error& e) {
    EXPECT_EQ(e.code(), http::errc::connect_failed);
  }
}

// P8: out of descriptors, each fetch fails cleanly or succeeds; nothing
// crashes, spins or leaks.
TEST_F(Http, FetchesUnderALowFdLimitFailWithEmfileOrSucceed) {
#ifdef GREENRING_TEST_UBSAN
  GTEST_SKIP() << "needs a full fd table, which UBSan's vptr check cannot work with";
#endif
  // The server runs in a child process, so that only the client's fd table
  // is short (sharing one would let connected clients starve the server).
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    http::server srv(greenring::address::parse("127.0.0.1:0"), [](const http::request&) { return http::reply{200, {}, "ok"}; });
    std::uint16_t port = srv.local().port();
    if (::write(fds[1], &port, sizeof port) != sizeof port) ::_exit(1);
    srv.serve_forever();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::uint16_t port = 0;
  ASSERT_EQ(::read(fds[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  ::close(fds[0]);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = greenring_test::open_fds() + 20;  // room for about twenty fetches at once
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  int ok = 0, emfile = 0, other = 0;
  std::string other_what;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 200; ++i)
    ts.push_back(greenring::spawn([&] {
      try {
        if (http::get(url).body == "ok") ++ok;
      } catch (const http::error& e) {
        if (e.code() == http::errc::connect_failed && std::string(e.what()).find("Too many open files") != std::string::npos)
          ++emfile;
        else {
          ++other;
          other_what = e.what();
        }
      }
    }));
  greenring::joinall(ts);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ::kill(pid, SIGKILL);
  greenring::threadpool waiter(1);
  waiter.apply([pid] { ::waitpid(pid, nullptr, 0); });
  EXPECT_EQ(ok + emfile, 200) << other << " other failures, e.g. " << other_what;
  EXPECT_GT(ok, 0);
  EXPECT_GT(emfile, 0) << "the limit was never reached: the test proves nothing";
}

// ---- TLS ----

struct pki {
  greenring::tls::certificate ca = greenring::tls::make_certificate({"Test CA", {}, {}, 0, 30, true, nullptr});
  greenring::tls::certificate leaf(std::vector<std::string> dns, std::vector<std::string> ips, int from_days = 0,
                                   int days = 30, const greenring::tls::certificate* issuer = nullptr) {
    return greenring::tls::make_certificate({"test server", std::move(dns), std::move(ips), from_days, days, false,
                                             issuer ? issuer : &ca});
  }
};

std::unique_ptr<http::server> https_server(const greenring::tls::certificate& c) {
  http::server_options o;
  o.tls_cert_pem = c.cert_pem;
  o.tls_key_pem = c.key_pem;
  auto s = std::make_unique<http::server>(greenring::address::parse("127.0.0.1:0"),
                                          [](const http::request& r) { return http::reply{200, {}, "secure " + r.target}; }, o);
  s->start();
  return s;
}

TEST_F(Http, HttpsWithATrustedCaAndMatchingNamesWorks) {
  pki p;
  auto srv = https_server(p.leaf({"localhost"}, {"127.0.0.1"}));
  http::options o;
  o.ca_pem = {p.ca.cert_pem};
  http::client c(o);
  const std::string port = std::to_string(srv->local().port());
  EXPECT_EQ(c.get("https://127.0.0.1:" + port + "/ip").body, "secure /ip");
  EXPECT_EQ(c.get("https://localhost:" + port + "/name").body, "secure /name");
  EXPECT_EQ(c.get("https://localhost:" + port + "/again").body, "secure /again");
  EXPECT_EQ(srv->connections_accepted(), 2u) << "one connection per host, kept alive";
  srv->stop();
}

TEST_F(Http, HttpsRefusesBadCertificatesWithTheReason) {
  pki p;
  struct bad_case {
    greenring::tls::certificate cert;
    const char* reason;
  };
  auto self = greenring::tls::make_certificate({"self", {"localhost"}, {"127.0.0.1"}, 0, 30, false, nullptr});
  std::vector<bad_case> cases = {
      {self, "self-signed certificate"},
      {p.leaf({"localhost"}, {"127.0.0.1"}, -10, 5), "certificate has expired"},
      {p.leaf({"other.example"}, {}), "hostname mismatch"},
      {p.leaf({}, {}), "hostname mismatch"},  // CN only, no subjectAltName
  };
  for (auto& bc : cases) {
    auto srv = https_server(bc.cert);
    http::options o;
    o.ca_pem = {p.ca.cert_pem};
    try {
      http::get("https://localhost:" + std::to_string(srv->local().port()) + "/", o);
      ADD_FAILURE() << bc.reason;
    } catch (const http::error& e) {
      EXPECT_EQ(e.code(), http::errc::tls) << e.what();
      EXPECT_NE(std::string(e.what()).find(bc.reason), std::string::npos) << e.what();
    }
    srv->stop();
  }
  // --insecure: an explicit opt-in accepts the self-signed one.
  auto srv = https_server(self);
  http::options o;
  o.insecure = true;
  EXPECT_EQ(http::get("https://localhost:" + std::to_string(srv->local().port()) + "/x", o).body, "secure /x");
  srv->stop();
}

TEST_F(Http, TlsEofWithoutCloseNotifyTruncatesACloseDelimitedBody) {
  pki p;
  auto cert = p.leaf({"localhost"}, {"127.0.0.1"});
  auto ctx = greenring::tls::context::server(cert.cert_pem, cert.key_pem);
  auto l = greenring::tcp_listener::bind(greenring::address::parse("127.0.0.1:0"));
  auto srv = greenring::spawn([&] {
    auto t = greenring::tls::stream::accept(l.accept(), ctx, 5s);
    char buf[4096];
    std::error_code ec;
    t.read_some(buf, ec, 5s);
    t.write_all(std::string_view("HTTP/1.1 200 OK\r\n\r\npartial body"));
    t.lower().close();  // no close_notify
  });
  http::options o;
  o.ca_pem = {p.ca.cert_pem};
  try {
    http::get("https://127.0.0.1:" + std::to_string(l.local().port()) + "/", o);
    FAIL();
  } catch (const http::error& e) {
    EXPECT_EQ(e.code(), http::errc::truncated_body) << e.what();
  }
  srv.get();
}

TEST_F(Http, ServerAnswersBadRequestsAndHonoursConnectionClose) {
  http::server srv(greenring::address::parse("127.0.0.1:0"), [](const http::request&) { return http::reply{200, {}, "x"}; });
  srv.start();
  auto ask = [&](const std::string& raw) {
    tcp_stream s = tcp_stream::connect(srv.local());
    s.write_all(raw);
    std::string out;
    char buf[4096];
    while (std::size_t n = s.read_some(buf, 5s)) out.append(buf, n);
    return out;
  };
  EXPECT_EQ(ask("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(ask("BROKEN\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(ask("GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").rfind("HTTP/1.1 413 ", 0), 0u);
  EXPECT_EQ(ask("GET / HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << "1.0 without keep-alive closes";
  srv.stop();
}

}  // namespace
