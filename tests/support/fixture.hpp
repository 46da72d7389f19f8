// Test fixture: every test must leave the runtime as it found it: no live
// task, nothing ready, no timer, no IO in flight, no stack in use, no fd.
#pragma once

#include <greenring/greenring.hpp>
#include <greenring/detail/sanitizer.hpp>

#include <gtest/gtest.h>

#include <dirent.h>

#include <cstddef>

namespace greenring_test {

// ThreadSanitizer counts every task's fiber as a thread and dies past 8,128
// at once: tests that keep more alive scale down under it.
#ifdef GREENRING_TSAN
inline constexpr bool k_tsan = true;
#else
inline constexpr bool k_tsan = false;
#endif

inline std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

class Runtime : public ::testing::Test {
 protected:
  void SetUp() override {
    greenring::yield();  // the hub (and its ring fd) exists before we count
    before_ = greenring::stats();
    fds_ = open_fds();
  }
  void TearDown() override {
    const auto s = greenring::stats();
    EXPECT_EQ(s.live_tasks, 0u) << "a test left tasks alive";
    EXPECT_EQ(s.ready, 0u);
    EXPECT_EQ(s.timers, 0u) << "a timer outlived its frame";
    EXPECT_EQ(s.io_in_flight, 0u);
    EXPECT_EQ(s.stacks_in_use, before_.stacks_in_use) << "a stack leaked";
    EXPECT_EQ(open_fds(), fds_) << "an fd leaked";
  }
  greenring::runtime_stats before_;
  std::size_t fds_ = 0;
};

}  // namespace greenring_test
