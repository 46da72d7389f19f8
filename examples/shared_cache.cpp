// A cache that many tasks read while one refreshes it, in rounds: what
// Python's threading.Barrier and Go's sync.Once / sync.RWMutex programs do.
//
//   - call_once loads the cache the first time any reader needs it (the load
//     parks; the other readers wait for it and it runs once);
//   - readers hold the rwlock shared, so they read side by side; the
//     refresher holds it exclusively, and readers arriving meanwhile wait;
//   - a barrier ends each round once every worker is through, and its
//     action (run once per round, by the last to arrive) prints the round.
// The output is the same every run.
#include <greenring/greenring.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main() {
  constexpr int readers = 4, rounds = 3;
  std::map<std::string, int> cache;
  int loads = 0, version = 0, reading = 0, most_reading = 0;
  greenring::once_flag loaded;
  greenring::rwlock guard;
  std::vector<std::string> log;
  int round = 0;
  greenring::barrier end_of_round(readers + 1, [&] {
    std::printf("round %d done: version %d, %zu reads\n", ++round, version, log.size());
    log.clear();
  });

  auto load = [&] {
    greenring::sleep(20ms);  // a slow source: the other readers park meanwhile
    cache = {{"alpha", 1}, {"beta", 2}};
    ++loads;
  };
  std::vector<greenring::task<void>> tasks;
  for (int r = 0; r < readers; ++r)
    tasks.push_back(greenring::spawn([&, r] {
      for (int i = 0; i < rounds; ++i) {
        greenring::call_once(loaded, load);
        {
          std::shared_lock lock(guard);  // many readers at once
          most_reading = std::max(most_reading, ++reading);
          greenring::sleep(5ms);  // a read that takes a while, still shared
          --reading;
          log.push_back("reader " + std::to_string(r) + " saw alpha=" + std::to_string(cache.at("alpha")));
        }
        end_of_round.wait();
      }
    }));
  tasks.push_back(greenring::spawn([&] {
    for (int i = 0; i < rounds; ++i) {
      greenring::call_once(loaded, load);
      {
        std::unique_lock lock(guard);  // alone: readers wait
        ++version;
        cache["alpha"] = cache["alpha"] * 10;
      }
      end_of_round.wait();
    }
  }));
  greenring::joinall(tasks);
  std::printf("loaded %d time(s); up to %d readers at once; final alpha=%d\n", loads, most_reading, cache.at("alpha"));
  return loads == 1 && version == rounds ? 0 : 1;
}
