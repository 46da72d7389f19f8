// file_bench: 4 KiB reads at random 4 KiB-aligned offsets of one large file
// (1 GiB; FILE_BENCH_MB to change), by 64 greenring tasks through io_uring
// vs 64 threads calling pread(2). Reports MB/s. The file is made once in
// $TMPDIR (or /tmp) and mostly served from the page cache: this measures
// the IO path's CPU cost, not the disk. The 64 threads run on every core;
// greenring runs once on one hub (one core) and once with one hub per core.
#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int workers = 64;
constexpr int reads_per_worker = 512;
constexpr std::size_t block = 4096;

const std::string& data_file() {
  static const std::string path = [] {
    const char* mb_env = std::getenv("FILE_BENCH_MB");
    const std::size_t mb = mb_env ? std::strtoul(mb_env, nullptr, 10) : 1024;
    const char* tmp = std::getenv("TMPDIR");
    std::string p = std::string(tmp ? tmp : "/tmp") + "/greenring-file-bench-" + std::to_string(mb) + "m";
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && static_cast<std::size_t>(st.st_size) == mb << 20) return p;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    std::vector<char> chunk(1 << 20);
    std::mt19937_64 rng(1);
    for (auto& c : chunk) c = static_cast<char>(rng());
    for (std::size_t i = 0; i < mb; ++i)
      if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) std::abort();
    ::close(fd);
    return p;
  }();
  return path;
}

std::uint64_t blocks_in_file() {
  struct stat st {};
  ::stat(data_file().c_str(), &st);
  return static_cast<std::uint64_t>(st.st_size) / block;
}

void report(benchmark::State& state) {
  const double bytes = static_cast<double>(state.iterations()) * workers * reads_per_worker * block;
  state.counters["MB_per_s"] = benchmark::Counter(bytes / 1e6, benchmark::Counter::kIsRate);
}

void BM_greenring_random_reads(benchmark::State& state) {
  auto f = greenring::file::open(data_file());
  const std::uint64_t nblocks = blocks_in_file();
  for (auto _ : state) {
    std::vector<greenring::task<void>> tasks;
    for (int w = 0; w < workers; ++w)
      tasks.push_back(greenring::spawn([&f, nblocks, w] {
        std::mt19937_64 rng(static_cast<unsigned>(w));
        char buf[block];
        for (int i = 0; i < reads_per_worker; ++i) f.read_at(buf, (rng() % nblocks) * block);
      }));
    greenring::joinall(tasks);
  }
  report(state);
}

// The same 64 workers on every core: one thread per core, each with its
// own hub (greenring's model: one hub per thread), ring and open file,
// running its share of the tasks. The threads baseline uses every core too.
void BM_greenring_random_reads_every_core(benchmark::State& state) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::uint64_t nblocks = blocks_in_file();
  for (auto _ : state) {
    std::vector<std::thread> hubs;
    for (int c = 0; c < cores; ++c)
      hubs.emplace_back([c, cores, nblocks] {
        auto f = greenring::file::open(data_file());
        std::vector<greenring::task<void>> tasks;
        for (int w = c; w < workers; w += cores)
          tasks.push_back(greenring::spawn([&f, nblocks, w] {
            std::mt19937_64 rng(static_cast<unsigned>(w));
            char buf[block];
            for (int i = 0; i < reads_per_worker; ++i) f.read_at(buf, (rng() % nblocks) * block);
          }));
        greenring::joinall(tasks);
      });
    for (auto& t : hubs) t.join();
  }
  report(state);
}

void BM_threads_random_preads(benchmark::State& state) {
  int fd = ::open(data_file().c_str(), O_RDONLY | O_CLOEXEC);
  const std::uint64_t nblocks = blocks_in_file();
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w)
      threads.emplace_back([fd, nblocks, w] {
        std::mt19937_64 rng(static_cast<unsigned>(w));
        char buf[block];
        for (int i = 0; i < reads_per_worker; ++i)
          if (::pread(fd, buf, block, static_cast<off_t>((rng() % nblocks) * block)) != block) std::abort();
      });
    for (auto& t : threads) t.join();
  }
  ::close(fd);
  report(state);
}

}  // namespace

BENCHMARK(BM_greenring_random_reads)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
BENCHMARK(BM_greenring_random_reads_every_core)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);
BENCHMARK(BM_threads_random_preads)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2);

BENCHMARK_MAIN();
