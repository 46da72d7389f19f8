// The seeds' gevent program: two tasks handing control back and forth with
// sleep(0).
//
//   def foo(): print('Running in foo'); gevent.sleep(0)
//              print('Explicit context switch to foo again')
//   def bar(): print('Explicit context to bar'); gevent.sleep(0)
//              print('Implicit context switch back to bar')
//   gevent.joinall([gevent.spawn(foo), gevent.spawn(bar)])
#include <greenring/greenring.hpp>

#include <cstdio>

void foo() {
  std::puts("Running in foo");
  greenring::sleep(0);
  std::puts("Explicit context switch to foo again");
}

void bar() {
  std::puts("Explicit context to bar");
  greenring::sleep(0);
  std::puts("Implicit context switch back to bar");
}

int main() {
  greenring::joinall({greenring::spawn(foo), greenring::spawn(bar)});
  return 0;
}
