// Spawn + run + join of empty tasks, beside std::thread create + join.
// Counter "ns_per_task": wall time per task (or per thread).
#include "greenring_work.hpp"

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

namespace {

void per_task(benchmark::State& state, double n) {
  state.counters["ns_per_task"] = benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Spawn a batch, then join every task: the tasks run one after another on
// pooled stacks while the spawner waits.
void BM_greenring_spawn_join(benchmark::State& state) { bench::greenring_spawn_join(state); }
BENCHMARK(BM_greenring_spawn_join)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

// One at a time: spawn, then join at once.
void BM_greenring_spawn_join_each(benchmark::State& state) {
  for (auto _ : state) greenring::spawn([] {}).join();
  per_task(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_greenring_spawn_join_each)->UseRealTime();

// The threads baseline: batches of 100 threads created, then joined.
void BM_thread_create_join(benchmark::State& state) {
  constexpr int batch = 100;
  std::vector<std::thread> ts;
  ts.reserve(batch);
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) ts.emplace_back([] {});
    for (auto& t : ts) t.join();
    ts.clear();
  }
  per_task(state, static_cast<double>(state.iterations() * batch));
}
BENCHMARK(BM_thread_create_join)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
