// sync_bench: moving items between two tasks vs between two threads.
//   queue ping-pong     one item there and back (ns per round trip)
//   1P/1C throughput    10M items from a producer to a consumer (items/s)
//   lock / unlock       uncontended, and two workers contending
// Baseline: std::mutex + std::condition_variable (and std::mutex for the
// locks), in the same program.
#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace {

constexpr long items_total = 10'000'000;

// A textbook blocking queue for the threads baseline.
template <class T>
class blocking_queue {
 public:
  void put(T v) {
    {
      std::lock_guard g(m_);
      q_.push_back(std::move(v));
    }
    cv_.notify_one();
  }
  T get() {
    std::unique_lock g(m_);
    cv_.wait(g, [this] { return !q_.empty(); });
    T v = std::move(q_.front());
    q_.pop_front();
    return v;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<T> q_;
};

void BM_greenring_queue_pingpong(benchmark::State& state) {
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
  state.counters["ns_per_round_trip"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_threads_queue_pingpong(benchmark::State& state) {
  blocking_queue<long> ping, pong;
  std::thread echo([&] {
    for (;;) {
      long v = ping.get();
      if (v < 0) return;
      pong.put(v);
    }
  });
  long n = 0;
  for (auto _ : state) {
    ping.put(n);
    benchmark::DoNotOptimize(n = pong.get());
  }
  ping.put(-1);
  echo.join();
  state.counters["ns_per_round_trip"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <class Q>
void greenring_throughput(benchmark::State& state, Q& q) {
  for (auto _ : state) {
    auto consumer = greenring::spawn([&] {
      long sum = 0;
      for (long i = 0; i < items_total; ++i) sum += q.get();
      return sum;
    });
    for (long i = 0; i < items_total; ++i) q.put(i);
    benchmark::DoNotOptimize(consumer.get());
  }
  state.counters["items_per_s"] =
      benchmark::Counter(static_cast<double>(items_total) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_greenring_channel_throughput(benchmark::State& state) {
  greenring::channel<long> ch;
  greenring_throughput(state, ch);
}

void BM_greenring_queue_throughput(benchmark::State& state) {
  greenring::queue<long> q(static_cast<std::size_t>(state.range(0)));
  greenring_throughput(state, q);
}

void BM_threads_queue_throughput(benchmark::State& state) {
  for (auto _ : state) {
    blocking_queue<long> q;
    long sum = 0;
    std::thread consumer([&] {
      for (long i = 0; i < items_total; ++i) sum += q.get();
    });
    for (long i = 0; i < items_total; ++i) q.put(i);
    consumer.join();
    benchmark::DoNotOptimize(sum);
  }
  state.counters["items_per_s"] =
      benchmark::Counter(static_cast<double>(items_total) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_greenring_lock_uncontended(benchmark::State& state) {
  greenring::lock m;
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}

void BM_std_mutex_uncontended(benchmark::State& state) {
  std::mutex m;
  for (auto _ : state) {
    m.lock();
    m.unlock();
  }
}

// Two workers take turns: each holds the lock across a switch point, so
// the other always finds it taken.
void BM_greenring_lock_contended(benchmark::State& state) {
  greenring::lock m;
  long ops = 0;
  for (auto _ : state) {
    auto worker = [&] {
      for (int i = 0; i < 100000; ++i) {
        std::lock_guard g(m);
        ++ops;
        greenring::yield();
      }
    };
    auto a = greenring::spawn(worker), b = greenring::spawn(worker);
    greenring::joinall({a, b});
  }
  state.counters["ns_per_lock"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_threads_mutex_contended(benchmark::State& state) {
  std::mutex m;
  long ops = 0;
  for (auto _ : state) {
    auto worker = [&] {
      for (int i = 0; i < 100000; ++i) {
        std::lock_guard g(m);
        ++ops;
      }
    };
    std::thread a(worker), b(worker);
    a.join();
    b.join();
  }
  state.counters["ns_per_lock"] =
      benchmark::Counter(static_cast<double>(ops), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace

BENCHMARK(BM_greenring_queue_pingpong);
BENCHMARK(BM_threads_queue_pingpong)->UseRealTime();
BENCHMARK(BM_greenring_channel_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_queue_throughput)->Arg(0)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_threads_queue_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_lock_uncontended);
BENCHMARK(BM_std_mutex_uncontended);
BENCHMARK(BM_greenring_lock_contended)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_threads_mutex_contended)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
