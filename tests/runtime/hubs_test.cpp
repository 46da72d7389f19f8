// run_hubs: one hub per thread; a failure stops the siblings; SO_REUSEPORT
// servers on several hubs share one port.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <mutex>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gr = greenring;
using namespace std::chrono_literals;

namespace {

class Hubs : public greenring_test::Runtime {};

// Counts destructor runs: proof that a killed task unwound.
struct unwound {
  std::atomic<int>& n;
  ~unwound() { ++n; }
};

// A value one hub publishes for the others (set once, read by spinning:
// the others have nothing else to wait on across threads).
template <class T>
struct published {
  std::mutex m;
  std::optional<T> v;
  void set(T x) {
    std::lock_guard<std::mutex> g(m);
    v = std::move(x);
  }
  T get() {
    for (;;) {
      {
        std::lock_guard<std::mutex> g(m);
        if (v) return *v;
      }
      std::this_thread::yield();
    }
  }
};

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

TEST_F(Hubs, EachIndexRunsOnceOnItsOwnThreadWithItsOwnHub) {
  constexpr std::size_t n = 4;
  std::mutex m;
  std::vector<std::thread::id> threads(n);
  std::vector<int> runs(n, 0);
  std::vector<long> sums(n, 0);
  gr::run_hubs(n, [&](std::size_t i) {
    // Tasks on this hub, interleaving through its timers.
    long sum = 0;
    std::vector<gr::task<void>> ts;
    for (int k = 1; k <= 10; ++k)
      ts.push_back(gr::spawn([&sum, k] {
        gr::sleep(std::chrono::microseconds(k * 10));
        sum += k;
      }));
    gr::joinall(ts);
    std::lock_guard<std::mutex> g(m);
    threads[i] = std::this_thread::get_id();
    ++runs[i];
    sums[i] = sum;
  });
  EXPECT_EQ(threads[0], std::this_thread::get_id()) << "hub 0 runs on the calling thread";
  EXPECT_EQ(std::set<std::thread::id>(threads.begin(), threads.end()).size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(runs[i], 1) << i;
    EXPECT_EQ(sums[i], 55) << i;
  }
}

TEST_F(Hubs, ZeroMeansOnePerAllowedCpu) {
  std::atomic<std::size_t> calls{0};
  gr::run_hubs(0, [&](std::size_t) { ++calls; });
  EXPECT_EQ(calls.load(), allowed_cpus().size());
  EXPECT_EQ(gr::default_hub_count(), allowed_cpus().size());
}

TEST_F(Hubs, AFailureKillsTheBlockedSiblingsAndIsRethrown) {
  std::atomic<int> blocked{0}, unwinds{0};
  try {
    gr::run_hubs(3, [&](std::size_t i) {
      if (i == 1) {
        while (blocked.load() < 2) std::this_thread::yield();
        throw std::runtime_error("hub 1 failed");
      }
      unwound u{unwinds};
      gr::event never;
      ++blocked;
      never.wait();  // until killed
    });
    FAIL() << "run_hubs returned";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "hub 1 failed");
  }
  EXPECT_EQ(unwinds.load(), 2);
}

// Whether a sibling had published its hub yet or not, it stops: the
// call returns (no hang) with the failure.
TEST_F(Hubs, AFailureBeforeTheSiblingsStartStillStopsThem) {
  EXPECT_THROW(gr::run_hubs(4, [&](std::size_t i) {
                 if (i == 2) throw std::invalid_argument("at once");
                 gr::event().wait();
               }),
               std::invalid_argument);
}

TEST_F(Hubs, OnlyTheFirstFailureIsRethrown) {
  std::atomic<int> failures{0};
  try {
    gr::run_hubs(3, [&](std::size_t i) {
      ++failures;
      throw std::runtime_error("hub " + std::to_string(i));
    });
    FAIL() << "run_hubs returned";
  } catch (const std::runtime_error& e) {
    const std::string w = e.what();
    EXPECT_TRUE(w == "hub 0" || w == "hub 1" || w == "hub 2") << w;
  }
  EXPECT_GE(failures.load(), 1);
}

TEST_F(Hubs, TasksLeftAliveWhenFnReturnsAreKilled) {
  std::atomic<int> unwinds{0};
  gr::run_hubs(3, [&](std::size_t) {
    gr::spawn([&] {
      unwound u{unwinds};
      gr::event().wait();
    });
    gr::yield();  // it starts and parks
  });
  EXPECT_EQ(unwinds.load(), 3);
}

TEST_F(Hubs, CalledFromATaskIsRefused) {
  auto t = gr::spawn([] { gr::run_hubs(2, [](std::size_t) {}); });
  try {
    t.get();
    FAIL() << "no error";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("run_hubs"), std::string::npos) << e.what();
  }
}

TEST_F(Hubs, APostFromASiblingWakesAWaitingTask) {
  published<gr::hub_handle> home;
  std::atomic<bool> posted{false};
  gr::async_result<int> r;
  int got = 0;
  gr::run_hubs(2, [&](std::size_t i) {
    if (i == 0) {
      home.set(gr::hub_handle::current());
      got = r.get();  // no loop_exit: hub 1 can still wake this hub
      while (!posted.load()) std::this_thread::yield();
      home.v.reset();  // the last handle to this hub besides run_hubs' own
    } else {
      EXPECT_TRUE(home.get().post([&r] { r.set(42); }));
      posted = true;  // its copy of the handle is gone
    }
  });
  EXPECT_EQ(got, 42);
}

TEST_F(Hubs, PinnedHubsRunOnOneCpuEachAndTheCallerIsRestored) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  cpu_set_t before;
  ASSERT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof before, &before), 0);
  std::mutex m;
  std::vector<std::vector<int>> seen(3);
  gr::run_hubs(3, [&](std::size_t i) {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof set, &set), 0);
    std::lock_guard<std::mutex> g(m);
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) seen[i].push_back(c);
  }, gr::hubs_options{.pin = true});
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(seen[i], std::vector<int>{cpus[i % cpus.size()]}) << i;
  cpu_set_t after;
  ASSERT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

// Hubs 1 and 2 serve one port (SO_REUSEPORT, a listener each); hub 0's
// clients check every echo, then hub 0 stops both servers through their
// hubs' handles.
TEST_F(Hubs, ReusePortServersOnTwoHubsShareTheConnections) {
  constexpr int clients = 64;
  struct server_side {
    published<gr::hub_handle> home;
    published<gr::stream_server*> srv;
    std::atomic<int> served{0};
  };
  server_side sides[2];
  published<std::uint16_t> port;
  std::atomic<int> ok{0};
  gr::run_hubs(3, [&](std::size_t i) {
    if (i == 0) {
      const std::uint16_t p = port.get();
      sides[0].srv.get();
      sides[1].srv.get();  // both listening
      std::vector<gr::task<void>> ts;
      for (int c = 0; c < clients; ++c)
        ts.push_back(gr::spawn([&, c] {
          auto s = gr::tcp_stream::connect(gr::address::ip("127.0.0.1", p), 5s);
          const std::string msg = "hello " + std::to_string(c);
          s.write_all(gr::const_buffer(msg.data(), msg.size()));
          std::string back(msg.size(), '\0');
          s.read_exact(gr::mutable_buffer(back.data(), back.size()), 5s);
          if (back == msg) ++ok;
        }));
      gr::joinall(ts);
      for (auto& side : sides) {
        gr::stream_server* srv = side.srv.get();
        EXPECT_TRUE(side.home.get().post([srv] { srv->stop(1s); }));
      }
      return;
    }
    server_side& me = sides[i - 1];
    const std::uint16_t at = i == 1 ? 0 : port.get();
    auto listener = gr::tcp_listener::bind(gr::address::ip("127.0.0.1", at), 128, /*reuse_port=*/true);
    if (i == 1) port.set(listener.local().port());
    gr::stream_server srv(std::move(listener), [&me](gr::tcp_stream& s) {
      ++me.served;
      char buf[64];
      std::error_code ec;
      while (std::size_t n = s.read_some(gr::mutable_buffer(buf, sizeof buf), ec)) {
        s.write_all(gr::const_buffer(buf, n), ec);
        if (ec) break;
      }
    });
    me.home.set(gr::hub_handle::current());
    me.srv.set(&srv);
    srv.serve_forever();
  });
  EXPECT_EQ(ok.load(), clients);
  EXPECT_EQ(sides[0].served.load() + sides[1].served.load(), clients);
  EXPECT_GT(sides[0].served.load(), 0);
  EXPECT_GT(sides[1].served.load(), 0);
}

}  // namespace

namespace {

TEST_F(Hubs, ASharedEventSetFromAPlainThreadWakesWaitersOnEveryHub) {
  gr::shared_event go;
  std::atomic<int> woken{0};
  std::thread setter([&] {
    while (go.waiting() < 6) std::this_thread::yield();  // two tasks on each of three hubs
    go.set();
  });
  gr::run_hubs(3, [&](std::size_t) {
    std::vector<gr::task<void>> ts;
    for (int k = 0; k < 2; ++k)
      ts.push_back(gr::spawn([&] {
        if (go.wait()) ++woken;
      }));
    gr::joinall(ts);
  });
  setter.join();
  EXPECT_EQ(woken.load(), 6);
  EXPECT_TRUE(go.is_set());
  EXPECT_EQ(go.waiting(), 0u);
}

TEST_F(Hubs, ASharedEventSetBeforeTheWaitReturnsAtOnceAndSetIsIdempotent) {
  gr::shared_event e;
  e.set();
  e.set();
  EXPECT_TRUE(e.wait());
  EXPECT_TRUE(e.wait(0s));
  EXPECT_EQ(e.waiting(), 0u);
}

TEST_F(Hubs, ASharedEventWaitTimesOutAndAKilledWaiterLeaves) {
  gr::shared_event e;
  EXPECT_FALSE(e.wait(1ms));
  EXPECT_EQ(e.waiting(), 0u);
  std::atomic<int> unwinds{0};
  auto t = gr::spawn([&] {
    unwound u{unwinds};
    e.wait();
  });
  gr::yield();  // it registers and parks
  EXPECT_EQ(e.waiting(), 1u);
  t.kill();
  EXPECT_EQ(unwinds.load(), 1);
  EXPECT_EQ(e.waiting(), 0u);
  e.set();  // nobody to wake: nothing posted to a waiter that left
  EXPECT_TRUE(e.is_set());
  for (int i = 0; i < 64 && gr::stats().io_in_flight > 0; ++i) gr::yield();  // the last handle's wake-up
}

// A waiter that timed out while set() was posting its wake-up: the event
// it waited on outlives it, and nothing is woken twice.
TEST_F(Hubs, ASharedEventSetRacingTimeoutsOnOtherHubs) {
  for (int round = 0; round < 50; ++round) {
    gr::shared_event e;
    std::atomic<int> ended{0};
    std::thread setter([&] {
      while (e.waiting() == 0 && ended.load() < 2) std::this_thread::yield();
      e.set();
    });
    gr::run_hubs(2, [&](std::size_t i) {
      e.wait(std::chrono::microseconds(50 * (i + 1)));
      ++ended;
    });
    setter.join();
    EXPECT_EQ(ended.load(), 2);
    EXPECT_EQ(e.waiting(), 0u);
  }
}

}  // namespace

namespace {

// One producer hub, three consumer hubs: every item arrives exactly once.
TEST_F(Hubs, ASharedQueueCarriesEveryItemOnceBetweenHubs) {
  constexpr long items = 20000;
  for (std::size_t cap : {std::size_t{0}, std::size_t{8}}) {
    gr::shared_queue<long> q(cap);
    std::atomic<long> got{0}, sum{0};
    std::atomic<bool> over_cap{false};
    gr::run_hubs(4, [&](std::size_t i) {
      if (i == 0) {
        for (long k = 1; k <= items; ++k) q.put(k);
        q.close();
        return;
      }
      for (;;) {
        long v;
        try {
          v = q.get();
        } catch (const gr::queue_closed&) {
          return;
        }
        if (cap && q.size() > cap) over_cap = true;
        ++got;
        sum += v;
      }
    });
    EXPECT_EQ(got.load(), items) << cap;
    EXPECT_EQ(sum.load(), items * (items + 1) / 2) << cap;
    EXPECT_FALSE(over_cap.load());
    EXPECT_EQ(q.getters(), 0u);
    EXPECT_EQ(q.putters(), 0u);
  }
}

TEST_F(Hubs, ASharedQueueTimesOutBothWays) {
  gr::shared_queue<int> q(1);
  EXPECT_THROW(q.get(1ms), gr::queue_empty);
  q.put(1);
  EXPECT_THROW(q.put(2, 1ms), gr::queue_full);
  int two = 2;
  EXPECT_FALSE(q.try_put(two));
  EXPECT_EQ(two, 2);
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.try_get(), std::nullopt);
  EXPECT_EQ(q.getters() + q.putters(), 0u);
  for (int i = 0; i < 64 && gr::stats().io_in_flight > 0; ++i) gr::yield();
}

// close(): putters are refused, getters on another hub drain what is left
// and then get queue_closed.
TEST_F(Hubs, ASharedQueueCloseWakesWaitersOnOtherHubs) {
  gr::shared_queue<int> q;
  std::atomic<int> drained{0}, closed_seen{0};
  gr::run_hubs(3, [&](std::size_t i) {
    if (i == 0) {
      while (q.getters() < 2) std::this_thread::yield();  // both parked
      q.put(7);
      q.put(8);
      q.put(9);
      q.close();
      EXPECT_THROW(q.put(10), gr::queue_closed);
      return;
    }
    try {
      for (;;) {
        q.get();
        ++drained;
      }
    } catch (const gr::queue_closed&) {
      ++closed_seen;
    }
  });
  EXPECT_EQ(drained.load(), 3);
  EXPECT_EQ(closed_seen.load(), 2);
}

// A getter handed an item and killed before it ran passes the item to the
// next getter: nothing lost, nothing taken twice.
TEST_F(Hubs, ASharedQueueKilledGetterPassesItsItemOn) {
  gr::shared_queue<std::unique_ptr<int>> q;  // move-only
  std::optional<int> second;
  auto first = gr::spawn([&] { q.get(); });
  auto next = gr::spawn([&] { second = *q.get(); });
  gr::yield();  // both parked, in that order
  ASSERT_EQ(q.getters(), 2u);
  q.put(std::make_unique<int>(5));  // promised to `first`, which has not run
  first.kill();
  next.join();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, 5);
  EXPECT_EQ(q.size(), 0u);
  for (int i = 0; i < 64 && gr::stats().io_in_flight > 0; ++i) gr::yield();
}

// A putter given a slot and killed before it ran inserts nothing, and the
// slot goes to the next putter.
TEST_F(Hubs, ASharedQueueKilledPutterInsertsNothing) {
  gr::shared_queue<int> q(1);
  q.put(0);
  auto first = gr::spawn([&] { q.put(1); });
  auto next = gr::spawn([&] { q.put(2); });
  gr::yield();
  ASSERT_EQ(q.putters(), 2u);
  EXPECT_EQ(q.get(), 0);  // a slot promised to `first`
  first.kill();
  next.join();
  EXPECT_EQ(q.get(), 2);
  EXPECT_EQ(q.size(), 0u);
  for (int i = 0; i < 64 && gr::stats().io_in_flight > 0; ++i) gr::yield();
}

// Seeded stress over three hubs: producers and consumers with timeouts and
// random kills over a small bounded queue; every item is received once or
// is known never to have been put.
TEST_F(Hubs, ASharedQueueUnderKillsAndTimeoutsLosesNothing) {
  gr::shared_queue<long> q(4);
  std::atomic<long> put_ok{0}, put_sum{0}, got{0}, got_sum{0};
  std::atomic<int> producers_done{0};
  gr::shared_event all_produced;
  constexpr int per_hub_producers = 3;
  gr::run_hubs(3, [&](std::size_t hub) {
    std::mt19937 rng(static_cast<unsigned>(1234 + hub));
    std::vector<gr::task<void>> ts;
    for (int p = 0; p < per_hub_producers; ++p)
      ts.push_back(gr::spawn([&, p] {
        struct done {
          std::atomic<int>& n;
          gr::shared_event& all;
          ~done() {
            if (++n == 3 * per_hub_producers) all.set();
          }
        } d{producers_done, all_produced};
        for (long k = 0; k < 300; ++k) {
          const long v = static_cast<long>(hub) * 1000000 + p * 10000 + k + 1;
          try {
            q.put(v, std::chrono::microseconds(50 + rng() % 200));
            ++put_ok;
            put_sum += v;
          } catch (const gr::queue_full&) {
          }
        }
      }));
    auto consume = [&] {
      for (;;) {
        try {
          const long v = q.get(std::chrono::microseconds(100 + rng() % 300));
          ++got;
          got_sum += v;
        } catch (const gr::queue_empty&) {
        } catch (const gr::queue_closed&) {
          return;
        }
      }
    };
    std::vector<gr::task<void>> consumers;
    for (int c = 0; c < 2; ++c) consumers.push_back(gr::spawn(consume));
    // Random kills of consumers while they wait; replacements keep going.
    for (int round = 0; round < 20; ++round) {
      gr::sleep(std::chrono::microseconds(200 + rng() % 300));
      consumers[rng() % consumers.size()].kill();
      consumers.push_back(gr::spawn(consume));
    }
    gr::joinall(ts);
    if (hub == 0) {
      all_produced.wait();
      q.close();
    }
    gr::joinall(consumers);
  });
  // Whatever no consumer took is still queued (close() lets it drain, and
  // the consumers drained it before seeing queue_closed).
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(got.load(), put_ok.load());
  EXPECT_EQ(got_sum.load(), put_sum.load());
  EXPECT_GT(put_ok.load(), 0);
}

}  // namespace

namespace {

TEST_F(Hubs, ASharedQueueRangesUntilClosedAndDrained) {
  gr::shared_queue<std::unique_ptr<int>> q;
  for (int i = 1; i <= 3; ++i) q.put(std::make_unique<int>(i));
  q.close();
  std::vector<int> got;
  for (auto& p : q) got.push_back(*p);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  for (int i = 0; i < 64 && gr::stats().io_in_flight > 0; ++i) gr::yield();
}

}  // namespace
