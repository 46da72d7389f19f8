// Built by tests/support/mixed_sanitizer.sh once as is and once with
// AddressSanitizer against a library built without it.
#include <greenring/greenring.hpp>

int main() {
  auto t = greenring::spawn([] { return 42; });
  return t.get() == 42 ? 0 : 1;
}
