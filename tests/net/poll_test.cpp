// Readiness waits on descriptors greenring does not own: a pipe here, as a
// C library's socket would be.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

class Poll : public greenring_test::Runtime {
 protected:
  void SetUp() override {
    Runtime::SetUp();
    ASSERT_EQ(::pipe2(p_, O_NONBLOCK | O_CLOEXEC), 0);
  }
  void TearDown() override {
    for (int fd : p_)
      if (fd >= 0) ::close(fd);
    Runtime::TearDown();
  }
  int p_[2] = {-1, -1};
};

// The pattern a non-blocking C library follows: try, and on EAGAIN wait.
TEST_F(Poll, AReaderParksUntilDataArrivesWhileOthersRun) {
  auto reader = greenring::spawn([this] {
    char buf[16];
    for (;;) {
      ssize_t n = ::read(p_[0], buf, sizeof buf);
      if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
      if (errno != EAGAIN) return std::string("error");
      greenring::wait_readable(p_[0]);
    }
  });
  for (int i = 0; i < 10; ++i) greenring::yield();
  EXPECT_FALSE(reader.ready());
  ASSERT_EQ(::write(p_[1], "hi", 2), 2);
  EXPECT_EQ(reader.get(), "hi");
}

TEST_F(Poll, TimeoutsAndBadDescriptorsAreErrorsNamingTheFd) {
  try {
    greenring::wait_readable(p_[0], 5ms);
    ADD_FAILURE() << "no timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_EQ(std::string(e.what()).rfind("poll fd " + std::to_string(p_[0]), 0), 0u) << e.what();
  }
  int closed = ::dup(p_[0]);
  ::close(closed);
  std::error_code ec;
  EXPECT_EQ(greenring::wait_fd(closed, POLLIN, ec), 0);
  EXPECT_EQ(ec.value(), EBADF);
}

TEST_F(Poll, WritableAndHangUpAreReported) {
  EXPECT_TRUE(greenring::wait_writable(p_[1]) & POLLOUT);
  ::close(p_[1]);
  p_[1] = -1;
  EXPECT_TRUE(greenring::wait_readable(p_[0], 5s) & POLLHUP);
}

// Before closing a descriptor that tasks wait on: cancel_waits ends them.
TEST_F(Poll, CancelWaitsEndsEveryWaitSoTheFdCanBeClosed) {
  std::vector<greenring::task<std::error_code>> waiters;
  for (int i = 0; i < 3; ++i)
    waiters.push_back(greenring::spawn([this] {
      std::error_code ec;
      greenring::wait_fd(p_[0], POLLIN, ec);
      return ec;
    }));
  for (int i = 0; i < 100 && greenring::stats().io_in_flight < 3; ++i) greenring::yield();
  ASSERT_EQ(greenring::stats().io_in_flight, 3u);
  greenring::cancel_waits(p_[0]);
  ::close(p_[0]);
  p_[0] = -1;
  for (auto& w : waiters) EXPECT_EQ(w.get(), std::errc::operation_canceled);
}

TEST_F(Poll, KillingAWaiterEndsItsWait) {
  auto w = greenring::spawn([this] { greenring::wait_readable(p_[0]); });
  greenring::yield();
  w.kill();
  EXPECT_THROW(w.get(), greenring::task_killed);
}

}  // namespace
