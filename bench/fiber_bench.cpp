// fiber_bench: greenring tasks beside Boost.Fiber's fibers on the same work,
// in the same program and thread. Boost.Fiber (1.74 on Debian 12) is the
// other stackful-task library C++ users reach for: the round_robin
// scheduler, its channels, mutex and yield. Built only when
// libboost-fiber-dev is installed (bench/meson.build).
//   yield among 10 tasks        ns per switch
//   spawn + run + join          ns per task, batches of 10k (Boost.Fiber
//                               with its default stacks, and with
//                               pooled_fixedsize_stack, as greenring pools)
//   ping-pong                   one item there and back through two queues
//   1P/1C throughput            unbuffered channel, and a queue bounded at 1024
//   mutex, 2 workers contending lock, yield, unlock (ns per lock)
#include "greenring_work.hpp"

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>
#include <boost/fiber/all.hpp>

#include <mutex>
#include <vector>

namespace {

namespace fibers = boost::fibers;

constexpr long items_total = 2'000'000;
constexpr int yields_per_task = 100'000;
constexpr int locks_per_worker = 100'000;

using bench::items_rate;
using bench::per;

// ---- yield ----

void BM_greenring_yield_10_tasks(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<greenring::task<void>> ts;
    for (int t = 0; t < 10; ++t)
      ts.push_back(greenring::spawn([] {
        for (int i = 0; i < yields_per_task; ++i) greenring::yield();
      }));
    greenring::joinall(ts);
  }
  per(state, "ns_per_switch", 10.0 * yields_per_task * static_cast<double>(state.iterations()));
}

void BM_fiber_yield_10_fibers(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<fibers::fiber> fs;
    for (int t = 0; t < 10; ++t)
      fs.emplace_back([] {
        for (int i = 0; i < yields_per_task; ++i) boost::this_fiber::yield();
      });
    for (auto& f : fs) f.join();
  }
  per(state, "ns_per_switch", 10.0 * yields_per_task * static_cast<double>(state.iterations()));
}

// ---- spawn + join ----

void BM_greenring_spawn_join(benchmark::State& state) { bench::greenring_spawn_join(state); }

template <class Make>
void fiber_spawn_join(benchmark::State& state, Make make) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<fibers::fiber> fs;
  fs.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) fs.push_back(make());
    for (auto& f : fs) f.join();
    fs.clear();
  }
  per(state, "ns_per_task", static_cast<double>(state.iterations() * n));
}

void BM_fiber_spawn_join(benchmark::State& state) {
  fiber_spawn_join(state, [] { return fibers::fiber([] {}); });
}

void BM_fiber_spawn_join_pooled(benchmark::State& state) {
  fibers::pooled_fixedsize_stack stacks;
  fiber_spawn_join(state, [&] { return fibers::fiber(std::allocator_arg, stacks, [] {}); });
}

// ---- ping-pong ----

void BM_greenring_queue_pingpong(benchmark::State& state) { bench::greenring_queue_pingpong(state); }

void BM_fiber_channel_pingpong(benchmark::State& state) {
  fibers::buffered_channel<long> ping(2), pong(2);
  fibers::fiber echo([&] {
    long v = 0;
    while (ping.pop(v) == fibers::channel_op_status::success) pong.push(v);
  });
  long n = 0;
  for (auto _ : state) {
    ping.push(n);
    pong.pop(n);
    benchmark::DoNotOptimize(n);
  }
  ping.close();
  echo.join();
  per(state, "ns_per_round_trip", static_cast<double>(state.iterations()));
}

// ---- 1 producer -> 1 consumer ----

template <class C>
void fiber_throughput(benchmark::State& state, C& c) {
  for (auto _ : state) {
    long sum = 0;
    fibers::fiber consumer([&] {
      long v = 0;
      for (long i = 0; i < items_total; ++i) {
        c.pop(v);
        sum += v;
      }
    });
    for (long i = 0; i < items_total; ++i) c.push(i);
    consumer.join();
    benchmark::DoNotOptimize(sum);
  }
  items_rate(state, static_cast<double>(items_total) * static_cast<double>(state.iterations()));
}

void BM_greenring_channel_throughput(benchmark::State& state) {
  greenring::channel<long> ch;
  bench::greenring_throughput(state, ch, items_total);
}

void BM_fiber_unbuffered_channel_throughput(benchmark::State& state) {
  fibers::unbuffered_channel<long> ch;
  fiber_throughput(state, ch);
}

void BM_greenring_queue_1024_throughput(benchmark::State& state) {
  greenring::queue<long> q(1024);
  bench::greenring_throughput(state, q, items_total);
}

// Boost's buffered_channel holds capacity - 1 items (a power of two).
void BM_fiber_buffered_channel_1024_throughput(benchmark::State& state) {
  fibers::buffered_channel<long> ch(1024);
  fiber_throughput(state, ch);
}

// ---- mutex ----

void BM_greenring_mutex_contended(benchmark::State& state) { bench::greenring_lock_contended(state, locks_per_worker); }

void BM_fiber_mutex_contended(benchmark::State& state) {
  fibers::mutex m;
  long ops = 0;
  for (auto _ : state) {
    auto worker = [&] {
      for (int i = 0; i < locks_per_worker; ++i) {
        std::lock_guard g(m);
        ++ops;
        boost::this_fiber::yield();
      }
    };
    fibers::fiber a(worker), b(worker);
    a.join();
    b.join();
  }
  per(state, "ns_per_lock", static_cast<double>(ops));
}

BENCHMARK(BM_greenring_yield_10_tasks)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fiber_yield_10_fibers)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_spawn_join)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fiber_spawn_join)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fiber_spawn_join_pooled)->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_queue_pingpong);
BENCHMARK(BM_fiber_channel_pingpong);
BENCHMARK(BM_greenring_channel_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fiber_unbuffered_channel_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_queue_1024_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fiber_buffered_channel_1024_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_mutex_contended)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fiber_mutex_contended)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
