// The greenring side of work that several benchmark programs measure
// against different baselines (threads in sync_bench and spawn_bench,
// Boost.Fiber in fiber_bench): one definition, so the rows compare the same
// code.
#pragma once

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <cstddef>
#include <mutex>
#include <vector>

namespace bench {

/// Sets counter `name` to seconds per `n` (a rate, inverted: ns per item).
inline void per(benchmark::State& state, const char* name, double n) {
  state.counters[name] = benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/// Sets counter items_per_s to `n` items over the run.
inline void items_rate(benchmark::State& state, double n) {
  state.counters["items_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
}

/// One item there and back between two tasks through two queues.
inline void greenring_queue_pingpong(benchmark::State& state) {
  greenring::queue<long> ping, pong;
  auto echo = greenring::spawn([&] {
    for (;;) pong.put(ping.get());
  });
  long n = 0;
  for (auto _ : state) {
    ping.put(n);
    benchmark::DoNotOptimize(n = pong.get());
  }
  echo.kill();
  per(state, "ns_per_round_trip", static_cast<double>(state.iterations()));
}

/// `items` from this task to a consumer task through `q` (a queue or a
/// channel); counter items_per_s.
template <class Q>
void greenring_throughput(benchmark::State& state, Q& q, long items) {
  for (auto _ : state) {
    auto consumer = greenring::spawn([&] {
      long sum = 0;
      for (long i = 0; i < items; ++i) sum += q.get();
      return sum;
    });
    for (long i = 0; i < items; ++i) q.put(i);
    benchmark::DoNotOptimize(consumer.get());
  }
  items_rate(state, static_cast<double>(items) * static_cast<double>(state.iterations()));
}

/// Spawns a batch of range(0) empty tasks, then joins each: they run one
/// after another on pooled stacks while the spawner waits.
inline void greenring_spawn_join(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<greenring::task<void>> ts;
  ts.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) ts.push_back(greenring::spawn([] {}));
    for (auto& t : ts) t.join();
    ts.clear();
  }
  per(state, "ns_per_task", static_cast<double>(state.iterations() * n));
}

/// Two tasks taking a lock in turn: lock, count, yield, unlock.
inline void greenring_lock_contended(benchmark::State& state, int per_worker) {
  greenring::lock m;
  long ops = 0;
  for (auto _ : state) {
    auto worker = [&] {
      for (int i = 0; i < per_worker; ++i) {
        std::lock_guard g(m);
        ++ops;
        greenring::yield();
      }
    };
    auto a = greenring::spawn(worker), b = greenring::spawn(worker);
    greenring::joinall({a, b});
  }
  per(state, "ns_per_lock", static_cast<double>(ops));
}

}  // namespace bench
