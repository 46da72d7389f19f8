// Go by Example's "Worker Pools" and "Rate Limiting", translated: what a Go
// programmer writes with goroutines, buffered channels, close + range,
// sync.WaitGroup, time.Tick and select.
//
//   worker_pool    three workers share five jobs, then five requests go out
//                  at most one per tick, then a burst of three is allowed
#include <greenring/greenring.hpp>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

// func worker(id int, jobs <-chan int, results chan<- int)
void worker(int id, greenring::queue<int>& jobs, greenring::queue<int>& results) {
  for (int j : jobs) {  // for j := range jobs: ends once jobs is closed and drained
    std::printf("worker %d started  job %d\n", id, j);
    greenring::sleep(100ms);  // time.Sleep(time.Second), shortened
    std::printf("worker %d finished job %d\n", id, j);
    results.put(j * 2);
  }
}

int main() {
  // ---- worker pools ----
  constexpr int num_jobs = 5;
  greenring::queue<int> jobs(num_jobs), results(num_jobs);  // make(chan int, numJobs)
  greenring::wait_group wg;
  for (int w = 1; w <= 3; ++w) {
    wg.add();
    greenring::spawn([&, w] {
      worker(w, jobs, results);
      wg.done();
    });
  }
  for (int j = 1; j <= num_jobs; ++j) jobs.put(j);
  jobs.close();  // close(jobs)
  int sum = 0;
  for (int a = 1; a <= num_jobs; ++a) sum += results.get();
  wg.wait();
  std::printf("all %d jobs done, results sum to %d\n", num_jobs, sum);

  // ---- rate limiting: one request per tick ----
  greenring::queue<int> requests(5);
  for (int i = 1; i <= 5; ++i) requests.put(i);
  requests.close();
  greenring::ticker limiter(50ms);  // limiter := time.Tick(200 * time.Millisecond)
  const auto start = std::chrono::steady_clock::now();
  for (int req : requests) {
    const auto due = limiter.tick();  // <-limiter
    // Due times sit on the ticker's grid, so these lines are the same every run.
    std::printf("request %d at +%lld ms\n", req,
                static_cast<long long>(std::chrono::round<std::chrono::milliseconds>(due - start).count()));
  }
  limiter.stop();

  // ---- bursty limiting: up to three at once, then one per tick ----
  greenring::queue<int> bursty(3);  // burstyLimiter := make(chan time.Time, 3)
  for (int i = 0; i < 3; ++i) bursty.put(0);
  greenring::ticker refill(50ms);
  greenring::event finished;
  auto filler = greenring::spawn([&] {
    for (;;) {
      if (greenring::wait_any({refill, finished}) == 1) return;  // select
      refill.tick();
      bursty.put(0);
    }
  });
  for (int req = 1; req <= 5; ++req) {
    bursty.get();  // <-burstyLimiter
    std::printf("bursty request %d\n", req);
  }
  finished.set();
  filler.join();
}
