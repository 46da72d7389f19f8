// threadpool: results and exceptions come back to the waiting task, the
// hub thread keeps running other tasks meanwhile, callbacks run as tasks.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

class ThreadPool : public greenring_test::Runtime {};

TEST_F(ThreadPool, ResultsComeBackFromWorkerThreads) {
  greenring::threadpool pool(4);
  EXPECT_EQ(pool.size(), 4u);
  const auto me = std::this_thread::get_id();
  auto r = pool.submit([](int a, int b) { return std::make_pair(a * b, std::this_thread::get_id()); }, 6, 7);
  auto [v, where] = r.get();
  EXPECT_EQ(v, 42);
  EXPECT_NE(where, me);
  EXPECT_EQ(pool.apply([] { return std::string("done"); }), "done");
  pool.apply([] {});  // void jobs
}

TEST_F(ThreadPool, ExceptionsAreRethrownToTheWaiter) {
  greenring::threadpool pool(2);
  auto r = pool.submit([]() -> int { throw std::runtime_error("worker failed"); });
  EXPECT_FALSE(r.ready());
  try {
    r.get();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "worker failed");
  }
  EXPECT_TRUE(r.ready());
  EXPECT_FALSE(r.successful());
}

TEST_F(ThreadPool, HubKeepsRunningTasksWhileAJobBlocks) {
  greenring::threadpool pool(1);
  std::latch release(1);
  auto r = pool.submit([&release] {
    release.wait();  // blocks a worker, never the hub
    return 1;
  });
  int ticks = 0;
  auto ticker = greenring::spawn([&] {
    for (int i = 0; i < 10; ++i, ++ticks) greenring::sleep(0);
    release.count_down();
  });
  EXPECT_EQ(r.get(), 1);
  ticker.get();
  EXPECT_EQ(ticks, 10);
}

TEST_F(ThreadPool, WaitWithTimeoutAndKilledWaiter) {
  greenring::threadpool pool(1);
  std::latch release(1);
  auto r = pool.submit([&release] {
    release.wait();
    return 5;
  });
  EXPECT_FALSE(r.wait(1ms));
  auto waiter = greenring::spawn([r]() mutable { return r.get(); });
  greenring::yield();
  waiter.kill();
  EXPECT_TRUE(waiter.killed());
  release.count_down();
  EXPECT_EQ(r.get(), 5);
}

TEST_F(ThreadPool, ApplyAsyncRunsCallbacksOnTheHubAndJoinWaitsForThem) {
  greenring::threadpool pool(4);
  const auto me = std::this_thread::get_id();
  std::vector<int> seen;
  bool all_on_hub = true;
  for (int i = 0; i < 10; ++i)
    pool.apply_async([i] { return i + 100; }, [&](int v) {
      all_on_hub = all_on_hub && std::this_thread::get_id() == me;
      greenring::yield();  // a callback is a task: it may block
      seen.push_back(v);
    });
  pool.join();
  ASSERT_EQ(seen.size(), 10u);
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i + 100);
  EXPECT_TRUE(all_on_hub);
}

TEST_F(ThreadPool, ManyTasksManyJobs) {
  greenring::threadpool pool(3);
  std::vector<greenring::task<long>> tasks;
  for (int t = 0; t < 100; ++t)
    tasks.push_back(greenring::spawn([&pool, t] {
      long sum = 0;
      for (int j = 0; j < 20; ++j) sum += pool.apply([t, j] { return static_cast<long>(t * 1000 + j); });
      return sum;
    }));
  for (int t = 0; t < 100; ++t) EXPECT_EQ(tasks[static_cast<std::size_t>(t)].get(), t * 20000L + 190);
}

TEST_F(ThreadPool, GlobalPoolExists) {
  EXPECT_GE(greenring::threadpool::global().size(), 1u);
  EXPECT_EQ(greenring::threadpool::global().apply([] { return 3; }), 3);
}

}  // namespace
