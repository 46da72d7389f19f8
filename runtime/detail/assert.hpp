// greenring — always-on contract checks (internal).
#pragma once

namespace greenring::detail {

/// Prints "greenring: <file>:<line>: <message>" and aborts.
[[noreturn]] void fatal(const char* file, int line, const char* message) noexcept;

}  // namespace greenring::detail

#define GREENRING_ASSERT(cond, message)                                \
  do {                                                                 \
    if (__builtin_expect(!(cond), 0))                                  \
      ::greenring::detail::fatal(__FILE__, __LINE__, message);         \
  } while (0)

#include <greenring/detail/sanitizer.hpp>  // GREENRING_ASAN, GREENRING_TSAN
