// The seeds' multiprocessing example, with threads: Pool(4) runs five
// long_time_task jobs, at most four at once; each prints when it starts,
// and a callback (a task on the main thread's hub) prints how long it ran.
// join() waits for every job and callback: "All subprocesses done."
#include <greenring/greenring.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

int main() {
  std::printf("Parent process %d.\n", static_cast<int>(::getpid()));
  greenring::threadpool pool(4);
  std::random_device seed;
  for (int i = 0; i < 5; ++i) {
    const double secs = std::uniform_real_distribution<double>(0, 3)(seed);
    pool.apply_async(
        [i, secs] {  // on a worker thread: blocking is fine there
          std::printf("Run task %d (thread %ld)...\n", i, static_cast<long>(::syscall(SYS_gettid)));
          const auto start = std::chrono::steady_clock::now();
          std::this_thread::sleep_for(std::chrono::duration<double>(secs));
          return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        },
        [i](double took) { std::printf("Task %d runs %0.2f seconds.\n", i, took); });
  }
  std::printf("Waiting for all subprocesses done...\n");
  pool.join();
  std::printf("All subprocesses done.\n");
}
