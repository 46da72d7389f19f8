// sync_bench: moving items between two tasks vs between two threads.
//   queue ping-pong     one item there and back (ns per round trip)
//   1P/1C throughput    10M items from a producer to a consumer (items/s),
//                       each greenring container against the threads' one of
//                       the same semantics (unbounded, bounded at 1024,
//                       unbuffered rendezvous) and against the unbounded one
//   lock / unlock       uncontended, and two workers contending
// Baseline: std::mutex + std::condition_variable (and std::mutex for the
// locks), in the same program.
#include "greenring_work.hpp"

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace {

constexpr long items_total = 10'000'000;

// A textbook blocking queue for the threads baseline: unbounded, or
// bounded (put waits while `capacity` items are queued).
template <class T>
class blocking_queue {
 public:
  explicit blocking_queue(std::size_t capacity = 0) : capacity_(capacity) {}
  void put(T v) {
    {
      std::unique_lock g(m_);
      if (capacity_) not_full_.wait(g, [this] { return q_.size() < capacity_; });
      q_.push_back(std::move(v));
    }
    not_empty_.notify_one();
  }
  T get() {
    T v;
    {
      std::unique_lock g(m_);
      not_empty_.wait(g, [this] { return !q_.empty(); });
      v = std::move(q_.front());
      q_.pop_front();
    }
    if (capacity_) not_full_.notify_one();
    return v;
  }

 private:
  std::size_t capacity_;
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> q_;
};

// Go's unbuffered channel between threads: put returns once a getter has
// taken the item (what greenring::channel does between tasks).
template <class T>
class blocking_channel {
 public:
  void put(T v) {
    std::unique_lock g(m_);
    cv_.wait(g, [this] { return !full_; });  // one putter's item at a time
    item_ = std::move(v);
    full_ = true;
    const unsigned long mine = ++offered_;
    cv_.notify_all();
    cv_.wait(g, [&] { return taken_ >= mine; });
  }
  T get() {
    std::unique_lock g(m_);
    cv_.wait(g, [this] { return full_; });
    T v = std::move(item_);
    full_ = false;
    ++taken_;
    cv_.notify_all();
    return v;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  T item_{};
  bool full_ = false;
  unsigned long offered_ = 0, taken_ = 0;
};

void BM_greenring_queue_pingpong(benchmark::State& state) { bench::greenring_queue_pingpong(state); }

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

void BM_greenring_channel_throughput(benchmark::State& state) {
  greenring::channel<long> ch;
  bench::greenring_throughput(state, ch, items_total);
}

void BM_greenring_queue_throughput(benchmark::State& state) {
  greenring::queue<long> q(static_cast<std::size_t>(state.range(0)));
  bench::greenring_throughput(state, q, items_total);
}

// The same 10M items between two hubs on two threads (run_hubs), through
// a shared_queue: the cross-thread counterpart of the threads' queue.
// Arg: capacity, 0 = unbounded.
void BM_greenring_shared_queue_throughput(benchmark::State& state) {
  for (auto _ : state) {
    greenring::shared_queue<long> q(static_cast<std::size_t>(state.range(0)));
    long sum = 0;
    greenring::run_hubs(2, [&](std::size_t hub) {
      if (hub == 0) {
        for (long i = 0; i < items_total; ++i) q.put(i);
      } else {
        for (long i = 0; i < items_total; ++i) sum += q.get();
      }
    });
    benchmark::DoNotOptimize(sum);
  }
  bench::items_rate(state, static_cast<double>(items_total) * static_cast<double>(state.iterations()));
}

template <class Q>
void threads_throughput(benchmark::State& state, long items, auto make) {
  for (auto _ : state) {
    Q q = make();
    long sum = 0;
    std::thread consumer([&] {
      for (long i = 0; i < items; ++i) sum += q.get();
    });
    for (long i = 0; i < items; ++i) q.put(i);
    consumer.join();
    benchmark::DoNotOptimize(sum);
  }
  state.counters["items_per_s"] =
      benchmark::Counter(static_cast<double>(items) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Arg: capacity, 0 = unbounded.
void BM_threads_queue_throughput(benchmark::State& state) {
  const auto cap = static_cast<std::size_t>(state.range(0));
  threads_throughput<blocking_queue<long>>(state, items_total, [cap] { return blocking_queue<long>(cap); });
}

// Every item is a hand-over between the two threads (a futex wake each
// way), so 10M would take minutes: 200k items, the rate is what counts.
void BM_threads_channel_throughput(benchmark::State& state) {
  threads_throughput<blocking_channel<long>>(state, 200'000, [] { return blocking_channel<long>(); });
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
void BM_greenring_lock_contended(benchmark::State& state) { bench::greenring_lock_contended(state, 100000); }

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
BENCHMARK(BM_greenring_shared_queue_throughput)->Arg(0)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_threads_queue_throughput)->Arg(0)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_threads_channel_throughput)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_greenring_lock_uncontended);
BENCHMARK(BM_std_mutex_uncontended);
BENCHMARK(BM_greenring_lock_contended)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_threads_mutex_contended)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
