// Many idle tasks: N tasks (16 KiB stacks) all sleep until one deadline,
// then wake. Reports resident memory per idle task and the time from the
// deadline until every task has woken and finished; the threads baseline
// does the same with std::thread + sleep_until at the N it can reach.
#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// Memory per idle task, spawn cost, and the time from the deadline until
// every task has woken and finished.
void report(benchmark::State& state, std::size_t n, double rss_growth, clock_type::time_point spawn_start,
            clock_type::time_point spawned, clock_type::time_point deadline, clock_type::time_point done) {
  if (spawned > deadline) state.SkipWithError("still spawning at the deadline: the margin is too small");
  state.counters["rss_per_task_bytes"] = rss_growth / static_cast<double>(n);
  state.counters["spawn_ns_per_task"] =
      std::chrono::duration<double, std::nano>(spawned - spawn_start).count() / static_cast<double>(n);
  state.counters["wake_all_ms"] = std::chrono::duration<double, std::milli>(done - deadline).count();
}

void BM_greenring_idle(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<greenring::task<void>> ts;
    ts.reserve(n);
    const double before = rss_bytes();
    // Late enough that every task is asleep before it: starting a task
    // first-touches its stack page, which on this VM can cost 10+ us when
    // the host has to back the guest page too.
    const auto deadline = clock_type::now() + std::chrono::milliseconds(500) + static_cast<long>(n) * std::chrono::microseconds(40);
    const auto spawn_start = clock_type::now();
    for (std::size_t i = 0; i < n; ++i)
      ts.push_back(greenring::spawn(greenring::task_options{.stack_size = 16 * 1024},
                                    [deadline] { greenring::sleep_until(deadline); }));
    greenring::yield();  // every task runs up to its sleep
    const auto spawned = clock_type::now();
    const double during = rss_bytes();
    for (auto& t : ts) t.join();
    const auto done = clock_type::now();
    report(state, n, during - before, spawn_start, spawned, deadline, done);
  }
}
BENCHMARK(BM_greenring_idle)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_threads_idle(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<std::thread> ts;
    ts.reserve(n);
    std::atomic<std::size_t> asleep{0};
    const double before = rss_bytes();
    const auto deadline = clock_type::now() + std::chrono::milliseconds(500) + static_cast<long>(n) * std::chrono::microseconds(300);
    const auto spawn_start = clock_type::now();
    for (std::size_t i = 0; i < n; ++i)
      ts.emplace_back([&asleep, deadline] {
        asleep.fetch_add(1);
        std::this_thread::sleep_until(deadline);
      });
    while (asleep.load() < n) std::this_thread::yield();
    const auto spawned = clock_type::now();
    const double during = rss_bytes();
    for (auto& t : ts) t.join();
    const auto done = clock_type::now();
    report(state, n, during - before, spawn_start, spawned, deadline, done);
  }
}
BENCHMARK(BM_threads_idle)->Arg(10'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
