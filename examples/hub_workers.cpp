// hub_workers [JOBS]: Go by Example's worker pool, on every core. A hub per
// CPU (run_hubs), four worker tasks on each; hub 0 hands out the jobs
// through one shared_queue and collects the results from another. A job
// waits 1 ms (its "IO", which lets the hub's other workers run) and then
// counts the Collatz steps of its number (its CPU work, which the hubs do
// in parallel). Prints how many jobs each hub took and the total, which
// does not depend on who took what.
#include <greenring/greenring.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace std::chrono_literals;

namespace {

long collatz_steps(long n) {
  long steps = 0;
  for (; n != 1; ++steps) n = n % 2 ? 3 * n + 1 : n / 2;
  return steps;
}

struct result {
  long job, steps;
  std::size_t hub;
};

}  // namespace

int main(int argc, char** argv) {
  long jobs = 200;
  if (argc > 1) {
    char* end = nullptr;
    jobs = std::strtol(argv[1], &end, 10);
    if (argc > 2 || *end != '\0' || jobs < 1 || jobs > 10'000'000) {
      std::fprintf(stderr, "usage: %s [JOBS]\n", argv[0]);
      return 2;
    }
  }
  const std::size_t hubs = greenring::default_hub_count();
  greenring::shared_queue<long> work(64);  // bounded: the sender waits when workers lag
  greenring::shared_queue<result> results;
  std::vector<long> taken(hubs, 0);
  long total_steps = 0;

  greenring::run_hubs(hubs, [&](std::size_t h) {
    std::vector<greenring::task<void>> workers;
    for (int w = 0; w < 4; ++w)
      workers.push_back(greenring::spawn([&, h] {
        for (long job : work) {  // until closed and drained
          greenring::sleep(1ms);
          results.put({job, collatz_steps(job), h});
        }
      }));
    if (h == 0) {
      auto sender = greenring::spawn([&] {
        for (long j = 1; j <= jobs; ++j) work.put(j);
        work.close();
      });
      for (long i = 0; i < jobs; ++i) {
        const result r = results.get();
        ++taken[r.hub];
        total_steps += r.steps;
      }
      sender.join();
    }
    greenring::joinall(workers);
  });

  for (std::size_t h = 0; h < hubs; ++h) std::printf("hub %zu took %ld jobs\n", h, taken[h]);
  long check = 0;
  for (long j = 1; j <= jobs; ++j) check += collatz_steps(j);
  std::printf("%ld jobs on %zu hubs: %ld Collatz steps in all (%s)\n", jobs, hubs, total_steps,
              total_steps == check ? "correct" : "WRONG");
  return total_steps == check ? 0 : 1;
}
