// The seeds' Pool example with tasks: pool(5) runs Foo over 10 items with
// apply_async, Bar prints each result as a callback; then map (ordered)
// and imap_unordered (as they finish).
#include <greenring/greenring.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

using namespace std::chrono_literals;

int Foo(int i) {
  greenring::sleep(200ms);  // the seeds' time.sleep(2), shortened
  return i + 100;
}

void Bar(int arg) { std::printf("%d\n", arg); }

int main() {
  greenring::pool pool(5);
  for (int i = 0; i < 10; ++i) pool.apply_async(Foo, Bar, i);
  std::printf("end\n");
  pool.join();
  greenring::sleep(0);  // the last callbacks run as tasks

  std::vector<int> items{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::printf("map:");
  for (int r : pool.map([](int x) { return x * x; }, items)) std::printf(" %d", r);
  std::printf("\nimap_unordered:");
  for (int r : pool.imap_unordered([](int x) {
         greenring::sleep(std::chrono::milliseconds(10 * (x % 3)));
         return x;
       }, items))
    std::printf(" %d", r);
  std::printf("\n");
}
