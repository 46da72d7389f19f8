// processes: the seeds' multiprocessing programs. Process(target=run_proc,
// args=('test',)), start() and join(): the child runs the function on a
// hub of its own and exits with its result; then five children at once,
// each doing its own concurrent work, joined in order.
#include <greenring/greenring.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main() {
  std::printf("Parent process %d.\n", static_cast<int>(::getpid()));
  const std::string name = "test";
  std::printf("Child process will start.\n");
  auto child = greenring::process::fork([&name] {
    std::printf("Run child process %s (%d)...\n", name.c_str(), static_cast<int>(::getpid()));
  });
  child.wait();
  std::printf("Child process end.\n");

  // Five at once: each child spawns three tasks that sleep and add up, and
  // exits with the sum; the parent's task waits for each without blocking
  // the others.
  std::vector<greenring::process> children;
  for (int i = 0; i < 5; ++i)
    children.push_back(greenring::process::fork([i] {
      int sum = 0;
      std::vector<greenring::task<void>> ts;
      for (int k = 1; k <= 3; ++k)
        ts.push_back(greenring::spawn([&sum, i, k] {
          greenring::sleep(std::chrono::milliseconds(10 * k));
          sum += i * k;
        }));
      greenring::joinall(ts);
      return sum;  // 6 * i
    }));
  for (std::size_t i = 0; i < children.size(); ++i)
    std::printf("child %zu (pid %d) exited with %d\n", i, static_cast<int>(children[i].pid()), children[i].wait());
  std::printf("All subprocesses done.\n");
  return 0;
}
