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

#if defined(__SANITIZE_ADDRESS__)
#define GREENRING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GREENRING_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define GREENRING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GREENRING_TSAN 1
#endif
#endif
