// greenring — coroutine stacks.
//
// Invariants: a stack handed out is always guarded; the pool only holds
// stacks no greenlet uses; under ASan a released stack is unpoisoned, since a
// greenlet that died never popped its frames' redzones.
#include "detail/stack.hpp"

#include "detail/assert.hpp"

#include <greenring/greenlet.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <new>
#include <string>
#include <system_error>

#ifdef GREENRING_ASAN
#include <sanitizer/asan_interface.h>
#endif

// Valgrind's client requests are a few no-op instructions outside Valgrind.
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GREENRING_VALGRIND 1
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace greenring::detail {
namespace {

// 0 = unknown, 1 = madvise guard works, 2 = use mprotect.
std::atomic<int> g_guard_mode{0};
thread_local long t_fail_after __attribute__((tls_model("initial-exec"))) = -1;

std::size_t page_size() noexcept {
  static const std::size_t p = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return p;
}

[[noreturn]] void throw_map_error(int err, const char* what, std::size_t size) {
  std::string msg = "greenring: cannot map a " + std::to_string(size) +
                    "-byte coroutine stack (" + what +
                    "); the process may have reached vm.max_map_count "
                    "(see /proc/sys/vm/max_map_count) or its memory limit";
  throw std::system_error(err, std::generic_category(), msg);
}

bool on_valgrind() noexcept {
#ifdef GREENRING_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

bool install_guard(char* base) noexcept {
  // Valgrind does not know MADV_GUARD_INSTALL and faults on such guards.
  if (on_valgrind()) g_guard_mode.store(2, std::memory_order_relaxed);
  int mode = g_guard_mode.load(std::memory_order_relaxed);
  if (mode != 2) {
    if (::madvise(base, guard_size, MADV_GUARD_INSTALL) == 0) {
      g_guard_mode.store(1, std::memory_order_relaxed);
      return true;
    }
    if (errno != EINVAL) return false;
    g_guard_mode.store(2, std::memory_order_relaxed);
  }
  return ::mprotect(base, guard_size, PROT_NONE) == 0;
}

}  // namespace

std::size_t round_stack_size(std::size_t requested) noexcept {
  if (requested == greenlet::default_stack_size) return requested;  // page multiple already
  const std::size_t p = page_size();
  if (requested < greenlet::min_stack_size) requested = greenlet::min_stack_size;
  if (requested > (std::size_t{1} << 40)) requested = std::size_t{1} << 40;
  return (requested + p - 1) / p * p;
}

const char* guard_mode() noexcept {
  return g_guard_mode.load(std::memory_order_relaxed) == 2 ? "mprotect" : "madvise";
}

void stack_fail_after(long n) noexcept { t_fail_after = n; }

stack_pool::~stack_pool() {
#ifdef GREENRING_VALGRIND
  for (unsigned id : vg_ids_) VALGRIND_STACK_DEREGISTER(id);
#endif
  // Whole chunks: unmapping stacks one by one would split mappings.
  for (const auto& c : chunks_) ::munmap(c.base, c.length);
}

stack_pool::bucket* stack_pool::find(std::size_t size) noexcept {
  for (auto& b : buckets_)
    if (b.size == size) return &b;
  return nullptr;
}

stack_pool::bucket& stack_pool::bucket_for(std::size_t size) {
  if (bucket* b = find(size)) return *b;
  buckets_.push_back(bucket{size, 0, 0, {}});
  return buckets_.back();
}

std::size_t stack_pool::pooled() const noexcept {
  std::size_t n = 0;
  for (const auto& b : buckets_) n += b.free.size();
  return n;
}

char* stack_pool::acquire(std::size_t size) {
  bucket& b = bucket_for(size);
  if (b.free.empty()) refill(b);
  char* lo = b.free.back();
  b.free.pop_back();
  if (b.cold > b.free.size()) b.cold = b.free.size();  // took a trimmed one
  ++in_use_;
  return lo;
}

bool stack_pool::trim(std::size_t budget) noexcept {
  for (auto& b : buckets_) {
    while (b.free.size() - b.cold > max_warm_per_size) {
      if (budget-- == 0) return false;
      ::madvise(b.free[b.cold], b.size, MADV_DONTNEED);
      ++b.cold;
    }
  }
  return true;
}

// Maps several stacks at once: one mmap for the lot, and a guard per stack.
// Neighbours in one mapping stay one VMA (madvise guards split nothing), and
// nothing else (an ASan fake stack, say) can land between them.
void stack_pool::refill(bucket& b) {
  const std::size_t size = b.size;
  if (t_fail_after >= 0 && t_fail_after-- == 0) throw_map_error(ENOMEM, "mmap: injected failure", size);
  const std::size_t span = size + guard_size;
  std::size_t count = (8u << 20) / span;
  if (count < 1) count = 1;
  if (count > 128) count = 128;
  // Room for every stack of this size to come back, so release never allocates.
  b.free.reserve(b.mapped + count);
  chunks_.reserve(chunks_.size() + 1);
  void* m = ::mmap(nullptr, span * count, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) throw_map_error(errno, "mmap", size);
  char* base = static_cast<char*>(m);
  for (std::size_t i = 0; i < count; ++i) {
    if (!install_guard(base + i * span)) {
      const int err = errno;
      ::munmap(base, span * count);
      throw_map_error(err, "guard page", size);
    }
  }
  chunks_.push_back(chunk{base, span * count});
  b.mapped += count;
#ifdef GREENRING_VALGRIND
  if (on_valgrind()) {
    // Tell Valgrind these are stacks, so switching to them is not taken
    // for a wild stack-pointer change.
    for (std::size_t i = 0; i < count; ++i) {
      char* lo = base + i * span + guard_size;
      vg_ids_.push_back(VALGRIND_STACK_REGISTER(lo, lo + size));
    }
  }
#endif
  for (std::size_t i = count; i-- > 0;) b.free.push_back(base + i * span + guard_size);
}

void stack_pool::release(char* lo, std::size_t size) noexcept {
  --in_use_;
#ifdef GREENRING_ASAN
  ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
  // The stack came from this size's bucket, whose free list has room for
  // every stack it ever mapped: no allocation here.
  find(size)->free.push_back(lo);
}

}  // namespace greenring::detail
