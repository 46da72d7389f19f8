// monitor_blocking (RELIABILITY H7): a greenlet that runs past the
// threshold without switching is reported once, by id and name, on its own
// thread; time the hub spends waiting is not counted.
#include "../support/fixture.hpp"

#include "detail/hub.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Monitor = greenring_test::Runtime;

namespace {

// Runs without switching until the watcher has flagged it (bounded: gives
// up after 60 s, which the test then reports as a failure).
bool spin_until_noticed() {
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!greenring::detail::blocking_stall_noticed())
    if (std::chrono::steady_clock::now() > give_up) return false;
  return true;
}

struct monitor_off {
  ~monitor_off() { greenring::monitor_blocking(greenring::duration::zero()); }
};

// (A loaded machine may also stall the thread itself past the threshold:
// from the hub's side that is a real stall too, so the tests look for the
// reports they caused, not for an exact count.)
TEST_F(Monitor, ReportsATaskThatRunsTooLongWithoutSwitching) {
  monitor_off off;
  std::vector<greenring::blocking_report> reports;
  const auto home = std::this_thread::get_id();
  bool on_home_thread = true;
  greenring::monitor_blocking(50ms, [&](const greenring::blocking_report& r) {
    on_home_thread = on_home_thread && std::this_thread::get_id() == home;
    reports.push_back(r);
  });
  auto spinner = greenring::spawn(greenring::task_options{.name = "spinner"}, [] {
    greenring::yield();
    return spin_until_noticed();
  });
  EXPECT_TRUE(spinner.get()) << "the watcher never noticed";
  auto find = [&reports](std::uint64_t id) -> const greenring::blocking_report* {
    for (const auto& r : reports)
      if (r.id == id) return &r;
    return nullptr;
  };
  const greenring::blocking_report* r = find(spinner.id());
  ASSERT_NE(r, nullptr) << "no report for the spinning task";
  EXPECT_EQ(r->name, "spinner");
  EXPECT_GE(r->ran, 50ms);
  EXPECT_TRUE(on_home_thread);
  // The main greenlet is watched too.
  reports.clear();
  EXPECT_TRUE(spin_until_noticed());
  greenring::yield();
  r = find(0);
  ASSERT_NE(r, nullptr) << "no report for the main greenlet";
  EXPECT_EQ(r->name, "main greenlet");
}

TEST_F(Monitor, WaitingForIoOrTimersIsNotBlocking) {
  monitor_off off;
  int reports = 0;
  greenring::monitor_blocking(100ms, [&](const greenring::blocking_report&) { ++reports; });
  // The hub waits in the ring for ten thresholds: idle, not stalled.
  greenring::sleep(600ms);
  auto t = greenring::spawn([] { greenring::sleep(400ms); });
  t.get();
  greenring::yield();
  EXPECT_FALSE(greenring::detail::blocking_stall_noticed());
  EXPECT_EQ(reports, 0);
  // Turned off, it reports nothing and its thread is gone.
  greenring::monitor_blocking(greenring::duration::zero());
  EXPECT_FALSE(greenring::detail::blocking_stall_noticed());
}

}  // namespace

namespace {

// GREENRING_MAX_BLOCKING_MS turns it on for hubs made afterwards, with one
// line on stderr per stall.
TEST_F(Monitor, EnvironmentTurnsItOnWithAReportOnStderr) {
  ::setenv("GREENRING_MAX_BLOCKING_MS", "30", 1);
  testing::internal::CaptureStderr();
  bool noticed = false;
  std::thread([&noticed] {
    auto t = greenring::spawn(greenring::task_options{.name = "busy"}, [] {
      greenring::yield();
      return spin_until_noticed();
    });
    noticed = t.get();
  }).join();
  const std::string err = testing::internal::GetCapturedStderr();
  ::unsetenv("GREENRING_MAX_BLOCKING_MS");
  EXPECT_TRUE(noticed);
  EXPECT_NE(err.find("\"busy\" ran "), std::string::npos) << err;
  EXPECT_NE(err.find(" ms without switching"), std::string::npos) << err;
}

}  // namespace
