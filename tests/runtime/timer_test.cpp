// The hub's timers, driven with an explicit "now": deadlines far in the
// future are never reached by the real clock, so these tests do not depend
// on how fast the machine is.
#include "../support/fixture.hpp"

#include "detail/hub.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <vector>

using namespace std::chrono_literals;
using steady = greenring::detail::clock;
using greenring::detail::hub;
using greenring::detail::timer_node;
using Timers = greenring_test::Runtime;

namespace {

struct probe {
  timer_node node;
  int tag = 0;
  std::vector<int>* fired = nullptr;
};

void record(timer_node* n) noexcept {
  auto* p = static_cast<probe*>(n->ctx);
  p->fired->push_back(p->tag);
}

// Arms one probe per offset (in seconds from `base`), tagged by index.
std::deque<probe> arm_all(hub& h, steady::time_point base, const std::vector<int>& offsets, std::vector<int>& fired) {
  std::deque<probe> probes(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    probes[i].tag = static_cast<int>(i);
    probes[i].fired = &fired;
    probes[i].node.fire = &record;
    probes[i].node.ctx = &probes[i];
    h.arm(probes[i].node, base + std::chrono::seconds(offsets[i]));
  }
  return probes;
}

}  // namespace

TEST_F(Timers, FireInDeadlineOrderThenArmingOrder) {
  hub& h = hub::get();
  const auto base = steady::now() + 24h;
  std::vector<int> fired;
  // Out of order, with repeats: some go to the FIFO, the rest to the heap.
  auto probes = arm_all(h, base, {5, 3, 3, 8, 1, 5, 9, 9, 2}, fired);
  EXPECT_EQ(h.timers(), 9u);
  h.fire_due(base + 4s);
  EXPECT_EQ(fired, (std::vector<int>{4, 8, 1, 2}));
  h.fire_due(base + 100s);
  EXPECT_EQ(fired, (std::vector<int>{4, 8, 1, 2, 0, 5, 3, 6, 7}));
  EXPECT_EQ(h.timers(), 0u);
}

TEST_F(Timers, CancelledTimersNeverFireAndTheRestKeepTheirOrder) {
  hub& h = hub::get();
  const auto base = steady::now() + 24h;
  std::vector<int> fired;
  std::vector<int> offsets;
  for (int i = 0; i < 40; ++i) offsets.push_back(i % 2 ? i : 40 - i);
  auto probes = arm_all(h, base, offsets, fired);
  for (std::size_t i = 0; i < probes.size(); i += 3) h.cancel(probes[i].node);
  for (std::size_t i = 0; i < probes.size(); i += 3) EXPECT_FALSE(probes[i].node.armed());
  h.fire_due(base + 100s);
  std::vector<int> expected;
  for (int s = 0; s <= 40; ++s)
    for (int i = 0; i < 40; ++i)
      if (i % 3 != 0 && offsets[i] == s) expected.push_back(i);
  EXPECT_EQ(fired, expected);
  EXPECT_EQ(h.timers(), 0u);
}

TEST_F(Timers, RearmingMovesATimer) {
  hub& h = hub::get();
  const auto base = steady::now() + 24h;
  std::vector<int> fired;
  auto probes = arm_all(h, base, {1, 2, 3}, fired);
  h.arm(probes[0].node, base + 10s);  // from first to last
  h.fire_due(base + 100s);
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 0}));
}

TEST_F(Timers, NothingFiresBeforeItsDeadline) {
  hub& h = hub::get();
  const auto base = steady::now() + 24h;
  std::vector<int> fired;
  auto probes = arm_all(h, base, {1, 1, 2}, fired);
  h.fire_due(base);
  EXPECT_TRUE(fired.empty());
  h.fire_due(base + 1s);
  EXPECT_EQ(fired, (std::vector<int>{0, 1}));
  for (auto& p : probes) h.cancel(p.node);
  EXPECT_EQ(h.timers(), 0u);
}

namespace {

// A deadline is never before now + d, and not far after it. (This caught
// an attempt to start long timeouts from CLOCK_MONOTONIC_COARSE plus one
// tick: on this VM the coarse clock lagged by more than a tick.)
TEST(Deadlines, NeverEarlierThanNowPlusTheTimeout) {
  using greenring::detail::deadline_after;
  for (auto d : {999ms, 1000ms, 1001ms, 1500ms, 60000ms}) {
    for (int i = 0; i < 1000; ++i) {
      const auto before = steady::now();
      const auto dl = deadline_after(d);
      const auto after = steady::now();
      ASSERT_GE(dl, before + d) << d.count() << " ms";
      ASSERT_LE(dl, after + d + 1s) << d.count() << " ms";
    }
  }
  EXPECT_EQ(deadline_after(greenring::forever), steady::time_point::max());  // saturates
}

}  // namespace
