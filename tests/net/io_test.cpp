// The IO engine under stress: cancellation races, full queues, signals,
// fork and set-up failures (RELIABILITY.md U1-U11).
#include "../support/fixture.hpp"

#include "detail/hub.hpp"
#include "detail/uring.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using greenring::address;
using greenring::tcp_listener;
using greenring::tcp_stream;

namespace {

class Io : public greenring_test::Runtime {};

struct stream_pair {
  tcp_stream a, b;
};

stream_pair make_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::system_error(errno, std::system_category());
  return {tcp_stream::from_fd(fds[0]), tcp_stream::from_fd(fds[1])};
}

// Runs fn on a new thread whose hub has a ring of `entries` SQEs.
template <class F>
void on_thread_with_ring(unsigned entries, F fn) {
  std::exception_ptr err;
  std::thread t([&] {
    const unsigned saved = greenring::detail::ring_entries;
    greenring::detail::ring_entries = entries;
    try {
      greenring::yield();  // creates this thread's hub with that ring
      greenring::detail::ring_entries = saved;
      fn();
    } catch (...) {
      greenring::detail::ring_entries = saved;
      err = std::current_exception();
    }
  });
  t.join();
  if (err) std::rethrow_exception(err);
}

// U1: a request killed or timed out in flight is over when the call
// unwinds: the next byte goes to the next read, not to a stale one.
TEST_F(Io, KilledOrTimedOutReadsLeaveNoRequestBehind) {
  auto ab = make_pair();  // not a structured binding: lambdas capture a and b (clang 14)
  tcp_stream &a = ab.a, &b = ab.b;
  const auto before = greenring::stats();
  for (int i = 0; i < 10000; ++i) {
    if (i % 2 == 0) {
      auto t = greenring::spawn([&a] {
        char buf[64];
        a.read_some(buf);
      });
      greenring::yield();  // t is now parked in recv
      t.kill();
      ASSERT_TRUE(t.killed());
    } else {
      try {
        greenring::timeout to(std::chrono::nanoseconds(1));
        char buf[64];
        a.read_some(buf);
        FAIL() << "nothing was sent";
      } catch (const greenring::timeout_error&) {
      }
    }
    ASSERT_EQ(greenring::stats().io_in_flight, 0u);
    const char c = static_cast<char>(i);
    b.write_all(greenring::const_buffer(&c, 1));
    char got = 0;
    ASSERT_EQ(a.read_some(greenring::mutable_buffer(&got, 1)), 1u);
    ASSERT_EQ(got, c) << "a stale request consumed the byte";
  }
  const auto after = greenring::stats();
  EXPECT_EQ(after.io_submitted - before.io_submitted, after.io_completed - before.io_completed)
      << "every request got exactly one completion";
}

// U2 + U3: data racing a per-call timeout is never lost: either the read
// returns it, or the read timed out and it is still there for the next.
TEST_F(Io, DataRacingATimeoutIsNeverLost) {
  auto ab = make_pair();  // not a structured binding: lambdas capture a and b (clang 14)
  tcp_stream &a = ab.a, &b = ab.b;
  std::mt19937 rng(42);
  std::size_t sent = 0, received = 0, timeouts = 0;
  auto writer = greenring::spawn([&] {
    for (int i = 0; i < 10000; ++i) {
      // A few yields, or a pause past some readers' deadlines.
      const unsigned pause = rng() % 4;
      if (pause == 3) greenring::sleep(std::chrono::microseconds(rng() % 30));
      for (unsigned y = pause; y > 0 && y < 3; --y) greenring::yield();
      b.write_all("x");
      ++sent;
    }
  });
  char buf[256];
  while (!writer.ready() || received < sent) {
    std::error_code ec;
    std::size_t n = a.read_some(buf, ec, std::chrono::microseconds(rng() % 20));
    if (ec) {
      ASSERT_EQ(ec, std::errc::timed_out);
      ++timeouts;
    }
    received += n;
    ASSERT_LE(received, 10000u);
  }
  writer.get();
  EXPECT_EQ(received, 10000u);
  EXPECT_GT(timeouts, 0u);
}

TEST_F(Io, DeadlineCases) {
  auto ab = make_pair();  // not a structured binding: lambdas capture a and b (clang 14)
  tcp_stream &a = ab.a, &b = ab.b;
  char buf[8];
  std::error_code ec;
  // The op wins: data is there already.
  b.write_all("1");
  EXPECT_EQ(a.read_some(buf, ec, 1s), 1u);
  EXPECT_FALSE(ec);
  // Zero timeout, data there: the data wins over a timeout that is due.
  b.write_all("2");
  EXPECT_EQ(a.read_some(buf, ec, 0ns), 1u);
  EXPECT_FALSE(ec);
  // Zero timeout, nothing there: timed out at once.
  EXPECT_EQ(a.read_some(buf, ec, 0ns), 0u);
  EXPECT_EQ(ec, std::errc::timed_out);
  // The timeout fires.
  a.read_some(buf, ec, 5ms);
  EXPECT_EQ(ec, std::errc::timed_out);
  // The op errors before its timeout: the error, not a timeout.
  linger lg{1, 0};
  auto l = tcp_listener::bind(address::parse("127.0.0.1:0"));
  tcp_stream c = tcp_stream::connect(l.local());
  tcp_stream s = l.accept();
  ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  auto closer = greenring::spawn([&] { s.close(); });
  c.read_some(buf, ec, 10s);
  EXPECT_EQ(ec, std::errc::connection_reset);
  closer.get();
}

// U3 + U4: thousands of requests whose deadlines expire, through an
// 8-entry ring: the queue is flushed whenever it fills, no request or
// cancel is dropped.
TEST_F(Io, TinyRingManyTimedOutReads) {
  on_thread_with_ring(8, [] {
    std::vector<stream_pair> pairs;
    for (int i = 0; i < 100; ++i) pairs.push_back(make_pair());
    std::vector<greenring::task<std::error_code>> readers;
    for (int i = 0; i < 3000; ++i)
      readers.push_back(greenring::spawn([&pairs, i] {
        char buf[8];
        std::error_code ec;
        pairs[static_cast<std::size_t>(i % 100)].a.read_some(buf, ec, 50ms);
        return ec;
      }));
    for (auto& r : readers) ASSERT_EQ(r.get(), std::errc::timed_out);
    // And the same through timeout scopes, whose cancels must get through.
    std::vector<greenring::task<bool>> scoped;
    for (int i = 0; i < 3000; ++i)
      scoped.push_back(greenring::spawn([&pairs, i] {
        try {
          greenring::timeout t(50ms);
          char buf[8];
          pairs[static_cast<std::size_t>(i % 100)].a.read_some(buf);
        } catch (const greenring::timeout_error&) {
          return true;
        }
        return false;
      }));
    for (auto& r : scoped) ASSERT_TRUE(r.get());
    ASSERT_EQ(greenring::stats().io_in_flight, 0u);
  });
}

// U5: far more completions than a 4-entry ring's completion queue holds.
TEST_F(Io, CompletionQueueOverflowLosesNothing) {
  on_thread_with_ring(4, [] {
    std::vector<stream_pair> pairs;
    for (int i = 0; i < 250; ++i) pairs.push_back(make_pair());
    std::vector<greenring::task<std::size_t>> readers;
    std::vector<greenring::task<void>> writers;
    const int n = greenring_test::k_tsan ? 2000 : 5000;  // two tasks each
    for (int i = 0; i < n; ++i) {
      auto& p = pairs[static_cast<std::size_t>(i % 250)];
      readers.push_back(greenring::spawn([&p] {
        char c;
        return p.a.read_some(greenring::mutable_buffer(&c, 1));
      }));
      writers.push_back(greenring::spawn([&p] { p.b.write_all("y"); }));
    }
    std::size_t total = 0;
    for (auto& r : readers) total += r.get();
    for (auto& w : writers) w.get();
    EXPECT_EQ(total, static_cast<std::size_t>(n));
    EXPECT_EQ(greenring::stats().io_in_flight, 0u);
  });
}

// U6: a profiler's signal every millisecond interrupts the ring wait; no
// EINTR reaches the tasks.
TEST_F(Io, ProfilingSignalsCauseNoErrors) {
  struct sigaction sa {}, old {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: interrupt as much as possible
  ASSERT_EQ(::sigaction(SIGPROF, &sa, &old), 0);
  itimerval it{{0, 1000}, {0, 1000}};
  ASSERT_EQ(::setitimer(ITIMER_PROF, &it, nullptr), 0);
  {
    greenring::stream_server srv(address::parse("127.0.0.1:0"), [](tcp_stream& s) {
      char buf[65536];
      while (std::size_t n = s.read_some(buf)) s.write_all(greenring::const_buffer(buf, n));
    });
    srv.start();
    std::vector<greenring::task<void>> clients;
    for (int c = 0; c < 8; ++c)
      clients.push_back(greenring::spawn([&srv] {
        tcp_stream s = tcp_stream::connect(srv.local());
        std::string out(256 * 1024, 'p'), in(out.size(), '\0');
        for (int i = 0; i < 20; ++i) {
          auto w = greenring::spawn([&] { s.write_all(out); });
          s.read_exact(in);
          w.get();
          ASSERT_EQ(in, out);
        }
      }));
    for (auto& c : clients) c.get();  // any EINTR would have thrown
    srv.stop();
  }
  itimerval off{};
  ::setitimer(ITIMER_PROF, &off, nullptr);
  ::sigaction(SIGPROF, &old, nullptr);
}

// U7: a peer that reads and writes in 1-7 byte pieces.
TEST_F(Io, TinyPiecesEchoIsByteExact) {
  auto ab = make_pair();  // not a structured binding: lambdas capture a and b (clang 14)
  tcp_stream &a = ab.a, &b = ab.b;
  std::string data(2u << 20, '\0');  // 10 MiB in RELIABILITY.md; 2 keeps the sanitizer run short
  std::mt19937 rng(7);
  for (auto& ch : data) ch = static_cast<char>(rng());
  auto echo = greenring::spawn([&b, &rng] {
    char buf[7];
    std::size_t n;
    while ((n = b.read_some(greenring::mutable_buffer(buf, 1 + rng() % 7))) > 0) {
      for (std::size_t off = 0; off < n;) off += b.write_some(greenring::const_buffer(buf + off, 1 + rng() % (n - off)));
    }
    b.shutdown();
  });
  auto writer = greenring::spawn([&a, &data] {
    a.write_all(data);
    a.shutdown();
  });
  std::string back;
  back.reserve(data.size());
  char buf[4096];
  while (std::size_t n = a.read_some(buf)) back.append(buf, n);
  writer.get();
  echo.get();
  EXPECT_TRUE(back == data);
}

// U9: the child of a fork gets its own ring; the parent's requests, in
// flight across the fork, complete normally in the parent.
TEST_F(Io, ForkChildGetsFreshHubAndParentRequestsComplete) {
  std::vector<stream_pair> pairs;
  for (int i = 0; i < 100; ++i) pairs.push_back(make_pair());
  std::vector<greenring::task<std::string>> readers;
  for (auto& p : pairs)
    readers.push_back(greenring::spawn([&p] {
      char buf[16];
      std::size_t n = p.a.read_some(buf);
      return std::string(buf, n);
    }));
  greenring::yield();
  ASSERT_EQ(greenring::stats().io_in_flight, 100u);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 0;
    try {
      if (greenring::stats().io_in_flight != 0) code = 2;
      greenring::stream_server srv(address::parse("127.0.0.1:0"), [](tcp_stream& s) { s.write_all("child"); });
      srv.start();
      tcp_stream c = tcp_stream::connect(srv.local());
      char buf[5];
      c.read_exact(buf);
      if (std::string(buf, 5) != "child") code = 3;
      c.close();
      srv.stop();
    } catch (...) {
      code = 4;
    }
    ::_exit(code);
  }
  int status = 0;
  // waitpid would block the hub's thread: run it in the pool.
  greenring::threadpool pool(1);
  ASSERT_EQ(pool.apply([pid] { return ::waitpid(pid, nullptr, 0) == pid ? 0 : -1; }), 0) << "waitpid";
  (void)status;
  for (std::size_t i = 0; i < pairs.size(); ++i) pairs[i].b.write_all("parent " + std::to_string(i));
  for (std::size_t i = 0; i < readers.size(); ++i) EXPECT_EQ(readers[i].get(), "parent " + std::to_string(i));
}

TEST_F(Io, ForkChildExitStatusIsZero) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 1;
    try {
      auto l = tcp_listener::bind(address::parse("127.0.0.1:0"));
      auto t = greenring::spawn([&] { l.accept().write_all("ok"); });
      tcp_stream c = tcp_stream::connect(l.local());
      char buf[2];
      c.read_exact(buf);
      t.get();
      code = std::string(buf, 2) == "ok" ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  greenring::threadpool pool(1);
  int status = pool.apply([pid] {
    int st = 0;
    ::waitpid(pid, &st, 0);
    return st;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// U10: set-up failures name their cause.
TEST_F(Io, RingSetupFailuresNameTheCause) {
  for (auto [err, words] : {std::pair{ENOSYS, "seccomp"}, std::pair{EPERM, "kernel.io_uring_disabled"},
                            std::pair{ENOMEM, "RLIMIT_MEMLOCK"}}) {
    std::string what;
    std::thread t([&, err = err] {
      greenring::detail::uring_setup_fail_next = err;
      try {
        greenring::yield();
      } catch (const std::system_error& e) {
        what = e.what();
      }
      greenring::detail::uring_setup_fail_next = 0;
    });
    t.join();
    EXPECT_NE(what.find(words), std::string::npos) << what;
    EXPECT_NE(what.find("cannot create the hub's io_uring"), std::string::npos) << what;
  }
}

// U11: close() with a read in flight in another task.
TEST_F(Io, CloseCancelsReadsInFlightBeforeTheFdIsFreed) {
  auto ab = make_pair();  // b stays open: a's readers wait for data
  tcp_stream& a = ab.a;
  std::vector<greenring::task<std::error_code>> readers;
  for (int i = 0; i < 10; ++i)
    readers.push_back(greenring::spawn([&a] {
      std::error_code ec;
      char buf[8];
      a.read_some(buf, ec);
      return ec;
    }));
  greenring::yield();
  const int fd = a.native_handle();
  a.close();
  // Every request on the old fd is over: a new socket may take its number.
  EXPECT_EQ(greenring::stats().io_in_flight, 0u);
  auto cd = make_pair();
  tcp_stream &c = cd.a, &d = cd.b;
  EXPECT_TRUE(c.native_handle() == fd || d.native_handle() == fd);
  d.write_all("z");
  for (auto& r : readers) EXPECT_EQ(r.get(), greenring::io_errc::closed);
  char z;
  EXPECT_EQ(c.read_some(greenring::mutable_buffer(&z, 1)), 1u);
}

}  // namespace
