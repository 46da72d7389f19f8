// The seeds' Array + RLock program: 20 tasks each set temp[0] = 100 + i
// and print the whole array while holding an rlock; the lock is held across
// a switch, so no task ever sees another's half-done update. Then 20 tasks
// add to a shared counter under the same lock, yielding in the middle of
// each update; the final count is exact.
#include <greenring/greenring.hpp>

#include <array>
#include <cstdio>
#include <mutex>
#include <vector>

int main() {
  greenring::rlock lock;
  std::array<int, 4> temp{11, 22, 33, 44};
  std::vector<greenring::task<void>> tasks;
  for (int i = 0; i < 20; ++i)
    tasks.push_back(greenring::spawn([&, i] {
      std::lock_guard guard(lock);
      temp[0] = 100 + i;
      greenring::yield();  // others run now, but cannot get the lock
      std::lock_guard again(lock);  // re-entrant: the owner may take it twice
      for (int item : temp) std::printf("%d -----> %d\n", i, item);
    }));
  greenring::joinall(tasks);

  long counter = 0;
  tasks.clear();
  for (int i = 0; i < 20; ++i)
    tasks.push_back(greenring::spawn([&] {
      for (int k = 0; k < 1000; ++k) {
        std::lock_guard guard(lock);
        long v = counter;
        if (k % 100 == 0) greenring::yield();  // a switch mid-update
        counter = v + 1;
      }
    }));
  greenring::joinall(tasks);
  std::printf("counter = %ld (expected %d)\n", counter, 20 * 1000);
  return counter == 20 * 1000 ? 0 : 1;
}
