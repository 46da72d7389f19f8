#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using greenring::any_task;
using greenring::spawn;
using Task = greenring_test::Runtime;
using Hub = greenring_test::Runtime;

namespace {
struct counted {
  int& n;
  ~counted() { ++n; }
};
}  // namespace

TEST_F(Task, SpawnedTaskRunsOnlyWhenTheSpawnerBlocks) {
  std::vector<int> order;
  auto t = spawn([&] { order.push_back(2); });
  order.push_back(1);
  EXPECT_FALSE(t.started());
  t.join();
  order.push_back(3);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(t.ready());
  EXPECT_TRUE(t.successful());
}

TEST_F(Task, GetReturnsTheResultAndArgumentsAreCopiedIn) {
  std::string s = "abc";
  auto t = spawn([](std::string a, int b) { return a + std::to_string(b); }, s, 7);
  s = "changed";
  EXPECT_EQ(t.get(), "abc7");
}

TEST_F(Task, MoveOnlyArgumentsAndResults) {
  auto t = spawn([](std::unique_ptr<int> p) { return std::make_unique<int>(*p + 1); }, std::make_unique<int>(1));
  EXPECT_EQ(*t.get(), 2);
}

TEST_F(Task, GetRethrowsTheTasksException) {
  auto t = spawn([]() -> int { throw std::runtime_error("task failed"); });
  EXPECT_THROW(t.get(), std::runtime_error);
  EXPECT_TRUE(t.ready());
  EXPECT_FALSE(t.successful());
  EXPECT_NE(t.exception(), nullptr);
}

TEST_F(Task, NonStdExceptionIsStoredToo) {
  auto t = spawn([] { throw 42; });
  t.join();
  EXPECT_FALSE(t.successful());
  try {
    t.get();
    FAIL();
  } catch (int v) {
    EXPECT_EQ(v, 42);
  }
}

TEST_F(Hub, SleepZeroRunsOtherReadyTasksFirst) {
  std::vector<std::string> out;
  auto foo = [&] {
    out.push_back("Running in foo");
    greenring::sleep(0);
    out.push_back("Explicit context switch to foo again");
  };
  auto bar = [&] {
    out.push_back("Explicit context to bar");
    greenring::sleep(0);
    out.push_back("Implicit context switch back to bar");
  };
  greenring::joinall({spawn(foo), spawn(bar)});
  EXPECT_EQ(out, (std::vector<std::string>{"Running in foo", "Explicit context to bar",
                                           "Explicit context switch to foo again",
                                           "Implicit context switch back to bar"}));
}

TEST_F(Hub, ReadyTasksRunInFifoOrder) {
  std::vector<int> order;
  std::vector<any_task> ts;
  for (int i = 0; i < 10; ++i) ts.push_back(spawn([&order, i] { order.push_back(i); }));
  greenring::joinall(ts);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_F(Hub, TimersFireInDeadlineOrder) {
  std::vector<int> order;
  // Deadlines from one base: however late each task starts (Valgrind, a
  // loaded host), their order is fixed.
  const auto base = std::chrono::steady_clock::now();
  auto a = spawn([&] {
    greenring::sleep_until(base + 90ms);
    order.push_back(90);
  });
  auto b = spawn([&] {
    greenring::sleep_until(base + 10ms);
    order.push_back(10);
  });
  auto c = spawn([&] {
    greenring::sleep_until(base + 50ms);
    order.push_back(50);
  });
  greenring::joinall({a, b, c});
  EXPECT_EQ(order, (std::vector<int>{10, 50, 90}));
}

TEST_F(Hub, SleepUntilAPastDeadlineYieldsOnly) {
  std::vector<char> order;
  auto a = spawn([&] {
    greenring::sleep_until(std::chrono::steady_clock::now() - 1s);
    order.push_back('a');
  });
  auto b = spawn([&] { order.push_back('b'); });
  greenring::joinall({a, b});
  EXPECT_EQ(order, (std::vector<char>{'b', 'a'}));  // a let b run first
  EXPECT_EQ(greenring::stats().timers, 0u);
}

TEST_F(Hub, SleepUntilNeverWakesEarly) {
  for (int i = 0; i < 20; ++i) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(100 * i);
    greenring::sleep_until(deadline);
    EXPECT_GE(std::chrono::steady_clock::now(), deadline);
  }
}

TEST_F(Hub, SpawnLaterStartsAfterItsDelayInDeadlineOrder) {
  std::vector<char> order;
  auto a = greenring::spawn_later(30ms, [&] { order.push_back('a'); });
  auto b = greenring::spawn_later(10ms, [&] { order.push_back('b'); });
  auto c = spawn([&] { order.push_back('c'); });
  greenring::yield();
  EXPECT_EQ(order, (std::vector<char>{'c'}));
  EXPECT_FALSE(a.started());
  greenring::joinall({a, b, c});
  EXPECT_EQ(order, (std::vector<char>{'c', 'b', 'a'}));
}

TEST_F(Hub, BusyYieldingTaskDoesNotStarveTimers) {
  bool timer_done = false;
  long spins = 0;
  auto ticker = spawn([&] {
    greenring::sleep(1ms);
    timer_done = true;
  });
  auto busy = spawn([&] {
    // Bounded: a hub that never polls timers would exhaust the bound.
    while (!timer_done && spins < 50'000'000) {
      ++spins;
      greenring::sleep(0);
    }
  });
  greenring::joinall({ticker, busy});
  EXPECT_TRUE(timer_done);
  EXPECT_LT(spins, 50'000'000);
}

TEST_F(Hub, WaitingOnSomethingNothingCanWakeRaisesLoopExit) {
  auto t = spawn(greenring::task_options{.name = "stuck"}, [] { greenring::sleep(greenring::forever); });
  try {
    t.join();
    FAIL() << "join returned";
  } catch (const greenring::loop_exit& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("would block forever"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"stuck\" waiting in sleep(forever)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("main greenlet"), std::string::npos) << msg;
  }
  t.kill();
  EXPECT_TRUE(t.killed());
}

TEST_F(Task, JoinWithTimeoutReturnsFalseWhileRunning) {
  auto t = spawn([] { greenring::sleep(10s); });
  EXPECT_FALSE(t.join(5ms));
  EXPECT_FALSE(t.ready());
  t.kill();
  EXPECT_TRUE(t.ready());
}

TEST_F(Task, JoinManyTimesAndAfterFinish) {
  auto t = spawn([] { return 1; });
  t.join();
  t.join();
  EXPECT_TRUE(t.join(0ms));
  EXPECT_EQ(t.get(), 1);
  EXPECT_EQ(t.get(), 1);
}

TEST_F(Task, SeveralTasksJoiningOneAllWake) {
  auto target = spawn([] { greenring::sleep(1ms); });
  int woke = 0;
  std::vector<any_task> joiners;
  for (int i = 0; i < 5; ++i)
    joiners.push_back(spawn([&] {
      target.join();
      ++woke;
    }));
  greenring::joinall(joiners);
  EXPECT_EQ(woke, 5);
}

TEST_F(Task, JoiningItselfIsAnError) {
  any_task self;
  auto t = spawn([&] { self.join(); });
  self = t;
  EXPECT_THROW(t.get(), std::logic_error);
}

TEST_F(Task, KillWhileBlockedInSleepRunsDestructors) {
  int destroyed = 0;
  bool after_sleep = false;
  auto t = spawn([&] {
    counted c{destroyed};
    greenring::sleep(10s);
    after_sleep = true;
  });
  greenring::yield();
  EXPECT_TRUE(t.started());
  t.kill();
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE(after_sleep);
  EXPECT_TRUE(t.ready());
  EXPECT_TRUE(t.killed());
  EXPECT_FALSE(t.successful());
  EXPECT_THROW(t.get(), greenring::task_killed);
}

TEST_F(Task, DestructorsRunByAKillSeeAnUncaughtException) {
  int seen = -1;
  struct probe {
    int& out;
    ~probe() { out = std::uncaught_exceptions(); }
  };
  auto t = spawn([&] {
    probe p{seen};
    greenring::sleep(10s);
  });
  greenring::yield();
  t.kill();
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

TEST_F(Task, DestructorsMayBlockWhileAKillUnwindsThem) {
  bool cleaned_up = false;
  struct slow_cleanup {
    bool& done;
    ~slow_cleanup() {
      greenring::sleep(1ms);  // e.g. a graceful close; must not be interrupted
      done = true;
    }
  };
  auto t = spawn([&] {
    slow_cleanup c{cleaned_up};
    greenring::sleep(10s);
  });
  greenring::yield();
  t.kill();
  EXPECT_TRUE(cleaned_up);
  EXPECT_TRUE(t.killed());
}

TEST_F(Task, KillBeforeStartNeverRunsTheBody) {
  bool ran = false;
  auto t = spawn([&] { ran = true; });
  t.kill();
  greenring::joinall({t});
  greenring::yield();
  EXPECT_FALSE(ran);
  EXPECT_TRUE(t.killed());
  EXPECT_FALSE(t.started());
}

TEST_F(Task, KillIsIdempotentAndKillingADeadTaskDoesNothing) {
  int destroyed = 0;
  auto t = spawn([&] {
    counted c{destroyed};
    greenring::sleep(10s);
  });
  greenring::yield();
  t.kill_async();
  t.kill_async();
  t.kill();
  t.kill();
  EXPECT_EQ(destroyed, 1);
  auto done = spawn([] { return 3; });
  EXPECT_EQ(done.get(), 3);
  done.kill();
  EXPECT_TRUE(done.successful());
}

TEST_F(Task, SelfKillUnwindsTheTask) {
  int destroyed = 0;
  any_task self;
  auto t = spawn([&] {
    counted c{destroyed};
    self.kill();
    ADD_FAILURE() << "kill of the current task returned";
  });
  self = t;
  t.join();
  EXPECT_TRUE(t.killed());
  EXPECT_EQ(destroyed, 1);
}

TEST_F(Task, KillWithACustomExceptionFailsTheTaskWithIt) {
  auto t = spawn([] { greenring::sleep(10s); });
  greenring::yield();
  t.kill_async(std::make_exception_ptr(std::runtime_error("stop now")));
  t.join();
  EXPECT_FALSE(t.killed());
  EXPECT_FALSE(t.successful());
  EXPECT_THROW(t.get(), std::runtime_error);
}

TEST_F(Task, GenericCatchDoesNotSwallowKill) {
  int attempts = 0;
  auto t = spawn([&] {
    for (;;) {
      try {
        ++attempts;
        greenring::sleep(10s);
      } catch (const std::exception&) {
        // a generic handler must not stop a kill
      }
    }
  });
  greenring::yield();
  t.kill();
  EXPECT_TRUE(t.killed());
  EXPECT_EQ(attempts, 1);
}

TEST_F(Task, ATaskThatSwallowsAKillCanBeKilledAgain) {
  int kills_seen = 0;
  auto t = spawn([&] {
    try {
      greenring::sleep(10s);
    } catch (const greenring::greenlet_exit&) {
      ++kills_seen;  // swallowed: the task goes on
    }
    greenring::sleep(10s);
  });
  greenring::yield();
  EXPECT_FALSE(t.kill(1ms));
  EXPECT_FALSE(t.ready());
  t.kill();
  EXPECT_EQ(kills_seen, 1);
  EXPECT_TRUE(t.killed());
}

TEST_F(Task, LinkCallbacksRunInOrderWhenTheTaskFinishes) {
  std::vector<int> calls;
  auto t = spawn([] { return 5; });
  t.link([&](const any_task& x) {
    EXPECT_TRUE(x.ready());
    calls.push_back(1);
  });
  t.link([&](const any_task&) { calls.push_back(2); });
  t.join();
  EXPECT_EQ(calls, (std::vector<int>{1, 2}));
  t.link([&](const any_task&) { calls.push_back(3); });  // already done: runs now
  EXPECT_EQ(calls, (std::vector<int>{1, 2, 3}));
}

TEST_F(Task, NamesAndIdsIdentifyTasks) {
  auto a = spawn(greenring::task_options{.name = "alpha"}, [] {});
  auto b = spawn([] {});
  EXPECT_EQ(a.name(), "alpha");
  EXPECT_NE(a.id(), b.id());
  greenring::joinall({a, b});
}

TEST_F(Task, JoinallWaitsForEveryTask) {
  int done = 0;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 20; ++i)
    ts.push_back(spawn([&, i] {
      greenring::sleep(std::chrono::microseconds(100 * (i % 4)));
      ++done;
    }));
  auto finished = greenring::joinall(ts);
  EXPECT_EQ(done, 20);
  EXPECT_EQ(finished.size(), 20u);
}

TEST_F(Task, JoinallWithTimeoutReturnsOnlyTheFinishedOnes) {
  auto quick = spawn([] {});
  auto slow = spawn([] { greenring::sleep(10s); });
  auto finished = greenring::joinall({quick, slow}, 5ms);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0], quick);
  slow.kill();
}

TEST_F(Task, JoinallRaiseErrorRethrowsTheFirstFailureInCompletionOrder) {
  auto late = spawn([] {
    greenring::sleep(10s);
    throw std::runtime_error("late");
  });
  auto early = spawn([] {
    greenring::sleep(1ms);
    throw std::logic_error("early");
  });
  auto slow = spawn([] { greenring::sleep(10s); });
  EXPECT_THROW(greenring::joinall({late, early, slow}, greenring::forever, true), std::logic_error);
  EXPECT_FALSE(late.ready());  // raised as soon as `early` failed
  greenring::killall({late, slow});
  EXPECT_TRUE(late.killed());
  EXPECT_TRUE(slow.killed());
}

TEST_F(Task, KillallKillsEveryTaskAndWaits) {
  int destroyed = 0;
  std::vector<any_task> ts;
  for (int i = 0; i < 10; ++i)
    ts.push_back(spawn([&] {
      counted c{destroyed};
      greenring::sleep(10s);
    }));
  greenring::yield();
  greenring::killall(ts);
  EXPECT_EQ(destroyed, 10);
  for (auto& t : ts) EXPECT_TRUE(t.killed());
}

TEST_F(Task, HundredThousandTasksSpawnedAndJoined) {
  long sum = 0;
  std::vector<greenring::task<int>> ts;
  ts.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) ts.push_back(spawn([i] { return i; }));
  greenring::joinall(ts);
  for (auto& t : ts) sum += t.get();
  EXPECT_EQ(sum, 100'000L * 99'999 / 2);
  EXPECT_EQ(greenring::stats().stacks_in_use, before_.stacks_in_use);
}

// Tasks that start as others die run back to back, some on the stack of
// the one before; each must still be itself.
TEST_F(Task, BackToBackTasksKeepTheirOwnIdentityAndExceptionState) {
  std::vector<greenring::task<std::uint64_t>> ts;
  for (int i = 0; i < 300; ++i) {
    greenring::task_options opts;
    opts.stack_size = (i % 3 == 0) ? 64 * 1024 : greenring::greenlet::default_stack_size;
    ts.push_back(spawn(opts, [i]() -> std::uint64_t {
      EXPECT_EQ(std::current_exception(), nullptr);
      EXPECT_EQ(std::uncaught_exceptions(), 0);
      if (i % 7 == 0) throw std::runtime_error(std::to_string(i));
      return greenring::greenlet::current().id();
    }));
  }
  greenring::joinall(ts);
  for (int i = 0; i < 300; ++i) {
    if (i % 7 == 0)
      EXPECT_THROW(ts[i].get(), std::runtime_error);
    else
      EXPECT_EQ(ts[i].get(), ts[i].id());
  }
}

TEST_F(Task, UncollectedExceptionIsReportedWithTheTaskName) {
  testing::internal::CaptureStderr();
  {
    auto t = spawn(greenring::task_options{.name = "doomed"}, [] { throw std::runtime_error("lost cause"); });
    t.join();  // join does not collect; get() or exception() would
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("\"doomed\" failed and nobody collected its exception"), std::string::npos) << err;
  EXPECT_NE(err.find("lost cause"), std::string::npos) << err;
}

TEST_F(Task, FireAndForgetFailureIsReportedToo) {
  testing::internal::CaptureStderr();
  spawn(greenring::task_options{.name = "orphan"}, [] { throw std::runtime_error("nobody waits"); });
  greenring::yield();
  greenring::yield();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("\"orphan\" failed"), std::string::npos) << err;
}

TEST_F(Task, CollectedExceptionIsNotReported) {
  testing::internal::CaptureStderr();
  {
    auto t = spawn([] { throw std::runtime_error("seen"); });
    EXPECT_THROW(t.get(), std::runtime_error);
    auto k = spawn([] { greenring::sleep(10s); });
    k.kill();  // killed tasks are not failures to report
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(Task, HandlesRefuseUseFromAnotherThread) {
  auto t = spawn([] { greenring::sleep(10s); });
  std::string error;
  std::thread other([&] {
    try {
      t.kill_async();
    } catch (const std::logic_error& e) {
      error = e.what();
    }
  });
  other.join();
  EXPECT_NE(error.find("another thread"), std::string::npos);
  t.kill();
}

TEST_F(Task, RunReturnsTheResultAndKillsLeftoverTasks) {
  int destroyed = 0;
  int r = greenring::run([&] {
    spawn([&] {
      counted c{destroyed};
      greenring::sleep(10s);
    });
    greenring::sleep(0);
    return 42;
  });
  EXPECT_EQ(r, 42);
  EXPECT_EQ(destroyed, 1);
}

TEST_F(Task, EmptyHandlesGiveAClearError) {
  greenring::task<int> empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW(empty.get(), std::logic_error);
  EXPECT_THROW(empty.join(), std::logic_error);
  EXPECT_THROW(empty.kill(), std::logic_error);
  EXPECT_THROW((void)empty.ready(), std::logic_error);
  auto t = spawn([] { return 1; });
  auto moved = std::move(t);
  EXPECT_THROW(t.get(), std::logic_error);  // NOLINT: use after move is the point
  EXPECT_THROW(greenring::joinall({moved, any_task{}}), std::logic_error);
  std::vector<any_task> v{moved, any_task{}};
  EXPECT_THROW(greenring::killall(v), std::logic_error);
  EXPECT_EQ(moved.get(), 1);
}

TEST_F(Task, RunInsideATaskIsRefused) {
  auto t = spawn([] { return greenring::run([] { return 1; }); });
  EXPECT_THROW(t.get(), std::logic_error);
}

TEST(HubThreads, EachThreadHasItsOwnHubAndItsTasksAreUnwoundAtThreadExit) {
  std::atomic<int> destroyed{0};
  std::atomic<int> ran{0};
  std::thread t([&] {
    struct guard {
      std::atomic<int>& n;
      ~guard() { ++n; }
    };
    for (int i = 0; i < 3; ++i)
      spawn([&] {
        guard g{destroyed};
        ++ran;
        greenring::sleep(10s);
      });
    greenring::sleep(0);
  });
  t.join();
  EXPECT_EQ(ran.load(), 3);
  EXPECT_EQ(destroyed.load(), 3);
}

TEST(HubExit, TasksAliveWhenTheProgramExitsAreUnwound) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        struct guard {
          ~guard() { std::fputs("unwound at exit\n", stderr); }
        };
        spawn([] {
          guard g;
          greenring::sleep(10s);
        });
        greenring::sleep(0);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "unwound at exit");
}

TEST(HubExit, CleanupThatBlocksStillCompletesAtExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        struct graceful {
          ~graceful() {
            greenring::sleep(1ms);
            std::fputs("cleanup done\n", stderr);
          }
        };
        for (int i = 0; i < 3; ++i)
          spawn([] {
            graceful g;
            greenring::sleep(10s);
          });
        greenring::sleep(0);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "cleanup done\ncleanup done\ncleanup done");
}

TEST(HubExit, ATaskThatRefusesToDieDoesNotHangTheExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        spawn([] {
          for (;;) {
            try {
              greenring::sleep(10s);
            } catch (const greenring::greenlet_exit&) {
              // refuses to die
            }
          }
        });
        greenring::sleep(0);
        std::exit(0);
      },
      testing::ExitedWithCode(0), "refused to exit");
}
