// greenring — which sanitizer this translation unit is built with
// (internal): GREENRING_ASAN, GREENRING_TSAN. GCC and Clang spell it
// differently.
#pragma once

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
