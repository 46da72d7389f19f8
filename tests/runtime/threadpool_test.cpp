// threadpool: results and exceptions come back to the waiting task, the
// hub thread keeps running other tasks meanwhile, callbacks run as tasks.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

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

// The default size follows the affinity mask, not the machine: a program
// run under `taskset -c 0` gets one worker, not one per online CPU.
TEST_F(ThreadPool, DefaultSizeIsTheCpusThisThreadMayUse) {
  cpu_set_t saved;
  ASSERT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof saved, &saved), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &saved)) first = c;
  ASSERT_GE(first, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(::pthread_setaffinity_np(::pthread_self(), sizeof one, &one), 0);
  std::size_t size = 0;
  {
    greenring::threadpool pool;
    size = pool.size();
    EXPECT_EQ(pool.apply([] { return 5; }), 5);
  }
  ASSERT_EQ(::pthread_setaffinity_np(::pthread_self(), sizeof saved, &saved), 0);
  EXPECT_EQ(size, 1u);
  greenring::threadpool all;
  EXPECT_EQ(all.size(), static_cast<std::size_t>(CPU_COUNT(&saved)));
}

TEST_F(ThreadPool, GlobalPoolExists) {
  EXPECT_GE(greenring::threadpool::global().size(), 1u);
  EXPECT_EQ(greenring::threadpool::global().apply([] { return 3; }), 3);
}

}  // namespace

namespace {

// The hub's wake-up read stays armed while a handle exists; once the last
// one is gone it is disarmed at the hub's next turn.
void settle() {
  for (int i = 0; i < 1000 && greenring::stats().io_in_flight > 0; ++i) greenring::yield();
}

// Four threads post 1,000 functions each into this thread's hub; each runs
// as a task here, and the last one wakes the waiting test.
TEST_F(ThreadPool, HubHandlePostsFromOtherThreadsRunOnTheHub) {
  const auto home = std::this_thread::get_id();
  int ran = 0;
  bool wrong_thread = false;
  greenring::event all_in;
  {
    auto h = greenring::hub_handle::current();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([h, &ran, &wrong_thread, &all_in, home] {
        for (int i = 0; i < 1000; ++i)
          EXPECT_TRUE(h.post([&ran, &wrong_thread, &all_in, home] {
            wrong_thread = wrong_thread || std::this_thread::get_id() != home;
            greenring::yield();  // a task: it may block
            if (++ran == 4000) all_in.set();
          }));
      });
    EXPECT_TRUE(all_in.wait(60s));
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(ran, 4000);
  EXPECT_FALSE(wrong_thread);
  settle();
}

// The seeds' Pool.apply_async shape with a plain std::thread: it blocks,
// then hands its result back through the handle.
TEST_F(ThreadPool, HubHandleCarriesAResultFromAThreadIntoATask) {
  greenring::async_result<int> r;
  std::thread worker([h = greenring::hub_handle::current(), &r] {
    int v = 6 * 7;
    h.post([&r, v] { r.set(v); });
  });
  EXPECT_EQ(r.get(10s), 42);
  worker.join();
  settle();
}

TEST_F(ThreadPool, HubHandleToAHubThatHasGoneRefusesPosts) {
  std::optional<greenring::hub_handle> h;
  std::thread t([&h] {
    h.emplace(greenring::hub_handle::current());
    greenring::yield();
  });
  t.join();  // its hub went with the thread
  bool ran = false;
  EXPECT_FALSE(h->post([&ran] { ran = true; }));
  EXPECT_FALSE(ran);
}

// A handle copied into a forked child: to the forking thread's hub it goes
// on working there (that hub lives on in the child, with a fresh ring and
// eventfd); to another thread's hub, which the child lacks, post refuses
// at once instead of queueing a job nobody runs.
TEST_F(ThreadPool, HubHandlesAcrossFork) {
  {
    auto mine = greenring::hub_handle::current();
    std::optional<greenring::hub_handle> other;
    std::mutex m;
    std::condition_variable cv;
    bool have_other = false, finish = false;
    std::thread t([&] {
      greenring::hub_handle h = greenring::hub_handle::current();
      std::unique_lock g(m);
      other.emplace(h);
      have_other = true;
      cv.notify_all();
      cv.wait(g, [&] { return finish; });  // its hub stays alive across the fork
    });
    {
      std::unique_lock g(m);
      cv.wait(g, [&] { return have_other; });
    }
    pid_t pid = ::fork();
    EXPECT_GE(pid, 0) << "fork";  // EXPECT: thread t must be joined below
    if (pid == 0) {
      int code = 0;
      try {
        bool ran_there = false;
        if (other->post([&ran_there] { ran_there = true; })) code = 2;
        // From a thread of the child's own, except under TSan, which cannot
        // start threads after a multi-threaded fork: then from this one.
        auto post_from_a_thread = [](const greenring::hub_handle& h, std::function<void()> fn) {
#ifdef GREENRING_TSAN
          h.post(std::move(fn));
#else
          std::thread([&h, &fn] { h.post(std::move(fn)); }).join();
#endif
        };
        greenring::async_result<int> r;
        post_from_a_thread(mine, [&r] { r.set(42); });
        if (r.get(10s) != 42) code = 3;
        auto again = greenring::hub_handle::current();  // the same hub, as before the fork
        greenring::async_result<int> r2;
        post_from_a_thread(again, [&r2] { r2.set(7); });
        if (r2.get(10s) != 7) code = 4;
        if (ran_there) code = 5;
      } catch (...) {
        code = 6;
      }
      ::_exit(code);
    }
    greenring::threadpool pool(1);
    int status = pool.apply([pid] {
      int st = 0;
      if (pid > 0) ::waitpid(pid, &st, 0);
      return st;
    });
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // The parent's handles are untouched by the child's renewal.
    greenring::async_result<int> r;
    std::thread poster([mine, &r] { mine.post([&r] { r.set(1); }); });
    EXPECT_EQ(r.get(10s), 1);
    poster.join();
    {
      std::lock_guard g(m);
      finish = true;
    }
    cv.notify_all();
    t.join();
    other.reset();
  }  // the last handle gone, the hub disarms its read
  settle();
}

}  // namespace
