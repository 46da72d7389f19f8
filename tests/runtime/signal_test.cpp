// wait_signal: a task waits for a signal while the others keep running.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>

using namespace std::chrono_literals;

namespace {

class Signal : public greenring_test::Runtime {};

TEST_F(Signal, TaskWaitsForSignalWhileOthersRun) {
  auto waiter = greenring::spawn([] { return greenring::wait_signal({SIGUSR1, SIGUSR2}); });
  int ticks = 0;
  auto ticker = greenring::spawn([&] {
    for (; ticks < 5; ++ticks) greenring::sleep(0);
    ::pthread_kill(::pthread_self(), SIGUSR2);
  });
  EXPECT_EQ(waiter.get(), SIGUSR2);
  ticker.get();
  EXPECT_EQ(ticks, 5);
}

TEST_F(Signal, SignalArrivingBeforeTheWaitIsKept) {
  greenring::block_signals({SIGUSR1});
  ::pthread_kill(::pthread_self(), SIGUSR1);  // blocked: pending, not fatal
  EXPECT_EQ(greenring::wait_signal({SIGUSR1}), SIGUSR1);
}

TEST_F(Signal, TimeoutReturnsZeroAndKillInterrupts) {
  EXPECT_EQ(greenring::wait_signal({SIGUSR1}, 1ms), 0);
  auto t = greenring::spawn([] { greenring::wait_signal({SIGUSR1}); });
  greenring::yield();
  t.kill();
  EXPECT_TRUE(t.killed());
  EXPECT_THROW(greenring::wait_signal({0x7fff}), std::system_error);
}

}  // namespace
