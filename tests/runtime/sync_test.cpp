// Coordination primitives: events, results, locks, readers-writer locks,
// conditions, queues, channels, wait(), groups, pools, task groups,
// task-locals, wait groups, barriers and call_once.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using greenring::spawn;

namespace {

class Sync : public greenring_test::Runtime {};

// ---- event / async_result ----

TEST_F(Sync, EventWakesAllWaitersInFifoOrder) {
  greenring::event e;
  std::vector<int> order;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 5; ++i) ts.push_back(spawn([&, i] {
    EXPECT_TRUE(e.wait());
    order.push_back(i);
  }));
  greenring::yield();
  EXPECT_FALSE(e.is_set());
  e.set();
  greenring::joinall(ts);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(e.wait(0ms));
  e.clear();
  EXPECT_FALSE(e.wait(1ms));
}

TEST_F(Sync, KilledEventWaiterLeavesTheLine) {
  greenring::event e;
  auto t = spawn([&] { e.wait(); });
  greenring::yield();
  t.kill();
  EXPECT_TRUE(t.killed());
  e.set();  // nobody left to wake; must not touch the dead frame
}

TEST_F(Sync, AsyncResultDeliversValueOrExceptionToEveryWaiter) {
  greenring::async_result<std::unique_ptr<int>> r;
  std::vector<greenring::task<int>> readers;
  for (int i = 0; i < 3; ++i) readers.push_back(spawn([&] { return *r.get(); }));
  greenring::yield();
  EXPECT_FALSE(r.ready());
  r.set(std::make_unique<int>(7));
  for (auto& t : readers) EXPECT_EQ(t.get(), 7);
  EXPECT_THROW(r.set(std::make_unique<int>(8)), std::logic_error);

  greenring::async_result<int> failed;
  spawn([&] { failed.set_exception(std::make_exception_ptr(std::runtime_error("boom"))); });
  EXPECT_THROW(failed.get(), std::runtime_error);
  EXPECT_FALSE(failed.successful());

  greenring::async_result<int> never;
  EXPECT_THROW(never.get(1ms), greenring::result_timeout);
  EXPECT_FALSE(never.wait(1ms));
  greenring::async_result<void> v;
  spawn([&] { v.set(); });
  v.get();
  EXPECT_TRUE(v.successful());
}

// ---- semaphores and locks ----

TEST_F(Sync, SemaphoreHandsPermitsOutInFifoOrder) {
  greenring::semaphore s(0);
  std::vector<int> order;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 4; ++i) ts.push_back(spawn([&, i] {
    s.acquire();
    order.push_back(i);
  }));
  greenring::yield();
  EXPECT_EQ(s.waiting(), 4u);
  for (int i = 0; i < 4; ++i) s.release();
  EXPECT_FALSE(s.try_acquire()) << "a newcomer must not overtake the woken waiters";
  greenring::joinall(ts);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(s.count(), 0u);
  EXPECT_FALSE(s.acquire(1ms));
}

TEST_F(Sync, PermitGrantedToAKilledWaiterGoesToTheNext) {
  greenring::semaphore s(0);
  bool second_got_it = false;
  auto first = spawn([&] { s.acquire(); });
  auto second = spawn([&] {
    s.acquire();
    second_got_it = true;
  });
  greenring::yield();
  s.release();       // granted to `first`, which has not run yet
  first.kill();      // killed before using it: the permit moves on
  second.join();
  EXPECT_TRUE(second_got_it);
  EXPECT_EQ(s.count(), 0u);
}

TEST_F(Sync, BoundedSemaphoreAndLockRefuseExtraReleases) {
  greenring::bounded_semaphore b(2);
  EXPECT_THROW(b.release(), std::logic_error);
  b.acquire();
  b.release();
  greenring::lock m;
  EXPECT_THROW(m.release(), std::logic_error);
  greenring::rlock r;
  EXPECT_THROW(r.release(), std::logic_error);
  r.acquire();
  auto other = spawn([&] { EXPECT_THROW(r.release(), std::logic_error); });
  other.get();
  r.release();
}

TEST_F(Sync, LocksWorkWithStandardGuards) {
  greenring::lock a, b;
  int inside = 0, max_inside = 0;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 10; ++i) ts.push_back(spawn([&] {
    for (int k = 0; k < 5; ++k) {
      std::scoped_lock g(a, b);
      max_inside = std::max(max_inside, ++inside);
      greenring::yield();
      --inside;
    }
  }));
  greenring::joinall(ts);
  EXPECT_EQ(max_inside, 1);
  {
    std::unique_lock<greenring::lock> u(a);
    EXPECT_TRUE(a.locked());
  }
  EXPECT_FALSE(a.locked());
}

TEST_F(Sync, RlockIsReentrantAndOwnerAware) {
  greenring::rlock r;
  {
    std::lock_guard g1(r);
    std::lock_guard g2(r);
    EXPECT_EQ(r.depth(), 2u);
    EXPECT_TRUE(r.owned());
    auto other = spawn([&] { return r.acquire(1ms); });
    EXPECT_FALSE(other.get());
  }
  EXPECT_FALSE(r.locked());
}

TEST_F(Sync, ConditionWaitReleasesAndRetakesTheLock) {
  greenring::lock m;
  greenring::condition cv;
  std::vector<int> items;
  auto consumer = spawn([&] {
    std::unique_lock g(m);
    cv.wait(g, [&] { return items.size() >= 3; });
    EXPECT_TRUE(m.locked());
    return items.size();
  });
  for (int i = 0; i < 3; ++i) {
    greenring::yield();
    std::lock_guard g(m);
    items.push_back(i);
    cv.notify();
  }
  EXPECT_EQ(consumer.get(), 3u);
  std::unique_lock g(m);
  EXPECT_FALSE(cv.wait(g, [] { return false; }, 2ms));
  EXPECT_TRUE(m.locked());
}

TEST_F(Sync, ConditionWithRlockRestoresDepthEvenWhenKilled) {
  greenring::rlock r;
  greenring::condition cv;
  std::size_t depth_after = 0;
  auto t = spawn([&] {
    std::lock_guard g1(r);
    std::lock_guard g2(r);
    try {
      cv.wait(r);
    } catch (...) {
      depth_after = r.depth();
      throw;
    }
  });
  greenring::yield();
  EXPECT_FALSE(r.locked()) << "wait released every level";
  t.kill();
  EXPECT_EQ(depth_after, 2u);
  EXPECT_FALSE(r.locked());
}

// ---- queues ----

TEST_F(Sync, QueueIsFifoAndBoundedPutWaits) {
  greenring::queue<int> q(2);
  q.put(1);
  q.put(2);
  EXPECT_TRUE(q.full());
  EXPECT_FALSE(q.try_put(3));
  EXPECT_THROW(q.put(3, 1ms), greenring::queue_full);
  auto putter = spawn([&] { q.put(3); });
  greenring::yield();
  EXPECT_EQ(q.putters(), 1u);
  EXPECT_EQ(q.get(), 1);
  putter.get();
  EXPECT_EQ(q.peek(), 2);
  EXPECT_EQ(q.get(), 2);
  EXPECT_EQ(q.get(), 3);
  EXPECT_EQ(q.try_get(), std::nullopt);
  EXPECT_THROW(q.get(1ms), greenring::queue_empty);
}

TEST_F(Sync, QueueServesGettersInFifoOrder) {
  greenring::queue<int> q;
  std::vector<std::pair<int, int>> got;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 5; ++i) ts.push_back(spawn([&, i] { got.emplace_back(i, q.get()); }));
  greenring::yield();
  for (int v = 10; v < 15; ++v) q.put(v);
  EXPECT_EQ(q.try_get(), std::nullopt) << "the items are promised to the waiting getters";
  greenring::joinall(ts);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], std::make_pair(i, 10 + i));
}

TEST_F(Sync, KilledGetterNeverLosesAnItemKilledPutterNeverInsertsOne) {
  greenring::queue<std::unique_ptr<int>> q(1);
  auto g1 = spawn([&] { return *q.get(); });
  auto g2 = spawn([&] { return *q.get(); });
  greenring::yield();
  q.put(std::make_unique<int>(5));  // promised to g1
  g1.kill();                        // before it ran: the item goes to g2
  EXPECT_EQ(g2.get(), 5);
  EXPECT_TRUE(q.empty());

  q.put(std::make_unique<int>(1));  // full now
  auto p = spawn([&] { q.put(std::make_unique<int>(2)); });
  greenring::yield();
  p.kill();
  EXPECT_EQ(*q.get(), 1);
  EXPECT_TRUE(q.empty()) << "a killed putter inserted its item";
  auto moved = std::make_unique<int>(9);
  q.put(std::move(moved));
  auto keep = std::make_unique<int>(10);
  EXPECT_THROW(q.put(std::move(keep), 1ms), greenring::queue_full);
  ASSERT_TRUE(keep) << "a put that timed out must not take the item";
  EXPECT_EQ(*keep, 10);
}

TEST_F(Sync, CloseWakesEveryoneAndLetsConsumersDrain) {
  greenring::queue<int> q(2);
  q.put(1);
  q.put(2);
  auto putter = spawn([&] { q.put(3); });
  greenring::queue<int> empty;
  auto getter = spawn([&] { return empty.get(); });
  greenring::yield();
  q.close();
  empty.close();
  EXPECT_THROW(putter.get(), greenring::queue_closed);
  EXPECT_THROW(getter.get(), greenring::queue_closed);
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get(), 2);
  EXPECT_THROW(q.get(), greenring::queue_closed);
  EXPECT_THROW(q.put(4), greenring::queue_closed);
}

TEST_F(Sync, PriorityLifoAndJoinableQueues) {
  greenring::priority_queue<int, std::greater<int>> pq;
  for (int v : {5, 1, 4, 2, 3}) pq.put(v);
  for (int v = 1; v <= 5; ++v) EXPECT_EQ(pq.get(), v);
  greenring::lifo_queue<std::string> lq;
  lq.put("a");
  lq.put("b");
  EXPECT_EQ(lq.get(), "b");
  EXPECT_EQ(lq.get(), "a");

  greenring::joinable_queue<int> jq;
  int processed = 0;
  auto worker = spawn([&] {
    for (;;) {
      jq.get();
      greenring::yield();
      ++processed;
      jq.task_done();
    }
  });
  for (int i = 0; i < 10; ++i) jq.put(i);
  EXPECT_TRUE(jq.join());
  EXPECT_EQ(processed, 10);
  worker.kill();
  EXPECT_THROW(jq.task_done(), std::logic_error);
}

TEST_F(Sync, ChannelIsARendezvous) {
  greenring::channel<std::unique_ptr<int>> ch;
  bool delivered = false;
  auto putter = spawn([&] {
    ch.put(std::make_unique<int>(42));
    delivered = true;
  });
  greenring::yield();
  EXPECT_FALSE(delivered) << "put returned before anyone took the item";
  EXPECT_EQ(*ch.get(), 42);
  putter.join();
  EXPECT_TRUE(delivered);
  EXPECT_THROW(ch.get(1ms), greenring::queue_empty);
  auto keep = std::make_unique<int>(1);
  EXPECT_THROW(ch.put(std::move(keep), 1ms), greenring::queue_full);
  EXPECT_TRUE(keep);
  auto killed = spawn([&] { ch.put(std::make_unique<int>(2)); });
  greenring::yield();
  killed.kill();
  EXPECT_THROW(ch.get(1ms), greenring::queue_empty) << "a killed putter's item was delivered";
  auto waiting = spawn([&] { return ch.get(); });
  greenring::yield();
  ch.close();
  EXPECT_THROW(waiting.get(), greenring::queue_closed);
}

TEST_F(Sync, ChannelHandsAnItemStraightToAWaitingGetter) {
  greenring::channel<std::unique_ptr<int>> ch;
  auto getter = spawn([&] { return *ch.get(); });
  greenring::yield();  // the getter waits
  ASSERT_EQ(ch.getters(), 1u);
  ch.put(std::make_unique<int>(7));  // returns without blocking: the getter has it
  EXPECT_EQ(ch.getters(), 0u);
  EXPECT_FALSE(getter.ready());
  EXPECT_EQ(getter.get(), 7);
}

TEST_F(Sync, ChannelGetterKilledAfterAHandOverGivesTheItemBack) {
  greenring::channel<std::unique_ptr<int>> ch;
  auto doomed = spawn([&] { return *ch.get(); });
  greenring::yield();
  ch.put(std::make_unique<int>(1));  // handed to `doomed`, which has not run yet
  doomed.kill();
  EXPECT_THROW(doomed.get(), greenring::task_killed);
  EXPECT_EQ(*ch.get(1ms), 1) << "the item a killed getter held was lost";

  // Given back while another getter waits: that one receives it.
  auto first = spawn([&] { return *ch.get(); });
  auto second = spawn([&] { return *ch.get(); });
  greenring::yield();
  ch.put(std::make_unique<int>(2));  // to `first`
  first.kill();
  EXPECT_EQ(second.get(), 2);
  EXPECT_THROW(ch.get(1ms), greenring::queue_empty) << "an item was delivered twice";
}

TEST_F(Sync, ChannelDeliversEveryItemOnceAmongManyPuttersAndGetters) {
  greenring::channel<int> ch;
  constexpr int putters = 4, per_putter = 500, getters = 3;
  std::vector<greenring::task<void>> ps;
  for (int p = 0; p < putters; ++p)
    ps.push_back(spawn([&ch, p] {
      for (int i = 0; i < per_putter; ++i) ch.put(p * per_putter + i);
    }));
  std::vector<int> seen(putters * per_putter, 0);
  std::vector<greenring::task<void>> gs;
  for (int g = 0; g < getters; ++g)
    gs.push_back(spawn([&] {
      for (;;) ++seen.at(static_cast<std::size_t>(ch.get()));
    }));
  greenring::joinall(ps);
  ch.close();
  for (auto& g : gs) EXPECT_THROW(g.get(), greenring::queue_closed);
  for (int v : seen) ASSERT_EQ(v, 1);
}

// ---- wait ----

TEST_F(Sync, WaitReturnsAsSoonAsEnoughAreReady) {
  greenring::event e;
  greenring::async_result<int> r;
  greenring::queue<int> q;
  greenring::event gate;  // the task ends only when the test says so
  auto t = spawn([&] { gate.wait(); });
  spawn([&] { r.set(1); });
  auto first = greenring::wait({e, r, q, t}, 1);
  EXPECT_EQ(first, std::vector<std::size_t>{1});
  q.put(5);
  auto two = greenring::wait({e, r, q, t}, 2);
  EXPECT_EQ(two, (std::vector<std::size_t>{1, 2}));
  gate.set();
  auto all_but_e = greenring::wait({e, r, q, t}, 3, 10s);
  EXPECT_EQ(all_but_e, (std::vector<std::size_t>{1, 2, 3}));
  EXPECT_EQ(greenring::wait_any({e}, 1ms), 1u) << "timeout: objects.size()";
  e.set();
  EXPECT_EQ(greenring::wait({e, r, q, t}).size(), 4u);
}

// gevent.iwait: each object once, in the order they become ready; those
// already ready first, by index; the timeout ends the iteration.
TEST_F(Sync, IwaitYieldsEachObjectOnceAsItBecomesReady) {
  greenring::event gates[3];
  std::vector<greenring::task<int>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(spawn([&gates, i] {
      gates[i].wait();
      return i;
    }));
  greenring::event already;
  already.set();
  const std::size_t order[] = {2, 0, 1};
  std::size_t k = 0;
  gates[order[k++]].set();
  std::vector<std::size_t> seen;
  for (std::size_t i : greenring::iwait({tasks[0], tasks[1], tasks[2], already})) {
    seen.push_back(i);
    if (i < 3) {
      EXPECT_EQ(tasks[i].get(), static_cast<int>(i)) << "a task yielded is done";
    }
    if (i < 3 && k < 3) gates[order[k++]].set();  // the next one finishes only now
  }
  EXPECT_EQ(seen, (std::vector<std::size_t>{3, 2, 0, 1}));
  // Never ready: the timeout ends it, with what was ready by then.
  greenring::event never;
  seen.clear();
  for (std::size_t i : greenring::iwait({never, already}, 10ms)) seen.push_back(i);
  EXPECT_EQ(seen, std::vector<std::size_t>{1});
  // A kill ends it like any wait.
  auto waiter = spawn([&] {
    for (std::size_t i : greenring::iwait({never})) (void)i;
  });
  greenring::sleep(0);
  waiter.kill();
  EXPECT_TRUE(waiter.ready());
}

TEST_F(Sync, WaitOnAQueueEndsWhenItIsClosed) {
  greenring::queue<int> q;
  greenring::event never;
  auto waiter = spawn([&] { return greenring::wait({never, q}, 1, 5s); });
  greenring::sleep(0);
  EXPECT_FALSE(waiter.ready()) << "an open, empty queue is not ready";
  q.close();
  EXPECT_EQ(waiter.get(), std::vector<std::size_t>{1}) << "get() would not wait now: it throws queue_closed";
  EXPECT_THROW(q.get(), greenring::queue_closed);
}

// Go's select over receive cases: wait on channels, then get from the
// ready one.
TEST_F(Sync, WaitOnChannelsIsReadyWhenAPutterWaitsOrItIsClosed) {
  greenring::channel<int> a, b;
  greenring::event never;
  EXPECT_FALSE(a.ready());
  auto selector = spawn([&] {
    std::vector<int> got;
    for (int round = 0; round < 2; ++round) {
      std::size_t i = greenring::wait_any({a, b, never}, 5s);
      if (i > 1) break;
      got.push_back(i == 0 ? a.get() : b.get());
    }
    return got;
  });
  greenring::sleep(0);
  EXPECT_FALSE(selector.ready());
  auto pb = spawn([&] { b.put(7); });
  auto pa = spawn([&] { a.put(3); });
  // Both putters wait by the time the selector runs: wait_any gives the
  // lowest ready index first, then the other.
  EXPECT_EQ(selector.get(), (std::vector<int>{3, 7}));
  pa.join();
  pb.join();
  EXPECT_FALSE(b.ready());
  auto closed_wait = spawn([&] { return greenring::wait_any({never, b}, 5s); });
  greenring::sleep(0);
  EXPECT_FALSE(closed_wait.ready());
  b.close();
  EXPECT_EQ(closed_wait.get(), 1u);
  EXPECT_THROW(b.get(), greenring::queue_closed);
}

TEST_F(Sync, WaitForPutIsReadyWhenAGetterWaitsOrTheChannelIsClosed) {
  greenring::channel<int> out;
  greenring::event never;
  EXPECT_FALSE(out.put_ready());
  auto sender = spawn([&] {
    if (greenring::wait_any({never, greenring::for_put(out)}, 5s) != 1) return false;
    if (!out.put_ready()) return false;
    out.put(9);
    return true;
  });
  greenring::sleep(0);
  EXPECT_FALSE(sender.ready()) << "nobody to take an item yet";
  auto getter = spawn([&] { return out.get(); });
  EXPECT_EQ(getter.get(), 9);
  EXPECT_TRUE(sender.get());
  auto closed_wait = spawn([&] { return greenring::wait_any({never, greenring::for_put(out)}, 5s); });
  greenring::sleep(0);
  EXPECT_FALSE(closed_wait.ready());
  out.close();
  EXPECT_EQ(closed_wait.get(), 1u) << "put() would not wait now: it throws queue_closed";
  EXPECT_THROW(out.put(1), greenring::queue_closed);
}

// Go's select on a receive and on a send, each beside a stop event: a
// relay from `in` to `out` that ends when `stop` is set.
TEST_F(Sync, SelectOnChannelReceiveAndSendRelaysEveryItemInOrder) {
  greenring::channel<int> in, out;
  greenring::event stop;
  auto relay = spawn([&] {
    for (;;) {
      // select { case v := <-in: ...; case <-stop: return }
      if (greenring::wait_any({in, stop}, 5s) != 0) return;
      const int v = in.get();
      // select { case out <- v: ...; case <-stop: return }
      if (greenring::wait_any({greenring::for_put(out), stop}, 5s) != 0) return;
      EXPECT_TRUE(out.put_ready());
      out.put(v);
    }
  });
  auto producer = spawn([&] {
    for (int v = 0; v < 100; ++v) in.put(v);
  });
  std::vector<int> got;
  for (int v = 0; v < 100; ++v) got.push_back(out.get());
  producer.join();
  stop.set();
  relay.join();
  std::vector<int> want(100);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);
}

// A getter woken for a putter's item is killed before it runs: the item
// goes to whoever waits on the channel next, a wait() included.
TEST_F(Sync, WaitOnAChannelSeesAnItemAKilledGetterLeftBehind) {
  greenring::channel<int> ch;
  auto getter = spawn([&] { return ch.get(); });
  greenring::sleep(0);
  auto putter = spawn([&] { ch.put(42); });
  greenring::sleep(0);  // the item is handed to the getter, which has not run yet
  getter.kill();
  auto watcher = spawn([&] { return greenring::wait_any({ch}, 5s); });
  EXPECT_EQ(watcher.get(), 0u);
  EXPECT_EQ(ch.get(), 42);
  putter.join();
}

// ---- groups and pools ----

TEST_F(Sync, GroupTracksMembersUntilTheyFinish) {
  greenring::group g;
  greenring::event go;
  auto a = g.spawn([&] { go.wait(); });
  auto b = g.spawn([&] { go.wait(); });
  EXPECT_EQ(g.size(), 2u);
  g.discard(b);
  EXPECT_FALSE(g.contains(b));
  EXPECT_FALSE(g.join(1ms));
  go.set();
  EXPECT_TRUE(g.join());
  EXPECT_TRUE(g.empty());
  b.join();
  auto c = g.spawn([] { greenring::sleep(10s); });
  g.kill();
  EXPECT_TRUE(c.killed());
}

TEST_F(Sync, PoolNeverRunsMoreThanItsSize) {
  greenring::pool p(3);
  int running = 0, peak = 0;
  for (int i = 0; i < 20; ++i)
    p.spawn([&] {
      peak = std::max(peak, ++running);
      greenring::sleep(0);
      greenring::sleep(0);
      --running;
    });
  p.join();
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(p.free_count(), 3u);
  EXPECT_EQ(p.wait_available(), 3u);
}

TEST_F(Sync, PoolMapKeepsOrderAndApplyAsyncCallsBackOnTheHub) {
  greenring::pool p(4);
  std::vector<int> xs{5, 1, 4, 2, 3};
  auto squares = p.map([](int x) {
    greenring::sleep(std::chrono::microseconds(x * 100));
    return x * x;
  }, xs);
  EXPECT_EQ(squares, (std::vector<int>{25, 1, 16, 4, 9}));
  EXPECT_EQ(p.apply([](int a, int b) { return a + b; }, 2, 3), 5);
  const auto me = std::this_thread::get_id();
  std::vector<int> seen;
  for (int i = 0; i < 5; ++i)
    p.apply_async([](int v) { return v * 10; }, [&](int r) {
      EXPECT_EQ(std::this_thread::get_id(), me);
      seen.push_back(r);
    }, i);
  p.join();
  for (int i = 0; i < 10 && seen.size() < 5; ++i) greenring::yield();  // callbacks are tasks
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{0, 10, 20, 30, 40}));
}

// apply_async's jobs run as the pool's members: never more than its size
// at once, the rest waiting for a slot, and join() waits for them all.
TEST_F(Sync, PoolApplyAsyncKeepsThePoolLimit) {
  greenring::pool p(2);
  greenring::event go;
  int running = 0, most = 0, done = 0;
  for (int i = 0; i < 6; ++i)
    p.apply_async([&] {
      most = std::max(most, ++running);
      go.wait();
      --running;
      return 1;
    }, [&](int r) { done += r; });
  greenring::yield();
  EXPECT_EQ(running, 2);
  EXPECT_EQ(p.size(), 2u);
  EXPECT_EQ(p.free_count(), 0u);
  go.set();
  p.join();
  EXPECT_EQ(most, 2);
  for (int i = 0; i < 10 && done < 6; ++i) greenring::yield();  // callbacks are tasks
  EXPECT_EQ(done, 6);
}

TEST_F(Sync, PoolMapFailureKillsTheRestAndRethrows) {
  greenring::pool p(2);
  int finished = 0;
  std::vector<int> xs{1, 2, 3, 4, 5, 6};
  EXPECT_THROW(p.map([&](int x) {
    if (x == 2) throw std::runtime_error("bad item");
    greenring::sleep(10s);
    ++finished;
    return x;
  }, xs), std::runtime_error);
  EXPECT_EQ(finished, 0);
  EXPECT_TRUE(p.empty());
}

TEST_F(Sync, ImapUnorderedYieldsEveryResultAsItFinishes) {
  greenring::pool p(3);
  greenring::event gates[4];
  std::vector<int> xs{0, 1, 2, 3};
  int started = 0;
  auto fn = [&](int i) {
    ++started;
    gates[i].wait();
    return i;
  };
  // Finishing order 1, 2, 0; 3 gets a slot only once one of them is done.
  const int order[] = {1, 2, 0, 3};
  std::size_t k = 0;
  gates[order[k++]].set();
  std::vector<int> got;
  int started_at_first = -1;
  for (int r : p.imap_unordered(fn, xs)) {
    if (got.empty()) started_at_first = started;
    got.push_back(r);
    if (k < 4) gates[order[k++]].set();
  }
  EXPECT_EQ(got, (std::vector<int>{1, 2, 0, 3})) << "results come in the order they finish";
  EXPECT_EQ(started_at_first, 3) << "at most the pool's size at once";
}

// gevent's Pool.imap: results in the range's order, whatever order the
// tasks finish in; at most the pool's size at once; the first failure
// ends the iteration and kills the rest.
TEST_F(Sync, ImapYieldsResultsInTheRangesOrder) {
  greenring::pool p(4);
  greenring::event gates[4];
  std::vector<int> xs{0, 1, 2, 3};
  int finished = 0;
  auto fn = [&](int i) {
    gates[i].wait();
    ++finished;
    return i * 10;
  };
  gates[3].set();
  gates[2].set();
  gates[1].set();
  auto opener = spawn([&] {
    while (finished < 3) greenring::yield();  // 1-3 finish before 0
    gates[0].set();
  });
  std::vector<int> got;
  int finished_at_first = -1;
  for (int r : p.imap(fn, xs)) {
    if (got.empty()) finished_at_first = finished;
    got.push_back(r);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 10, 20, 30}));
  EXPECT_EQ(finished_at_first, 4) << "0 came first although it finished last";
  opener.get();

  greenring::pool two(2);
  int running = 0, most = 0;
  std::vector<int> five{1, 2, 3, 4, 5};
  std::vector<int> order;
  for (int r : two.imap([&](int x) {
         most = std::max(most, ++running);
         greenring::yield();
         --running;
         return x;
       }, five))
    order.push_back(r);
  EXPECT_EQ(order, five);
  EXPECT_EQ(most, 2) << "never more than the pool's size at once";

  greenring::event never;
  std::vector<int> seen;
  try {
    for (int r : two.imap([&](int x) {
           if (x == 2) throw std::runtime_error("bad item");
           if (x > 2) never.wait();
           return x;
         }, five))
      seen.push_back(r);
    ADD_FAILURE() << "the failure was not rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad item");
  }
  EXPECT_EQ(seen, std::vector<int>{1});
  EXPECT_TRUE(two.empty()) << "the rest were killed";
  // Leaving the loop early kills what is still running.
  for (int r : two.imap([&](int x) {
         if (x > 1) never.wait();
         return x;
       }, five)) {
    EXPECT_EQ(r, 1);
    break;
  }
  EXPECT_TRUE(two.empty()) << "killed when the results went away";
}

TEST_F(Sync, TaskGroupKillsSiblingsOnFirstFailure) {
  bool sibling_unwound = false;
  try {
    greenring::task_group g;
    g.spawn([&] {
      struct mark {
        bool& b;
        ~mark() { b = true; }
      } m{sibling_unwound};
      greenring::sleep(10s);
    });
    g.spawn([] {
      greenring::yield();
      throw std::runtime_error("child failed");
    });
    g.wait();
    FAIL() << "the failure was not rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "child failed");
  }
  EXPECT_TRUE(sibling_unwound);
  int done = 0;
  {
    greenring::task_group g;
    for (int i = 0; i < 5; ++i) g.spawn([&] {
      greenring::yield();
      ++done;
    });
  }  // joined here
  EXPECT_EQ(done, 5);
}

// ---- task-local ----

struct counted {
  static int alive;
  int v = 0;
  counted() { ++alive; }
  ~counted() { --alive; }
};
int counted::alive = 0;

TEST_F(Sync, LocalValuesArePerTaskAndDieWithTheTask) {
  greenring::local<counted> mine;
  std::vector<greenring::task<int>> ts;
  for (int i = 1; i <= 4; ++i)
    ts.push_back(spawn([&, i] {
      mine->v = i;
      greenring::yield();  // the others set theirs meanwhile
      return mine->v;
    }));
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(ts[static_cast<std::size_t>(i - 1)].get(), i);
  EXPECT_EQ(counted::alive, 0) << "task-local values outlived their tasks";
  EXPECT_FALSE(mine.has_value());
  mine->v = 9;  // the main greenlet's own
  EXPECT_EQ(counted::alive, 1);
  mine.reset();
  EXPECT_EQ(counted::alive, 0);
}

// ---- stress ----

// Producers put numbered items into small bounded queues while consumers
// get them; random tasks of both kinds are killed along the way. Every item
// must be got exactly once, or never have been put.
TEST_F(Sync, RandomKillsNeverLoseOrDuplicateItems) {
  std::mt19937 rng(20261122);
  greenring::queue<int> q(4);
  std::set<int> put_ok, got;
  int duplicates = 0;
  std::vector<greenring::task<void>> producers, consumers;
  for (int p = 0; p < 8; ++p)
    producers.push_back(spawn([&, p] {
      for (int i = 0; i < 300; ++i) {
        const int item = p * 1000 + i;
        q.put(item);
        put_ok.insert(item);
        if (i % 7 == 0) greenring::yield();
      }
    }));
  auto consume = [&] {
    for (;;) {
      int v = q.get();
      if (!got.insert(v).second) ++duplicates;
    }
  };
  for (int c = 0; c < 6; ++c) consumers.push_back(spawn(consume));
  for (int round = 0; round < 200; ++round) {
    greenring::yield();
    auto& victims = rng() % 2 ? producers : consumers;
    auto& v = victims[rng() % victims.size()];
    if (!v.ready() && rng() % 4 == 0) {
      v.kill();
      if (&victims == &consumers) v = spawn(consume);  // keep draining
    }
  }
  greenring::joinall(producers);
  for (int i = 0; i < 1000 && !q.empty(); ++i) greenring::yield();
  EXPECT_TRUE(q.empty());
  greenring::killall(consumers);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(got, put_ok) << "an item that was put was never got, or one was got that was never put";
}

}  // namespace

namespace {

// Go's `for v := range ch` and iterating a gevent Queue: items until close()
// and drained; leaving the loop early leaves the rest.
TEST_F(Sync, RangeForTakesItemsUntilClosedAndDrained) {
  greenring::queue<int> q(2);
  auto producer = spawn([&] {
    for (int i = 1; i <= 5; ++i) q.put(i);
    q.close();
  });
  std::vector<int> got;
  for (int v : q) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4, 5}));
  producer.get();

  greenring::channel<std::unique_ptr<int>> ch;
  auto sender = spawn([&] {
    for (int i = 0; i < 3; ++i) ch.put(std::make_unique<int>(i * 10));
    ch.close();
  });
  std::vector<int> moved;
  for (auto& p : ch) {
    std::unique_ptr<int> mine = std::move(p);
    moved.push_back(*mine);
  }
  EXPECT_EQ(moved, (std::vector<int>{0, 10, 20}));
  sender.get();

  greenring::queue<int> rest;
  for (int i = 0; i < 4; ++i) rest.put(i);
  for (int v : rest)
    if (v == 1) break;
  EXPECT_EQ(rest.size(), 2u) << "0 and 1 taken, 2 and 3 left";
  EXPECT_EQ(rest.get(), 2);
}

// ---- rwlock ----

TEST_F(Sync, RwlockLetsReadersShareAndWritersExclude) {
  greenring::rwlock rw;
  greenring::event go;
  int readers_inside = 0, max_readers = 0;
  bool writer_inside = false, overlap = false;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 3; ++i) ts.push_back(spawn([&] {
    std::shared_lock g(rw);
    if (writer_inside) overlap = true;
    max_readers = std::max(max_readers, ++readers_inside);
    go.wait();
    --readers_inside;
  }));
  ts.push_back(spawn([&] {
    std::lock_guard g(rw);
    if (readers_inside > 0) overlap = true;
    writer_inside = true;
    greenring::yield();
    writer_inside = false;
  }));
  greenring::yield();
  EXPECT_EQ(rw.readers(), 3u);
  EXPECT_EQ(rw.waiting(), 1u) << "the writer waits for the readers";
  EXPECT_FALSE(rw.try_lock());
  EXPECT_FALSE(rw.try_lock_shared()) << "a reader must not overtake a waiting writer";
  go.set();
  greenring::joinall(ts);
  EXPECT_EQ(max_readers, 3);
  EXPECT_FALSE(overlap);
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();
  EXPECT_EQ(rw.readers(), 0u);
  EXPECT_FALSE(rw.locked());
}

TEST_F(Sync, RwlockGrantsInArrivalOrderWithReaderRunsTogether) {
  greenring::rwlock rw;
  rw.lock();
  std::vector<std::string> order;
  greenring::event release_readers;
  auto reader = [&](std::string name) {
    return spawn([&, name] {
      rw.lock_shared();
      order.push_back(name);
      release_readers.wait();
      rw.unlock_shared();
    });
  };
  auto writer = [&](std::string name) {
    return spawn([&, name] {
      rw.lock();
      order.push_back(name);
      rw.unlock();
    });
  };
  auto r1 = reader("r1"), r2 = reader("r2");
  auto w2 = writer("w2");
  auto r3 = reader("r3");
  greenring::yield();
  EXPECT_EQ(rw.waiting(), 4u);
  rw.unlock();  // r1 and r2 at once; w2 waits for them; r3 behind w2
  greenring::yield();
  EXPECT_EQ(order, (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(rw.readers(), 2u);
  release_readers.set();
  greenring::joinall({r1, r2, w2, r3});
  EXPECT_EQ(order, (std::vector<std::string>{"r1", "r2", "w2", "r3"}));
  EXPECT_EQ(rw.readers(), 0u);
}

TEST_F(Sync, RwlockWaiterThatLeavesUnblocksTheReadersBehindIt) {
  greenring::rwlock rw;
  rw.lock_shared();
  bool reader_in = false;
  auto w = spawn([&] { EXPECT_FALSE(rw.try_lock_for(20ms)); });
  auto r = spawn([&] {
    std::shared_lock g(rw);  // queued behind the writer
    reader_in = true;
  });
  w.get();  // the writer gave up: the reader behind it may share with us
  r.get();
  EXPECT_TRUE(reader_in);

  auto killed = spawn([&] { rw.lock(); });
  auto r2 = spawn([&] { std::shared_lock g(rw); });
  greenring::yield();
  EXPECT_FALSE(r2.ready());
  killed.kill();
  r2.get();
  EXPECT_TRUE(killed.killed());
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();
}

TEST_F(Sync, RwlockGrantedToAKilledWaiterIsPassedOn) {
  greenring::rwlock rw;
  rw.lock();
  auto doomed = spawn([&] { rw.lock(); });
  bool next_got_it = false;
  auto next = spawn([&] {
    std::shared_lock g(rw);
    next_got_it = true;
  });
  greenring::yield();
  rw.unlock();    // granted to `doomed`, which has not run yet
  doomed.kill();  // killed before using it: the lock goes on
  next.get();
  EXPECT_TRUE(next_got_it);
  EXPECT_FALSE(rw.locked());
  EXPECT_EQ(rw.readers(), 0u);

  rw.lock();
  auto doomed_reader = spawn([&] { rw.lock_shared(); });
  greenring::yield();
  rw.unlock();  // shared with `doomed_reader`, killed before it ran
  doomed_reader.kill();
  EXPECT_EQ(rw.readers(), 0u) << "its share was given back";
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();

  rw.lock();
  EXPECT_FALSE(rw.try_lock_shared_for(1ms));
  std::unique_lock<greenring::rwlock> timed(rw, std::defer_lock);
  auto other = spawn([&] { EXPECT_FALSE(timed.try_lock_for(1ms)); });
  other.get();
  rw.unlock();
}

TEST_F(Sync, RwlockRefusesUnlocksItDoesNotHold) {
  greenring::rwlock rw;
  EXPECT_THROW(rw.unlock(), std::logic_error);
  EXPECT_THROW(rw.unlock_shared(), std::logic_error);
  rw.lock_shared();
  EXPECT_THROW(rw.unlock(), std::logic_error) << "a reader's hold is not a writer's";
  rw.unlock_shared();
  rw.lock();
  EXPECT_THROW(rw.unlock_shared(), std::logic_error);
  rw.unlock();
  greenring::shared_mutex& same = rw;
  EXPECT_TRUE(same.try_lock_shared());
  same.unlock_shared();
}

// ---- wait_group ----

TEST_F(Sync, WaitGroupWaitsForEveryDone) {
  greenring::wait_group wg;
  EXPECT_TRUE(wg.wait()) << "zero: at once";
  int finished = 0;
  std::vector<greenring::task<void>> workers;
  for (int i = 0; i < 5; ++i) {
    wg.add();
    workers.push_back(spawn([&, i] {
      for (int k = 0; k < i; ++k) greenring::yield();
      ++finished;
      wg.done();
    }));
  }
  std::vector<int> seen_by_waiters;
  std::vector<greenring::task<void>> waiters;
  for (int i = 0; i < 3; ++i) waiters.push_back(spawn([&] {
    EXPECT_TRUE(wg.wait());
    seen_by_waiters.push_back(finished);
  }));
  EXPECT_EQ(wg.count(), 5u);
  EXPECT_TRUE(wg.wait());
  EXPECT_EQ(finished, 5);
  greenring::joinall(waiters);
  EXPECT_EQ(seen_by_waiters, (std::vector<int>{5, 5, 5}));
  greenring::joinall(workers);
}

TEST_F(Sync, WaitGroupTimesOutRefusesNegativeAndIsWaitable) {
  greenring::wait_group wg;
  wg.add(2);
  EXPECT_FALSE(wg.wait(1ms));
  EXPECT_THROW(wg.add(-3), std::logic_error);
  EXPECT_EQ(wg.count(), 2u) << "a refused add changes nothing";
  auto killed = spawn([&] { wg.wait(); });
  greenring::yield();
  killed.kill();
  EXPECT_TRUE(killed.killed());
  greenring::event never;
  auto finisher = spawn([&] { wg.add(-2); });
  auto ready = greenring::wait({never, wg}, 1);
  EXPECT_EQ(ready, (std::vector<std::size_t>{1}));
  finisher.get();
  EXPECT_THROW(wg.done(), std::logic_error);
}

// ---- barrier ----

TEST_F(Sync, BarrierReleasesARoundOnlyWhenEveryPartyArrived) {
  int actions = 0;
  int arrived_before_action = -1;
  int arrived = 0;
  greenring::barrier b(3, [&] {
    ++actions;
    arrived_before_action = arrived;
  });
  std::vector<std::vector<std::size_t>> indexes(4);
  std::vector<int> arrived_when_released;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 3; ++i) ts.push_back(spawn([&, i] {
    for (int round = 0; round < 4; ++round) {
      for (int k = 0; k < i; ++k) greenring::yield();  // arrive in different orders
      ++arrived;
      indexes[round].push_back(b.wait());
      arrived_when_released.push_back(arrived);
    }
  }));
  greenring::joinall(ts);
  EXPECT_EQ(actions, 4);
  for (auto& r : indexes) {
    std::sort(r.begin(), r.end());
    EXPECT_EQ(r, (std::vector<std::size_t>{0, 1, 2}));
  }
  // Nobody leaves a round before its third party arrived.
  for (std::size_t k = 0; k < arrived_when_released.size(); ++k)
    EXPECT_GE(arrived_when_released[k], static_cast<int>(3 * (k / 3 + 1))) << k;
  EXPECT_EQ(arrived_before_action, 12);
  EXPECT_EQ(b.waiting(), 0u);
  EXPECT_FALSE(b.broken());
}

TEST_F(Sync, BarrierBreaksOnTimeoutAndKillUntilReset) {
  greenring::barrier b(3);
  std::string first_error;
  auto waiter = spawn([&] {
    try {
      b.wait();
    } catch (const greenring::barrier_broken& e) {
      first_error = e.what();
    }
  });
  greenring::yield();
  EXPECT_EQ(b.waiting(), 1u);
  EXPECT_THROW(b.wait(1ms), greenring::barrier_broken);
  waiter.get();
  EXPECT_NE(first_error.find("broken"), std::string::npos) << first_error;
  EXPECT_TRUE(b.broken());
  EXPECT_THROW(b.wait(), greenring::barrier_broken) << "broken until reset";
  b.reset();
  EXPECT_FALSE(b.broken());

  bool other_broken = false;
  auto victim = spawn([&] { b.wait(); });
  auto other = spawn([&] {
    try {
      b.wait();
    } catch (const greenring::barrier_broken&) {
      other_broken = true;
    }
  });
  greenring::yield();
  EXPECT_EQ(b.waiting(), 2u);
  victim.kill();
  other.get();
  EXPECT_TRUE(victim.killed());
  EXPECT_TRUE(other_broken);
  EXPECT_TRUE(b.broken());

  b.reset();
  greenring::barrier two(2);
  auto partner = spawn([&] { return two.wait(); });
  EXPECT_EQ(two.wait() + partner.get(), 1u) << "indexes 0 and 1";
  EXPECT_THROW(greenring::barrier(0), std::invalid_argument);
}

TEST_F(Sync, BarrierActionFailureBreaksTheRound) {
  greenring::barrier b(2, [] { throw std::runtime_error("action failed"); });
  bool waiter_broken = false;
  auto waiter = spawn([&] {
    try {
      b.wait();
    } catch (const greenring::barrier_broken&) {
      waiter_broken = true;
    }
  });
  greenring::yield();
  EXPECT_THROW(
      {
        try {
          b.wait();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "action failed");
          throw;
        }
      },
      std::runtime_error);
  waiter.get();
  EXPECT_TRUE(waiter_broken);
  EXPECT_TRUE(b.broken());

  // A reset while the action parks: the round it belonged to is over.
  greenring::event in_action, finish_action;
  greenring::barrier c(2, [&] {
    in_action.set();
    finish_action.wait();
  });
  bool partner_broken = false;
  auto partner = spawn([&] {
    try {
      c.wait();
    } catch (const greenring::barrier_broken&) {
      partner_broken = true;
    }
  });
  auto last = spawn([&] { EXPECT_THROW(c.wait(), greenring::barrier_broken); });
  in_action.wait();
  c.reset();
  finish_action.set();
  greenring::joinall({partner, last});
  EXPECT_TRUE(partner_broken);
  EXPECT_FALSE(c.broken()) << "reset() left it usable";
}

// ---- call_once ----

TEST_F(Sync, CallOnceRunsOnceAndCallersWaitForIt) {
  greenring::once_flag flag;
  greenring::event opened;
  int runs = 0;
  bool initialised = false;
  std::vector<bool> seen;
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < 4; ++i) ts.push_back(spawn([&] {
    greenring::call_once(flag, [&] {
      ++runs;
      opened.wait();  // the function parks: the others must wait, not run it
      initialised = true;
    });
    seen.push_back(initialised);
  }));
  greenring::yield();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(flag.done());
  opened.set();
  greenring::joinall(ts);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(seen, (std::vector<bool>{true, true, true, true}));
  EXPECT_TRUE(flag.done());
  greenring::call_once(flag, [&] { ++runs; });
  EXPECT_EQ(runs, 1);
}

TEST_F(Sync, CallOnceAfterAFailureOrAKillTheNextCallerRunsIt) {
  greenring::once_flag flag;
  int attempts = 0;
  EXPECT_THROW(greenring::call_once(flag,
                                    [&] {
                                      ++attempts;
                                      throw std::runtime_error("first try fails");
                                    }),
               std::runtime_error);
  EXPECT_FALSE(flag.done());

  greenring::event never;
  auto runner = spawn([&] {
    greenring::call_once(flag, [&] {
      ++attempts;
      never.wait();
    });
  });
  std::vector<int> ran_by;
  auto waiter_killed = spawn([&] { greenring::call_once(flag, [&] { ran_by.push_back(1); }); });
  auto waiter = spawn([&] { greenring::call_once(flag, [&](int who) { ran_by.push_back(who); }, 2); });
  greenring::yield();
  waiter_killed.kill();  // leaves the line
  runner.kill();         // the running attempt dies: the next in line runs it
  waiter.get();
  EXPECT_TRUE(runner.killed());
  EXPECT_TRUE(waiter_killed.killed());
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(ran_by, (std::vector<int>{2}));
  EXPECT_TRUE(flag.done());

  greenring::once_flag nested;
  EXPECT_THROW(greenring::call_once(nested, [&] { greenring::call_once(nested, [] {}); }), std::logic_error);
  EXPECT_FALSE(nested.done());
}

}  // namespace
