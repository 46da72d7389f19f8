// The seeds' Queue program: a writer task puts A, B, C with random pauses,
// a reader task gets them; the reader loops forever, so once the writer is
// joined the reader is killed (multiprocessing's terminate()).
#include <greenring/greenring.hpp>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

int main() {
  greenring::queue<std::string> q;
  std::mt19937 rng(std::random_device{}());
  auto writer = greenring::spawn(greenring::task_options{"writer"}, [&] {
    std::printf("Task to write: %llu\n", static_cast<unsigned long long>(greenring::greenlet::current().id()));
    for (const char* value : {"A", "B", "C"}) {
      std::printf("Put %s to queue...\n", value);
      q.put(value);
      greenring::sleep(std::uniform_real_distribution<double>(0, 0.5)(rng));  // seconds
    }
  });
  auto reader = greenring::spawn(greenring::task_options{"reader"}, [&] {
    std::printf("Task to read: %llu\n", static_cast<unsigned long long>(greenring::greenlet::current().id()));
    for (;;) std::printf("Get %s from queue.\n", q.get().c_str());
  });
  writer.join();
  reader.kill();  // it would wait for more forever
  std::printf("reader killed: %s\n", reader.killed() ? "yes" : "no");
}
