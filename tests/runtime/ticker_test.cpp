// ticker: Go's time.Ticker for tasks. No test depends on how fast the host
// is: they check due times (which the ticker computes), the accounting of
// every due tick (taken, pending or counted missed), hand-overs and errors.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;
using greenring::spawn;
using clk = std::chrono::steady_clock;

namespace {

class Ticker : public greenring_test::Runtime {};

// Keeps the hub thread busy (no switch) until `until`: the ticker's timer
// cannot fire meanwhile, as when a task hogs the CPU.
void busy_until(clk::time_point until) {
  while (clk::now() < until) {
  }
}

TEST_F(Ticker, TicksAreDueOnTheGridAndEveryOneIsAccountedFor) {
  const auto period = 1ms;
  const auto before = clk::now();
  greenring::ticker k(period);
  const auto after = clk::now();
  std::vector<clk::time_point> due;
  for (int i = 0; i < 6; ++i) due.push_back(k.tick());
  EXPECT_GE(due[0], before + period) << "the first tick is due one period after the start";
  EXPECT_LE(due[0], after + period);
  for (std::size_t i = 1; i < due.size(); ++i) {
    const auto gap = due[i] - due[i - 1];
    ASSERT_GT(gap, clk::duration::zero());
    EXPECT_EQ(gap % period, clk::duration::zero()) << "tick " << i << " is off the grid";
  }
  // Every grid point from the first tick taken to the last was taken or
  // counted missed (missed() may also count points after the last).
  const auto points = static_cast<std::uint64_t>((due.back() - due.front()) / period) + 1;
  EXPECT_GE(points, due.size());
  EXPECT_LE(points, due.size() + k.missed());
}

TEST_F(Ticker, ASlowTakerMissesTicksInsteadOfGettingABurst) {
  const auto period = 1ms;
  greenring::ticker k(period);
  const auto first = k.tick();
  busy_until(first + 10 * period);  // ten periods with no switch
  const auto late = k.tick();       // fired once, late
  EXPECT_EQ(late, first + period);
  EXPECT_GE(k.missed(), 8u) << "the ticks the busy hub could not fire are counted";
  const auto next = k.tick();
  EXPECT_GE(next - late, 9 * period) << "no burst of stale ticks after the busy spell";
  EXPECT_EQ((next - first) % period, clk::duration::zero());
}

TEST_F(Ticker, AtMostOneTickWaitsAndTheRestAreCountedMissed) {
  const auto period = 1ms;
  greenring::ticker k(period);
  const auto start = clk::now();
  // Several periods pass while the hub runs (timers fire) but nobody takes
  // a tick; the last yield lets it fire whatever is due by then.
  while (clk::now() < start + 5 * period) greenring::yield();
  greenring::yield();
  ASSERT_TRUE(k.ready());
  EXPECT_GE(k.missed(), 3u) << "grid points 2, 3 and 4 were due while the first was pending";
  const auto pending = k.tick();  // the first tick due, kept: Go's channel of one
  EXPECT_LE(pending, start + period);
  EXPECT_FALSE(k.ready()) << "only one was kept";
}

TEST_F(Ticker, TickWithATimeoutReturnsNulloptWhenNoTickComes) {
  greenring::ticker k(1h);
  EXPECT_FALSE(k.tick(1ms).has_value());
  EXPECT_FALSE(k.ready());
  EXPECT_EQ(k.missed(), 0u);
}

TEST_F(Ticker, EachTickGoesToOneTakerInFifoOrder) {
  greenring::ticker k(1ms);
  std::vector<int> order;
  std::vector<clk::time_point> got(3);
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 3; ++i)
    ts.push_back(spawn([&, i] {
      got[static_cast<std::size_t>(i)] = k.tick();
      order.push_back(i);
    }));
  greenring::joinall(ts);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_LT(got[0], got[1]);
  EXPECT_LT(got[1], got[2]);
}

TEST_F(Ticker, ATickHandedToACancelledTakerGoesToTheNext) {
  const auto period = 1ms;
  const auto before = clk::now();
  greenring::ticker k(period);
  const auto made = clk::now();
  bool first_timed_out = false;
  clk::time_point second_got{};
  auto first = spawn([&] {
    try {
      greenring::timeout t(2ms);  // due after the first tick
      k.tick();
    } catch (const greenring::timeout_error&) {
      first_timed_out = true;
    }
  });
  auto second = spawn([&] { second_got = k.tick(); });
  greenring::yield();  // both wait now
  // Past both deadlines before the hub looks: it hands the first tick to
  // `first`, then fires first's timeout before `first` can run.
  busy_until(clk::now() + 5ms);
  first.join();
  second.join();
  EXPECT_TRUE(first_timed_out);
  EXPECT_GE(second_got, before + period);
  EXPECT_LE(second_got, made + period) << "the second taker got the first tick, handed back";
}

TEST_F(Ticker, KilledTakerLeavesTheLine) {
  greenring::ticker k(1h);
  auto t = spawn([&] { k.tick(); });
  greenring::yield();
  t.kill();
  EXPECT_TRUE(t.ready());
  k.reset(1ms);
  EXPECT_TRUE(k.tick(1h).has_value()) << "the killed taker did not take the tick";
}

TEST_F(Ticker, StopWakesTakersWithAnErrorAndResetStartsAgain) {
  greenring::ticker k(1h);
  std::string error;
  auto t = spawn([&] {
    try {
      k.tick();
    } catch (const std::logic_error& e) {
      error = e.what();
    }
  });
  greenring::yield();
  k.stop();
  t.join();
  EXPECT_NE(error.find("stopped"), std::string::npos) << error;
  EXPECT_FALSE(k.running());
  EXPECT_TRUE(k.ready()) << "a stopped ticker is ready, as a closed queue is";
  EXPECT_THROW(k.tick(), std::logic_error);
  EXPECT_THROW(k.tick(1ms), std::logic_error);
  k.reset(1ms);
  EXPECT_TRUE(k.running());
  EXPECT_TRUE(k.tick(1h).has_value());
}

TEST_F(Ticker, ANonPositivePeriodIsRefused) {
  EXPECT_THROW(greenring::ticker(0ms), std::invalid_argument);
  EXPECT_THROW(greenring::ticker(-1s), std::invalid_argument);
  greenring::ticker k(1h);
  EXPECT_THROW(k.reset(0s), std::invalid_argument);
}

TEST_F(Ticker, SelectOverATickerAndAnEvent) {
  // Go's: for { select { case <-ticker.C: ...; case <-done: return } }
  greenring::ticker k(1ms);
  greenring::event done;
  int ticks = 0;
  auto worker = spawn([&] {
    for (;;) {
      switch (greenring::wait_any({k, done})) {
        case 0:
          k.tick();
          if (++ticks == 3) done.set();
          break;
        default:
          return;
      }
    }
  });
  worker.join();
  EXPECT_EQ(ticks, 3);
  // And a ticker that will not tick loses the select to the event.
  greenring::ticker slow(1h);
  greenring::event now;
  auto setter = spawn([&] { now.set(); });
  EXPECT_EQ(greenring::wait_any({slow, now}), 1u);
  setter.join();
}

TEST_F(Ticker, DestroyedWhileArmedLeavesNoTimer) {
  { greenring::ticker k(1ms); }
  { greenring::ticker k(1h); }
  // The fixture checks that no timer is left armed.
  SUCCEED();
}

}  // namespace
