// Switch cost: greenring greenlet ping-pong and task-to-task sleep(0),
// beside raw Boost.Context and two OS threads handing a token back and
// forth (mutex + condition variable, and futex-backed semaphores).
// Counter "ns_per_switch": one switch = one hand-over of control.
#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>
#include <boost/context/fiber.hpp>

#include <condition_variable>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

namespace {

void report(benchmark::State& state, double switches) {
  state.counters["ns_per_switch"] =
      benchmark::Counter(switches, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_greenlet_pingpong(benchmark::State& state) {
  greenring::greenlet* main = &greenring::greenlet::current();
  greenring::greenlet g([main](greenring::value v) {
    for (;;) v = main->switch_to(std::move(v));
  });
  greenring::value v = 1;
  for (auto _ : state) v = g.switch_to(std::move(v));
  report(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_greenlet_pingpong);

void BM_boost_fiber_pingpong(benchmark::State& state) {
  namespace ctx = boost::context;
  ctx::fiber f{[](ctx::fiber&& m) {
    for (;;) m = std::move(m).resume();
    return std::move(m);
  }};
  for (auto _ : state) f = std::move(f).resume();
  report(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_boost_fiber_pingpong);

// The same, but each side resumes the other through a function call, as
// any library call (greenlet::switch_to included) does: the shape real
// code has. Boost's jump leaves the return predictor off by one, so the
// return after each switch is mispredicted.
namespace ctx = boost::context;
__attribute__((noinline)) ctx::fiber resume_called(ctx::fiber&& f) { return std::move(f).resume(); }
void BM_boost_fiber_pingpong_called(benchmark::State& state) {
  ctx::fiber f{[](ctx::fiber&& m) {
    for (;;) m = resume_called(std::move(m));
    return std::move(m);
  }};
  for (auto _ : state) f = resume_called(std::move(f));
  report(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_boost_fiber_pingpong_called);

// Ten ready tasks, each calling sleep(0) in a loop: every call hands over
// to the next task in the ready queue.
void BM_sleep0_10_tasks(benchmark::State& state) {
  constexpr int tasks = 10;
  const long per_task = state.range(0);
  for (auto _ : state) {
    std::vector<greenring::task<void>> ts;
    for (int i = 0; i < tasks; ++i)
      ts.push_back(greenring::spawn([per_task] {
        for (long n = 0; n < per_task; ++n) greenring::sleep(0);
      }));
    greenring::joinall(ts);
  }
  report(state, static_cast<double>(state.iterations()) * tasks * static_cast<double>(per_task));
}
BENCHMARK(BM_sleep0_10_tasks)->Arg(100'000);

void BM_threads_condvar_pingpong(benchmark::State& state) {
  std::mutex m;
  std::condition_variable cv;
  int turn = 0;
  bool stop = false;
  std::thread other([&] {
    std::unique_lock lk(m);
    for (;;) {
      cv.wait(lk, [&] { return turn == 1 || stop; });
      if (stop) return;
      turn = 0;
      cv.notify_one();
    }
  });
  for (auto _ : state) {
    std::unique_lock lk(m);
    turn = 1;
    cv.notify_one();
    cv.wait(lk, [&] { return turn == 0; });
  }
  {
    std::lock_guard lk(m);
    stop = true;
  }
  cv.notify_one();
  other.join();
  report(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_threads_condvar_pingpong)->UseRealTime();

void BM_threads_semaphore_pingpong(benchmark::State& state) {
  std::binary_semaphore ping(0), pong(0);
  std::atomic<bool> stop{false};
  std::thread other([&] {
    for (;;) {
      ping.acquire();
      if (stop.load(std::memory_order_relaxed)) return;
      pong.release();
    }
  });
  for (auto _ : state) {
    ping.release();
    pong.acquire();
  }
  stop = true;
  ping.release();
  other.join();
  report(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_threads_semaphore_pingpong)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
