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

namespace greenring::detail {

// Code that switches stacks is inlined into the user's translation units,
// and under AddressSanitizer it must tell ASan about every switch. A
// program built with ASan against a library built without it (or the
// reverse) would annotate only half of the switches and report false stack
// errors or miss real ones, so it does not link: each side references the
// symbol only a library built the same way defines, and the linker names
// it ("undefined reference to ...must_be_built_with_asan"). The same holds
// for ThreadSanitizer's fiber switches.
#ifdef GREENRING_ASAN
extern const char this_program_uses_asan_so_libgreenring_must_be_built_with_asan;
[[gnu::always_inline]] inline void require_same_sanitizer() noexcept {
  asm volatile("" : : "r"(&this_program_uses_asan_so_libgreenring_must_be_built_with_asan));
}
#elif defined(GREENRING_TSAN)
extern const char this_program_uses_tsan_so_libgreenring_must_be_built_with_tsan;
[[gnu::always_inline]] inline void require_same_sanitizer() noexcept {
  asm volatile("" : : "r"(&this_program_uses_tsan_so_libgreenring_must_be_built_with_tsan));
}
#else
extern const char this_program_does_not_use_asan_so_libgreenring_must_not_either;
[[gnu::always_inline]] inline void require_same_sanitizer() noexcept {
  asm volatile("" : : "r"(&this_program_does_not_use_asan_so_libgreenring_must_not_either));
}
#endif

}  // namespace greenring::detail
