// The seeds' greenlet program: two greenlets switching explicitly.
//
//   from greenlet import greenlet
//   def test1(): print 12; gr2.switch(); print 34; gr2.switch()
//   def test2(): print 56; gr1.switch(); print 78
//   gr1 = greenlet(test1); gr2 = greenlet(test2); gr1.switch()
//
// Prints 12, 56, 34, 78: test2 dies after 78 and its parent (main) resumes;
// test1 is left suspended and is unwound when gr1 is destroyed.
#include <greenring/greenring.hpp>

#include <cstdio>

int main() {
  greenring::greenlet* gr1 = nullptr;
  greenring::greenlet* gr2 = nullptr;

  greenring::greenlet g1([&] {
    std::puts("12");
    gr2->switch_to();
    std::puts("34");
    gr2->switch_to();
  });
  greenring::greenlet g2([&] {
    std::puts("56");
    gr1->switch_to();
    std::puts("78");
  });
  gr1 = &g1;
  gr2 = &g2;

  gr1->switch_to();
  return 0;
}
