// Sockets: round trips, errors, timeouts, cancellation, close, limits.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>
#include <greenring/socket.hpp>
#include <greenring/resolver.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <csignal>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using greenring::address;
using greenring::tcp_listener;
using greenring::tcp_stream;

namespace {

class Socket : public greenring_test::Runtime {};

address loopback4() { return address::parse("127.0.0.1:0"); }

// Echoes every byte back until EOF.
void echo(tcp_stream& s) {
  char buf[4096];
  while (std::size_t n = s.read_some(buf)) s.write_all(greenring::const_buffer(buf, n));
}

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
  return s;
}

// One client: sends `data`, reads the same amount back, compares.
void round_trip(const address& at, const std::string& data) {
  tcp_stream c = tcp_stream::connect(at);
  auto writer = greenring::spawn([&] {
    c.write_all(data);
    c.shutdown();
  });
  std::string back(data.size(), '\0');
  c.read_exact(back);
  char extra;
  EXPECT_EQ(c.read_some(greenring::mutable_buffer(&extra, 1)), 0u) << "the server sent more than it got";
  writer.get();
  EXPECT_EQ(back, data);
}

TEST_F(Socket, AddressesParseAndFormat) {
  EXPECT_EQ(address::parse("127.0.0.1:8080").to_string(), "127.0.0.1:8080");
  EXPECT_EQ(address::parse("[::1]:8080").to_string(), "[::1]:8080");
  EXPECT_EQ(address::parse("[::1]:8080").family(), AF_INET6);
  EXPECT_EQ(address::parse("/tmp/x.sock").to_string(), "/tmp/x.sock");
  EXPECT_EQ(address::parse("@name").to_string(), "@name");
  EXPECT_EQ(address::parse("10.0.0.1:65535").port(), 65535);
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "::1:80", "[::1]80", "[1.2.3.4]:80",
                          "host:80", "1.2.3.4:8a", "[::1]:-1"})
    EXPECT_THROW(address::parse(bad), std::invalid_argument) << bad;
  try {
    address::parse("nope:80");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nope:80"), std::string::npos);
  }
  EXPECT_EQ(address::parse("1.2.3.4:80"), address::ip("1.2.3.4", 80));
}

TEST_F(Socket, EchoRoundTripOneConnection) {
  greenring::stream_server srv(loopback4(), echo);
  srv.start();
  round_trip(srv.local(), pattern(1 << 20, 1));
  srv.stop();
  EXPECT_EQ(srv.accepted(), 1u);
}

TEST_F(Socket, EchoRoundTripThousandConcurrentConnections) {
  greenring::stream_server srv(loopback4(), echo);
  srv.start();
  std::vector<greenring::task<void>> clients;
  for (unsigned i = 0; i < 1000; ++i)
    clients.push_back(greenring::spawn([&srv, i] { round_trip(srv.local(), pattern(1000 + i, i)); }));
  for (auto& c : clients) c.get();
  srv.stop();
  EXPECT_EQ(srv.accepted(), 1000u);
}

TEST_F(Socket, EchoOverIpv6AndUnixSockets) {
  for (const char* where : {"[::1]:0", "@greenring-test-echo"}) {
    greenring::stream_server srv(address::parse(where), echo);
    srv.start();
    round_trip(srv.local(), pattern(100000, 3));
    srv.stop();
  }
}

TEST_F(Socket, ConnectRefusedNamesThePeer) {
  address a;
  {
    auto l = tcp_listener::bind(loopback4());
    a = l.local();
  }  // closed: nobody listens there now
  std::error_code ec;
  tcp_stream s = tcp_stream::connect(a, ec);
  EXPECT_EQ(ec, std::errc::connection_refused);
  EXPECT_FALSE(s.is_open());
  try {
    tcp_stream::connect(a);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()), "connect " + a.to_string() + ": Connection refused");
  }
}

TEST_F(Socket, ConnectUnreachableIsAnError) {
  // TCP to a multicast group never leaves the host: the kernel refuses it.
  std::error_code ec;
  tcp_stream::connect(address::parse("224.0.0.1:9"), ec, 2s);
  EXPECT_TRUE(ec == std::errc::network_unreachable || ec == std::errc::host_unreachable) << ec.message();
}

TEST_F(Socket, ReadReturnsZeroAtEof) {
  auto l = tcp_listener::bind(loopback4());
  auto t = greenring::spawn([&] {
    tcp_stream s = l.accept();
    s.write_all("bye");
  });  // closes
  tcp_stream c = tcp_stream::connect(l.local());
  char buf[16];
  std::size_t got = 0;
  while (std::size_t n = c.read_some(greenring::mutable_buffer(buf + got, sizeof buf - got))) got += n;
  EXPECT_EQ(std::string(buf, got), "bye");
  EXPECT_EQ(c.read_some(buf), 0u);
  std::error_code ec;
  char four[4];
  EXPECT_EQ(c.read_exact(four, ec), 0u);
  EXPECT_EQ(ec, greenring::io_errc::end_of_stream);
  t.get();
}

TEST_F(Socket, WaitReadableReturnsWhenBytesOrEofAreThere) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  std::error_code ec;
  c.wait_readable(ec, 10ms);
  EXPECT_EQ(ec, std::errc::timed_out) << "nothing was sent";
  try {
    greenring::timeout t(5ms);
    c.wait_readable();
    ADD_FAILURE() << "returned with nothing to read";
  } catch (const greenring::timeout_error& e) {
    EXPECT_NE(std::string(e.what()).find("poll"), std::string::npos) << e.what();
  }
  auto waiter = greenring::spawn([&] {
    c.wait_readable(5s);
    char buf[8];
    return std::string(buf, c.read_some(buf, 5s));
  });
  greenring::yield();
  EXPECT_FALSE(waiter.ready()) << "waits for bytes";
  s.write_all("hi");
  EXPECT_EQ(waiter.get(), "hi");
  // A killed waiter leaves nothing in flight (the fixture checks).
  auto killed = greenring::spawn([&] { c.wait_readable(); });
  greenring::yield();
  killed.kill();
  EXPECT_TRUE(killed.ready());
  s.close();
  c.wait_readable(5s);  // EOF is readable
  char b;
  EXPECT_EQ(c.read_some(greenring::mutable_buffer(&b, 1)), 0u);
}

// Closing with SO_LINGER 0 sends an RST instead of a FIN.
void reset_close(tcp_stream& s) {
  linger lg{1, 0};
  ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  s.close();
}

TEST_F(Socket, TryReadSomeTakesWhatHasArrivedWithoutWaiting) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  std::error_code ec;
  char buf[8];
  EXPECT_EQ(c.try_read_some(buf, ec), 0u);
  EXPECT_EQ(ec, std::errc::operation_would_block) << "nothing was sent";
  s.write_all("hello world");
  c.wait_readable(5s);
  EXPECT_EQ(c.try_read_some(buf, ec), sizeof buf) << ec.message();
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::string(buf, sizeof buf), "hello wo");
  EXPECT_EQ(c.try_read_some(buf, ec), 3u) << "the rest, short";
  EXPECT_EQ(std::string(buf, 3), "rld");
  s.close();
  c.wait_readable(5s);
  EXPECT_EQ(c.try_read_some(buf, ec), 0u);
  EXPECT_FALSE(ec) << "end of stream is 0 bytes and no error, as for read_some: " << ec.message();
  c.close();
  EXPECT_EQ(c.try_read_some(buf, ec), 0u);
  EXPECT_EQ(ec, greenring::io_errc::closed);
}

TEST_F(Socket, TryReadSomeReportsAReset) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  reset_close(s);
  c.wait_readable(5s);
  std::error_code ec;
  char buf[8];
  EXPECT_EQ(c.try_read_some(buf, ec), 0u);
  EXPECT_EQ(ec, std::errc::connection_reset) << ec.message();
}

TEST_F(Socket, ReadOnResetPeerIsAnError) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  reset_close(s);
  std::error_code ec;
  char buf[16];
  c.read_some(buf, ec);
  EXPECT_EQ(ec, std::errc::connection_reset);
}

TEST_F(Socket, WriteToResetPeerReturnsErrorWithoutSigpipe) {
  ASSERT_EQ(std::signal(SIGPIPE, SIG_DFL), SIG_DFL) << "the test needs SIGPIPE's default (fatal) disposition";
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  reset_close(s);
  std::string mib(1 << 20, 'x');
  std::error_code ec;
  for (int i = 0; i < 8 && !ec; ++i) c.write_all(mib, ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe || ec == std::errc::connection_reset) << ec.message();
  // The vectored path too.
  greenring::const_buffer parts[] = {greenring::const_buffer(mib), greenring::const_buffer("tail")};
  c.write_all(parts, ec);
  EXPECT_TRUE(ec == std::errc::broken_pipe || ec == std::errc::connection_reset) << ec.message();
}

// Everything until EOF, read in sizes that cycle through 1, 1 + step, ...,
// 1 + (sizes - 1) * step bytes (a reader that takes odd amounts).
std::string read_to_eof(tcp_stream& s, std::size_t sizes, std::size_t step) {
  std::string got;
  std::vector<char> buf(1 + (sizes - 1) * step);
  for (std::size_t reads = 0;; ++reads) {
    const std::size_t n = s.read_some(greenring::mutable_buffer(buf.data(), 1 + (reads % sizes) * step));
    if (n == 0) return got;
    got.append(buf.data(), n);
  }
}

TEST_F(Socket, WriteAllOf64MiBToASlowReader) {
  auto l = tcp_listener::bind(loopback4());
  const std::size_t total = 64u << 20;
  std::string data = pattern(total, 9);
  auto reader = greenring::spawn([&] {
    tcp_stream s = l.accept();
    return read_to_eof(s, 4096, 16);
  });
  {
    tcp_stream c = tcp_stream::connect(l.local());
    c.write_all(data);
  }
  EXPECT_TRUE(reader.get() == data);
}

// As Go's net.Conn: write_all calls from several tasks on one stream go
// out whole, one after another in the order they were made, even when
// each takes many sends (a slow reader, a full socket buffer).
TEST_F(Socket, ConcurrentWriteAllsDoNotInterleave) {
  auto l = tcp_listener::bind(loopback4());
  constexpr int writers = 4;
  const std::size_t each = 16u << 20;
  auto reader = greenring::spawn([&] {
    tcp_stream s = l.accept();
    return read_to_eof(s, 64, 512);
  });
  {
    tcp_stream c = tcp_stream::connect(l.local());
    std::vector<std::string> data;
    for (int w = 0; w < writers; ++w) data.push_back(std::string(each, static_cast<char>('A' + w)));
    std::vector<greenring::task<void>> ws;
    for (int w = 0; w < writers; ++w) {
      if (w % 2) {
        ws.push_back(greenring::spawn([&, w] { c.write_all(data[w]); }));
      } else {
        ws.push_back(greenring::spawn([&, w] {
          greenring::const_buffer halves[] = {greenring::const_buffer(data[w].data(), each / 2),
                                              greenring::const_buffer(data[w].data() + each / 2, each - each / 2)};
          c.write_all(halves);
        }));
      }
    }
    greenring::joinall(ws, greenring::forever, true);
  }
  const std::string got = reader.get();
  ASSERT_EQ(got.size(), writers * each);
  for (int w = 0; w < writers; ++w)  // in spawn order, each in one piece
    EXPECT_EQ(got.find_first_not_of(static_cast<char>('A' + w), w * each), (w + 1 == writers) ? std::string::npos : (w + 1) * each)
        << "writer " << w << "'s bytes were interleaved with another's";
}

// A writer waiting for its turn: its timeout, a kill, a kill after the
// turn was handed to it (passed on to the next), and close() all end the
// wait cleanly, with nothing of its bytes sent.
TEST_F(Socket, WaitingWritersTimeOutAreKilledAndClosed) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  const std::string big(64u << 20, 'a');  // far more than the socket buffers hold
  greenring::event released;
  greenring::task<void> b, cw;
  std::error_code a_ec;
  auto a = greenring::spawn([&] {
    c.write_all(big, a_ec);
    b.kill_async();  // b was handed the turn and has not run: c gets it
  });
  greenring::yield();  // a holds the turn, blocked on the full buffers
  std::error_code ec;
  EXPECT_EQ(c.write_all(std::string("t"), ec, 10ms), 0u);
  EXPECT_EQ(ec, std::errc::timed_out);
  try {  // a timeout scope names the wait like any send
    greenring::timeout t(10ms);
    c.write_all(std::string("t"));
    ADD_FAILURE() << "wrote while another task held the write side";
  } catch (const greenring::timeout_error& e) {
    EXPECT_EQ(std::string(e.what()), "timeout: send " + l.local().to_string());
  }
  auto killed = greenring::spawn([&] { c.write_all(std::string("k")); });
  b = greenring::spawn([&] { c.write_all(std::string("b")); });
  cw = greenring::spawn([&] { c.write_all(std::string("c")); });
  greenring::yield();
  killed.kill();
  // Now read everything: a finishes, b is killed holding the turn, c goes.
  std::string got;
  std::vector<char> buf(1 << 16);
  while (got.size() < big.size() + 1) {
    std::size_t n = s.read_some(greenring::mutable_buffer(buf.data(), buf.size()));
    ASSERT_GT(n, 0u);
    got.append(buf.data(), n);
  }
  a.join();
  cw.join();
  b.join();
  EXPECT_FALSE(a_ec) << a_ec.message();
  EXPECT_TRUE(b.killed());
  EXPECT_TRUE(cw.successful());
  EXPECT_EQ(got, big + "c");

  // close() with a writer blocked and two waiting: all three end with
  // `closed`, and close returns only after they have left.
  std::vector<std::error_code> ecs(3);
  std::vector<greenring::task<void>> ws;
  for (int i = 0; i < 3; ++i) ws.push_back(greenring::spawn([&, i] { c.write_all(big, ecs[i]); }));
  greenring::yield();
  c.close();
  greenring::joinall(ws);
  for (auto& e : ecs) EXPECT_EQ(e, greenring::io_errc::closed) << e.message();
}

TEST_F(Socket, VectoredWriteSendsBuffersInOrder) {
  auto l = tcp_listener::bind(loopback4());
  std::vector<std::string> parts;
  std::string all;
  for (int i = 0; i < 200; ++i) {
    parts.push_back(pattern(static_cast<std::size_t>(i * 37 % 5000), static_cast<unsigned>(i)));
    all += parts.back();
  }
  auto reader = greenring::spawn([&] {
    tcp_stream s = l.accept();
    std::string got;
    char buf[8192];
    while (std::size_t n = s.read_some(buf)) got.append(buf, n);
    return got;
  });
  {
    tcp_stream c = tcp_stream::connect(l.local());
    std::vector<greenring::const_buffer> bufs(parts.begin(), parts.end());
    c.write_all(bufs);
  }
  EXPECT_EQ(reader.get(), all);
}

TEST_F(Socket, ReadTimeoutNamesOperationAndPeer) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  char buf[8];
  try {
    c.read_some(buf, 20ms);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_EQ(std::string(e.what()), "recv " + l.local().to_string() + ": Connection timed out");
  }
  // The stream still works: nothing was lost.
  s.write_all("ok");
  char two[2];
  c.read_exact(two);
  EXPECT_EQ(std::string(two, 2), "ok");
}

TEST_F(Socket, TimeoutScopeCancelsReadAndNamesIt) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  char buf[8];
  try {
    greenring::timeout t(20ms);
    c.read_some(buf);
    FAIL();
  } catch (const greenring::timeout_error& e) {
    EXPECT_EQ(std::string(e.what()), "timeout: recv " + l.local().to_string());
  }
  EXPECT_EQ(greenring::stats().io_in_flight, 0u);
}

TEST_F(Socket, AcceptTimeout) {
  auto l = tcp_listener::bind(loopback4());
  std::error_code ec;
  tcp_stream s = l.accept(ec, 10ms);
  EXPECT_EQ(ec, std::errc::timed_out);
}

// Connections already queued are taken without a ring request each (a
// burst is not accepted at one per hub turn, which overflowed backlogs
// under churn); after accept_burst in a row one goes through the ring, so
// an accept loop parks and what it spawned runs.
TEST_F(Socket, AcceptTakesQueuedConnectionsAtOnceThenParks) {
  auto l = tcp_listener::bind(loopback4());
  constexpr unsigned n = tcp_listener::accept_burst + 6;
  std::vector<tcp_stream> clients, served;
  for (unsigned i = 0; i < n; ++i) clients.push_back(tcp_stream::connect(l.local()));
  // The server's half of a loopback handshake is normally queued before
  // connect returns; make sure (a listener's tcpi_unacked is its queue).
  for (int i = 0; i < 10'000; ++i) {
    tcp_info ti{};
    socklen_t len = sizeof ti;
    ASSERT_EQ(::getsockopt(l.native_handle(), IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    if (ti.tcpi_unacked >= n) break;
    greenring::sleep(1ms);
  }
  const auto before = greenring::stats().io_submitted;
  for (unsigned i = 0; i < tcp_listener::accept_burst; ++i) served.push_back(l.accept());
  EXPECT_EQ(greenring::stats().io_submitted, before) << "a queued connection waited for the ring";
  bool ran = false;
  auto other = greenring::spawn([&] { ran = true; });
  served.push_back(l.accept());  // the burst's end: through the ring, parking
  EXPECT_GT(greenring::stats().io_submitted, before);
  EXPECT_TRUE(ran) << "the accept after a burst did not let other tasks run";
  while (served.size() < n) served.push_back(l.accept());
  for (unsigned i = 0; i < n; ++i) {  // every accepted stream is one of ours
    clients[i].write_all(greenring::const_buffer(&i, sizeof i));
  }
  std::vector<unsigned> got;
  for (auto& s : served) {
    unsigned v = 0;
    s.read_exact(greenring::mutable_buffer(&v, sizeof v));
    got.push_back(v);
  }
  std::sort(got.begin(), got.end());
  for (unsigned i = 0; i < n; ++i) EXPECT_EQ(got[i], i);
  other.join();
}

TEST_F(Socket, WriteTimeoutWhenPeerDoesNotRead) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  std::string big(64u << 20, 'x');
  std::error_code ec;
  std::size_t sent = c.write_all(big, ec, 50ms);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_LT(sent, big.size());
}

TEST_F(Socket, ConnectTimeoutWhenBacklogIsFull) {
  auto l = tcp_listener::bind(loopback4(), 0);
  std::vector<tcp_stream> held;
  std::error_code ec;
  for (int i = 0; i < 32 && ec != std::errc::timed_out; ++i) {
    tcp_stream s = tcp_stream::connect(l.local(), ec, 100ms);
    if (!ec) held.push_back(std::move(s));
  }
  EXPECT_EQ(ec, std::errc::timed_out) << "the kernel kept accepting into a full backlog";
}

TEST_F(Socket, KillDuringReadAcceptAndConnect) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  bool unwound[3] = {};
  struct mark {
    bool& b;
    ~mark() { b = true; }
  };
  auto reader = greenring::spawn([&] {
    mark m{unwound[0]};
    char buf[8];
    c.read_some(buf);
  });
  auto acceptor = greenring::spawn([&] {
    mark m{unwound[1]};
    l.accept();
  });
  auto full = tcp_listener::bind(loopback4(), 0);
  std::vector<tcp_stream> held;
  auto connector = greenring::spawn([&] {
    mark m{unwound[2]};
    for (int i = 0; i < 64; ++i) held.push_back(tcp_stream::connect(full.local()));
  });
  greenring::sleep(0);
  greenring::sleep(0);
  greenring::killall({reader, acceptor, connector});
  EXPECT_TRUE(reader.killed());
  EXPECT_TRUE(acceptor.killed());
  EXPECT_TRUE(unwound[0] && unwound[1] && unwound[2]);
  EXPECT_EQ(greenring::stats().io_in_flight, 0u);
  // The read was cancelled before data arrived: the stream still works.
  s.write_all("x");
  char one;
  EXPECT_EQ(c.read_some(greenring::mutable_buffer(&one, 1)), 1u);
}

TEST_F(Socket, CloseWakesReaderWithClosedError) {
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  std::error_code got;
  auto reader = greenring::spawn([&] {
    char buf[8];
    c.read_some(buf, got);
  });
  greenring::sleep(0);
  c.close();  // returns only once the reader's request is over
  EXPECT_TRUE(reader.ready() || (reader.join(), true));
  EXPECT_EQ(got, greenring::io_errc::closed);
  EXPECT_FALSE(c.is_open());
  try {
    char buf[1];
    c.read_some(buf);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), greenring::io_errc::closed);
  }
}

// Regression (found by http::server::stop): a second close() while another
// task's close() waits for cancelled requests must wait for it, or the
// owner could free the socket under the first closer.
TEST_F(Socket, SecondCloseWaitsForTheFirstToFinish) {
  auto l = tcp_listener::bind(loopback4());
  auto c = std::make_unique<tcp_stream>(tcp_stream::connect(l.local()));
  tcp_stream s = l.accept();
  auto reader = greenring::spawn([&] {
    char buf[8];
    std::error_code ec;
    c->read_some(buf, ec);
    return ec;
  });
  bool first_done = false;
  auto closer = greenring::spawn([&] {
    c->close();
    first_done = true;
  });
  greenring::yield();  // reader parked in recv, closer parked in close
  c->close();          // the owner's close, as its destructor would do
  EXPECT_TRUE(first_done) << "the second close returned while the first was still running";
  c.reset();           // freeing it now is safe
  closer.get();
  EXPECT_EQ(reader.get(), greenring::io_errc::closed);
}

TEST_F(Socket, UdpDatagramsBothWays) {
  auto a = greenring::udp_socket::bind(loopback4());
  auto b = greenring::udp_socket::bind(loopback4());
  auto t = greenring::spawn([&] {
    char buf[64];
    auto r = b.receive_from(buf);
    b.send_to(greenring::const_buffer(buf, r.size), r.from);
  });
  a.send_to("ping", b.local());
  char buf[64];
  auto r = a.receive_from(buf, 5s);
  EXPECT_EQ(std::string(buf, r.size), "ping");
  EXPECT_EQ(r.from, b.local());
  t.get();
  EXPECT_FALSE(r.truncated);
  std::error_code ec;
  a.receive_from(buf, ec, 10ms);
  EXPECT_EQ(ec, std::errc::timed_out);
}

// A datagram longer than the buffer is cut to it, and the caller is told.
TEST_F(Socket, UdpReceiveFromSaysWhenADatagramWasTruncated) {
  auto a = greenring::udp_socket::bind(loopback4());
  auto b = greenring::udp_socket::bind(loopback4());
  const std::string big(1000, 'z');
  a.send_to(greenring::const_buffer(big), b.local());
  a.send_to("fits", b.local());
  char buf[16];
  auto r = b.receive_from(buf, 5s);
  EXPECT_EQ(r.size, sizeof buf);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(std::string(buf, r.size), big.substr(0, sizeof buf));
  r = b.receive_from(buf, 5s);  // the rest of the long one is gone, not read next
  EXPECT_EQ(std::string(buf, r.size), "fits");
  EXPECT_FALSE(r.truncated);
}

// gevent's udp_server.py / udp_client.py: a DatagramServer answering each
// datagram from a handler task, clients on connected sockets.
TEST_F(Socket, DatagramServerAnswersEveryClient) {
  greenring::datagram_server srv(loopback4(), [](std::string_view data, const address& from, greenring::udp_socket& s) {
    greenring::yield();  // a handler is a task: it may block
    s.send_to(greenring::const_buffer("Received " + std::to_string(data.size()) + " bytes: " + std::string(data)), from);
  });
  srv.start();
  std::vector<greenring::task<std::string>> clients;
  for (int i = 0; i < 100; ++i)
    clients.push_back(greenring::spawn([&, i] {
      auto c = greenring::udp_socket::open(AF_INET);
      c.connect(srv.local());
      EXPECT_EQ(c.peer(), srv.local());
      const std::string msg = "hello " + std::to_string(i);
      EXPECT_EQ(c.send(greenring::const_buffer(msg)), msg.size());
      char buf[128];
      std::size_t n = c.receive(buf, 5s);
      return std::string(buf, n);
    }));
  for (int i = 0; i < 100; ++i) {
    const std::string msg = "hello " + std::to_string(i);
    EXPECT_EQ(clients[i].get(), "Received " + std::to_string(msg.size()) + " bytes: " + msg);
  }
  EXPECT_EQ(srv.received(), 100u);
  srv.stop();
  EXPECT_EQ(srv.handlers(), 0u);
  EXPECT_FALSE(srv.socket().is_open());
}

// At max_handlers the server stops receiving; the datagrams wait in the
// socket and are all handled once handlers end. A throwing handler fails
// its own task only.
TEST_F(Socket, DatagramServerRunsAtMostMaxHandlersAndSurvivesAFailingOne) {
  greenring::event go, all_done;
  int running = 0, most = 0, done = 0;
  greenring::datagram_server_options o;
  o.max_handlers = 3;
  greenring::datagram_server srv(
      loopback4(),
      [&](std::string_view data, const address&, greenring::udp_socket&) {
        most = std::max(most, ++running);
        struct leave {
          int& running;
          int& done;
          greenring::event& all_done;
          ~leave() {
            --running;
            if (++done == 10) all_done.set();
          }
        } l{running, done, all_done};
        go.wait();
        if (data == "boom") throw std::runtime_error("handler failed on purpose");
      },
      o);
  srv.start();
  auto c = greenring::udp_socket::open(AF_INET);
  for (int i = 0; i < 10; ++i) c.send_to(i == 4 ? std::string_view("boom") : std::string_view("x"), srv.local());
  for (int i = 0; i < 1000 && running < 3; ++i) greenring::yield();
  ASSERT_EQ(running, 3);
  for (int i = 0; i < 10; ++i) greenring::yield();
  EXPECT_EQ(srv.received(), 3u) << "received past max_handlers";
  go.set();
  ASSERT_TRUE(all_done.wait(10s));
  EXPECT_EQ(most, 3);
  EXPECT_EQ(srv.received(), 10u);
  srv.stop();
}

// stop(): handlers still running after the grace are killed; a handler may
// call stop() itself without waiting for itself.
TEST_F(Socket, DatagramServerStopKillsStragglersAndMayBeCalledFromAHandler) {
  greenring::event never;
  bool killed = false;
  {
    greenring::datagram_server srv(loopback4(), [&](std::string_view, const address&, greenring::udp_socket&) {
      try {
        never.wait();
      } catch (const greenring::greenlet_exit&) {
        killed = true;
        throw;
      }
    });
    srv.start();
    auto c = greenring::udp_socket::open(AF_INET);
    c.send_to("x", srv.local());
    for (int i = 0; i < 1000 && srv.handlers() == 0; ++i) greenring::yield();
    ASSERT_EQ(srv.handlers(), 1u);
    srv.stop(1ms);
    EXPECT_TRUE(killed);
    EXPECT_EQ(srv.handlers(), 0u);
  }
  greenring::event stopped;
  std::unique_ptr<greenring::datagram_server> srv;
  srv = std::make_unique<greenring::datagram_server>(loopback4(), [&](std::string_view, const address&, greenring::udp_socket&) {
    srv->stop(5s);
    stopped.set();
  });
  srv->start();
  auto c = greenring::udp_socket::open(AF_INET);
  c.send_to("stop", srv->local());
  ASSERT_TRUE(stopped.wait(10s));
  for (int i = 0; i < 1000 && srv->handlers() > 0; ++i) greenring::yield();
  EXPECT_EQ(srv->handlers(), 0u);
  srv.reset();
}

// A connection handler may stop its own server (a "shutdown" command): the
// stop waits for (then kills) the other connections, not the handler
// calling it, which goes on to answer.
TEST_F(Socket, StreamServerMayBeStoppedFromItsOwnHandler) {
  std::unique_ptr<greenring::stream_server> srv;
  greenring::event stopped;
  srv = std::make_unique<greenring::stream_server>(loopback4(), [&](tcp_stream& s) {
    char c;
    if (s.read_some(greenring::mutable_buffer(&c, 1)) == 1 && c == 'q') {
      srv->stop(1ms);  // the idle connection will not finish by itself
      stopped.set();
      s.write_all("bye");
    }
  });
  srv->start();
  tcp_stream idle = tcp_stream::connect(srv->local());  // another connection, which says nothing
  tcp_stream c = tcp_stream::connect(srv->local());
  c.write_all("q");
  ASSERT_TRUE(stopped.wait(10s)) << "stop() from a handler waited for itself";
  char buf[8];
  EXPECT_EQ(std::string(buf, c.read_some(buf, 10s)), "bye");
  EXPECT_EQ(idle.read_some(buf, 10s), 0u) << "the idle connection was closed by the stop";
  for (int i = 0; i < 1000 && srv->connections() > 0; ++i) greenring::yield();
  EXPECT_EQ(srv->connections(), 0u);
  srv.reset();
}

// A temporary file holding `content`, removed with it.
struct temp_file {
  explicit temp_file(const std::string& content) {
    char name[] = "/tmp/greenring-sendfile-XXXXXX";
    fd = ::mkstemp(name);
    path = name;
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  }
  ~temp_file() {
    ::close(fd);
    ::unlink(path.c_str());
  }
  int fd = -1;
  std::string path;
};

// sendfile: a file (or part of it) goes out byte-exact; a count past the
// end sends what there is; a bad descriptor names the call and the peer.
TEST_F(Socket, SendFileSendsTheBytesOfAFileRange) {
  const std::string content = pattern(5 * 1024 * 1024 + 123, 7);
  temp_file f(content);
  auto l = tcp_listener::bind(loopback4());
  auto reader = greenring::spawn([&] {
    tcp_stream s = l.accept();
    std::string got;
    char buf[65536];
    while (std::size_t n = s.read_some(buf, 10s)) got.append(buf, n);
    return got;
  });
  tcp_stream c = tcp_stream::connect(l.local());
  EXPECT_EQ(c.send_file(f.fd, 0, content.size()), content.size());
  EXPECT_EQ(c.send_file(f.fd, 1000, 5000), 5000u);
  EXPECT_EQ(c.send_file(f.fd, content.size() - 10, 1 << 20), 10u) << "past the end: what there is";
  EXPECT_EQ(c.send_file(f.fd, content.size() + 10, 100), 0u);
  EXPECT_EQ(c.send_file(f.fd, 0, 0), 0u);
  try {
    c.send_file(-1, 0, 10);
    ADD_FAILURE() << "sent from fd -1";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("sendfile " + l.local().to_string() + ": ", 0), 0u) << e.what();
  }
  c.shutdown();
  const std::string got = reader.get();
  ASSERT_EQ(got.size(), content.size() + 5000 + 10);
  EXPECT_TRUE(got.substr(0, content.size()) == content);
  EXPECT_TRUE(got.substr(content.size(), 5000) == content.substr(1000, 5000));
  EXPECT_TRUE(got.substr(content.size() + 5000) == content.substr(content.size() - 10));
}

// To a peer that reads nothing: the timeout ends the call with what was
// sent; a kill ends it too; neither leaves a request in flight or an fd
// (the fixture checks), and the socket still works afterwards.
TEST_F(Socket, SendFileToAStalledPeerEndsAtItsTimeoutOrAKill) {
  const std::string content = pattern(32 * 1024 * 1024, 3);
  temp_file f(content);
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream peer = l.accept();
  std::error_code ec;
  const std::size_t n = c.send_file(f.fd, 0, content.size(), ec, 50ms);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_LT(n, content.size());
  auto sender = greenring::spawn([&] {
    std::error_code e;
    return c.send_file(f.fd, n, content.size() - n, e);
  });
  for (int i = 0; i < 20; ++i) greenring::yield();
  sender.kill();
  EXPECT_TRUE(sender.ready());
  // The peer has a prefix of the file; the stream goes on after it.
  std::string got;
  got.resize(n);
  peer.read_exact(greenring::mutable_buffer(got.data(), n), 10s);
  EXPECT_TRUE(got == content.substr(0, n));
}

// A connected datagram socket to a port nobody listens on: the ICMP error
// comes back as ECONNREFUSED naming the peer; not a hang, not a crash.
TEST_F(Socket, ConnectedUdpToAClosedPortReportsConnectionRefused) {
  address gone;
  {
    auto u = greenring::udp_socket::bind(loopback4());
    gone = u.local();
  }
  auto c = greenring::udp_socket::open(AF_INET);
  c.connect(gone);
  c.send("anyone?");
  char buf[16];
  try {
    c.receive(buf, 5s);
    FAIL() << "received from a closed port";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::connection_refused) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("recv " + gone.to_string() + ": ", 0), 0u) << e.what();
  }
}

// A lookup that does not come back in time (here: every worker of the
// resolver's pool is busy, as with a DNS server that does not answer) ends
// at the caller's timeout, and so does connecting by name.
TEST_F(Socket, ResolverAndConnectByNameGiveUpAtTheirTimeout) {
  greenring::clear_resolver_cache();  // an earlier test's answer would be served at once
  auto& pool = greenring::resolver_pool();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<greenring::pool_result<void>> blockers;
  for (std::size_t i = 0; i < pool.size(); ++i) blockers.push_back(pool.submit([released] { released.wait(); }));
  std::error_code ec;
  EXPECT_TRUE(greenring::resolve("localhost", 80, ec, AF_UNSPEC, 20ms).empty());
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect("localhost", l.local().port(), ec, 20ms);
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
  try {
    tcp_stream::connect("localhost", l.local().port(), 20ms);
    ADD_FAILURE() << "connected";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_EQ(std::string(e.what()).rfind("resolve localhost", 0), 0u) << e.what();
  }
  release.set_value();
  for (auto& b : blockers) b.get();
  EXPECT_FALSE(greenring::resolve("localhost", 80, ec, AF_UNSPEC, 5s).empty()) << ec.message();
  pool.join();  // the abandoned lookups have finished too
}

// A lookup that every waiter gave up on before a worker took it is never
// run: a DNS server that does not answer cannot pile up abandoned work.
// One already running finishes and its answer is cached.
TEST_F(Socket, ResolverSkipsLookupsNobodyWaitsFor) {
  greenring::clear_resolver_cache();
  auto& pool = greenring::resolver_pool();
  auto block_workers = [&pool](std::shared_future<void> released) {
    std::vector<greenring::pool_result<void>> v;
    for (std::size_t i = 0; i < pool.size(); ++i) v.push_back(pool.submit([released] { released.wait(); }));
    return v;
  };
  auto lookup = [](greenring::duration timeout) {
    return greenring::spawn([timeout] {
      std::error_code e;
      auto v = greenring::resolve("localhost", 80, e, AF_UNSPEC, timeout);
      return std::make_pair(v.size(), e);
    });
  };
  const auto s0 = greenring::resolver_statistics();
  {
    // One of two waiters leaving does not abandon the lookup: the other
    // still gets the answer.
    std::promise<void> release;
    auto blockers = block_workers(release.get_future().share());
    auto patient = lookup(5s);
    auto hasty = lookup(10ms);
    EXPECT_EQ(hasty.get().second, std::errc::timed_out);
    release.set_value();
    for (auto& b : blockers) b.get();
    auto [n, e] = patient.get();
    EXPECT_GT(n, 0u) << e.message();
    pool.join();
  }
  const auto s1 = greenring::resolver_statistics();
  EXPECT_EQ(s1.lookups - s0.lookups, 1u);
  EXPECT_EQ(s1.shared - s0.shared, 1u);
  EXPECT_EQ(s1.skipped, s0.skipped);
  greenring::clear_resolver_cache();
  {
    // Every waiter gone before a worker was free: the lookup is skipped,
    // and the next caller starts its own instead of joining it.
    std::promise<void> release;
    auto blockers = block_workers(release.get_future().share());
    EXPECT_EQ(lookup(10ms).get().second, std::errc::timed_out);
    auto fresh = lookup(5s);
    greenring::yield();  // fresh asks before the workers are released
    release.set_value();
    for (auto& b : blockers) b.get();
    auto [n, e] = fresh.get();
    EXPECT_GT(n, 0u) << e.message();
    pool.join();
  }
  const auto s2 = greenring::resolver_statistics();
  EXPECT_EQ(s2.lookups - s1.lookups, 2u);
  EXPECT_EQ(s2.shared, s1.shared);
  EXPECT_EQ(s2.skipped - s1.skipped, 1u);
  EXPECT_EQ(s2.cache_hits, s0.cache_hits);
}

// Answers are kept for their TTL, per name and family; failures only when
// asked to; the cache is bounded.
TEST_F(Socket, ResolverCachesAnswersForTheirTtl) {
  const auto saved = greenring::resolver_cache();
  struct restore {
    greenring::resolver_cache_options o;
    ~restore() { greenring::set_resolver_cache(o); }
  } restore_on_exit{saved};
  greenring::set_resolver_cache({.ttl = 1h, .negative_ttl = 1h, .max_entries = 2});
  auto s0 = greenring::resolver_statistics();
  EXPECT_EQ(s0.cached, 0u);
  auto a = greenring::resolve("localhost", 80);
  auto b = greenring::resolve("localhost", 81);  // the port is the caller's, not the cache's
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].host(), b[i].host());
    EXPECT_EQ(b[i].port(), 81);
  }
  auto s1 = greenring::resolver_statistics();
  EXPECT_EQ(s1.lookups - s0.lookups, 1u);
  EXPECT_EQ(s1.cache_hits - s0.cache_hits, 1u);
  EXPECT_EQ(s1.cached, 1u);
  // Another family is another entry; an IP literal never reaches the cache.
  EXPECT_FALSE(greenring::resolve("localhost", 80, AF_INET).empty());
  EXPECT_EQ(greenring::resolve("127.0.0.1", 80).size(), 1u);
  EXPECT_EQ(greenring::resolver_statistics().cached, 2u);
  // A negative answer is kept (negative_ttl > 0), and the cache stays at
  // max_entries: the entry nearest its expiry made room.
  std::error_code e1, e2;
  greenring::resolve("no-such-host.invalid", 80, e1);
  greenring::resolve("no-such-host.invalid", 80, e2);
  EXPECT_TRUE(e1);
  EXPECT_EQ(e1, e2);
  auto s2 = greenring::resolver_statistics();
  EXPECT_EQ(s2.lookups - s1.lookups, 2u);  // localhost/AF_INET and the unknown host
  EXPECT_EQ(s2.cache_hits - s1.cache_hits, 1u);
  EXPECT_EQ(s2.cached, 2u);
  // An expired answer is looked up again.
  greenring::set_resolver_cache({.ttl = 1ns});
  greenring::resolve("localhost", 80);
  greenring::resolve("localhost", 80);
  auto s3 = greenring::resolver_statistics();
  EXPECT_EQ(s3.lookups - s2.lookups, 2u);
  EXPECT_EQ(s3.cache_hits, s2.cache_hits);
  // ttl 0: nothing kept; clear_resolver_cache forgets everything.
  greenring::set_resolver_cache({.ttl = 0s});
  greenring::resolve("localhost", 80);
  EXPECT_EQ(greenring::resolver_statistics().cached, 0u);
  greenring::set_resolver_cache({});
  greenring::resolve("localhost", 80);
  EXPECT_EQ(greenring::resolver_statistics().cached, 1u);
  greenring::clear_resolver_cache();
  EXPECT_EQ(greenring::resolver_statistics().cached, 0u);
}

// CPU jobs filling the global pool do not hold up name lookups.
TEST_F(Socket, ResolverDoesNotWaitForTheGlobalPool) {
  auto& pool = greenring::threadpool::global();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<greenring::pool_result<void>> blockers;
  for (std::size_t i = 0; i < pool.size() + 2; ++i) blockers.push_back(pool.submit([released] { released.wait(); }));
  std::error_code ec;
  auto v = greenring::resolve("localhost", 80, ec, AF_UNSPEC, 5s);
  EXPECT_FALSE(v.empty()) << ec.message();
  release.set_value();
  for (auto& b : blockers) b.get();
}

// Many tasks asking for one name at once share its lookup; each still gets
// its own port, and a failure reaches every one of them.
TEST_F(Socket, ConcurrentLookupsOfOneNameEachGetTheirPort) {
  std::vector<greenring::task<bool>> tasks;
  for (int i = 0; i < 100; ++i)
    tasks.push_back(greenring::spawn([i] {
      const auto port = static_cast<std::uint16_t>(1000 + i);
      auto v = greenring::resolve("localhost", port);
      if (v.empty()) return false;
      for (const auto& a : v)
        if (a.port() != port || !(a.to_string().rfind("127.0.0.1:", 0) == 0 || a.to_string().rfind("[::1]:", 0) == 0))
          return false;
      return true;
    }));
  std::vector<greenring::task<int>> failing;
  for (int i = 0; i < 10; ++i)
    failing.push_back(greenring::spawn([] {
      std::error_code ec;
      greenring::resolve("no-such-host.invalid", 80, ec);
      return ec.value();
    }));
  for (auto& t : tasks) EXPECT_TRUE(t.get());
  for (auto& t : failing) EXPECT_NE(t.get(), 0);
}

TEST_F(Socket, ResolverFindsLocalhostAndNamesUnknownHosts) {
  auto v = greenring::resolve("localhost", 80);
  ASSERT_FALSE(v.empty());
  for (const auto& a : v) {
    EXPECT_EQ(a.port(), 80);
    EXPECT_TRUE(a.host() == "127.0.0.1" || a.host() == "::1") << a.to_string();
  }
  EXPECT_EQ(greenring::resolve("::1", 5).front().to_string(), "[::1]:5");
  try {
    greenring::resolve("no-such-host.invalid", 80);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("resolve no-such-host.invalid: ", 0), 0u) << e.what();
  }
  // Connecting by name tries the addresses in turn.
  auto l = tcp_listener::bind(loopback4());
  tcp_stream c = tcp_stream::connect("127.0.0.1", l.local().port());
  EXPECT_EQ(c.peer(), l.local());
}

TEST_F(Socket, AcceptLoopBacksOffOnEmfileAndRecovers) {
#ifdef GREENRING_TEST_UBSAN
  // UBSan's vptr check probes memory through a pipe(2) and reports a false
  // "invalid vptr" when no fd is free; this test runs in the plain build.
  GTEST_SKIP() << "needs a full fd table, which UBSan's vptr check cannot work with";
#endif
  greenring::stream_server srv(loopback4(), [](tcp_stream& s) { s.write_all("hi"); });
  auto fetch = [&srv] {
    tcp_stream c = tcp_stream::connect(srv.local());
    char buf[2];
    c.read_exact(buf);
    return std::string(buf, 2);
  };
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  // Fill the table up to a low limit, so that accept's new fd cannot fit.
  // (io_uring reads the limit when an accept is prepared: lower it first.)
  std::vector<int> fill;
  rlimit low = old;
  low.rlim_cur = greenring_test::open_fds() + 8;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  int fd;
  while ((fd = ::dup(0)) >= 0) fill.push_back(fd);
  ASSERT_EQ(errno, EMFILE);
  ::close(fill.back());  // room for the client's own socket only
  fill.pop_back();
  srv.start();
  auto client = greenring::spawn(fetch);
  // Give the server a few turns to hit EMFILE: it must not spin or die.
  for (int i = 0; i < 5; ++i) greenring::sleep(5ms);
  EXPECT_EQ(srv.accepted(), 0u);
  EXPECT_FALSE(client.ready());
  for (int f : fill) ::close(f);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(client.get(), "hi");
  EXPECT_EQ(srv.accepted(), 1u);
  srv.stop();
}

}  // namespace

namespace {

// A listener whose accept queue is full: the kernel drops further SYNs, so
// a connect to it hangs (as to a host behind a broken route) until its
// timeout.
struct blackhole {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int filler = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  address at;
  blackhole() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(lfd, 0), 0);
    EXPECT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    at = address::from_native(reinterpret_cast<sockaddr*>(&a), len);
    EXPECT_EQ(::connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);  // fills the queue
  }
  ~blackhole() {
    ::close(filler);
    ::close(lfd);
  }
};

// Happy Eyeballs: an address that never answers does not stop the next one
// from being tried; the one trying sequentially gave up at the timeout.
TEST_F(Socket, ConnectToCandidatesGetsPastOneThatNeverAnswers) {
  blackhole hole;
  std::error_code ec;
  EXPECT_FALSE(tcp_stream::connect(hole.at, ec, 50ms).native_handle() >= 0);
  ASSERT_EQ(ec, std::errc::timed_out) << "the blackhole drops SYNs";
  auto l = tcp_listener::bind(loopback4());
  auto acceptor = greenring::spawn([&] { return l.accept().peer(); });
  tcp_stream s = tcp_stream::connect(std::vector<address>{hole.at, l.local()}, ec, 10s);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(s.peer(), l.local());
  EXPECT_EQ(acceptor.get(), s.local());
  // The attempt at the blackhole was cancelled: no task or request is left
  // (the fixture checks).
}

TEST_F(Socket, ConnectToCandidatesSkipsRefusalsAndReportsTheLastError) {
  auto closed = tcp_listener::bind(loopback4());
  const address refused = closed.local();
  closed.close();
  auto l = tcp_listener::bind(loopback4());
  auto acceptor = greenring::spawn([&] { l.accept(); });
  std::error_code ec;
  tcp_stream s = tcp_stream::connect(std::vector<address>{refused, l.local()}, ec, 10s);
  EXPECT_FALSE(ec) << ec.message();
  acceptor.get();
  tcp_stream none = tcp_stream::connect(std::vector<address>{refused, refused}, ec, 10s);
  EXPECT_EQ(ec, std::errc::connection_refused);
  blackhole hole;
  tcp_stream late = tcp_stream::connect(std::vector<address>{hole.at, refused}, ec, 300ms);
  EXPECT_EQ(ec, std::errc::timed_out) << "the refusal came first; the blackhole then ran out of time";
  EXPECT_THROW(tcp_stream::connect(std::vector<address>{}), std::system_error);
}

TEST_F(Socket, KillingAMultiAddressConnectCancelsEveryAttempt) {
  blackhole a, b;
  auto t = greenring::spawn([&] { return tcp_stream::connect(std::vector<address>{a.at, b.at}, 30s); });
  for (int i = 0; i < 1000 && greenring::stats().io_in_flight < 2; ++i) greenring::sleep(1ms);
  EXPECT_EQ(greenring::stats().io_in_flight, 2u) << "both attempts running";
  t.kill();
  EXPECT_THROW(t.get(), greenring::task_killed);
}

}  // namespace
