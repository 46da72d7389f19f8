// greenring — coroutine stacks (internal).
//
// Each stack is one anonymous MAP_NORESERVE mapping: `guard_size` bytes of
// guard at the low end, then the usable stack. The guard is installed with
// madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which costs no extra mapping, so
// neighbouring stacks merge into few VMAs and vm.max_map_count is no limit;
// older kernels fall back to mprotect(PROT_NONE). Stacks are mapped a few
// megabytes at a time and handed out one by one; freed stacks go back to a
// per-thread pool, guard intact.
#pragma once

#include <cstddef>
#include <vector>

namespace greenring::detail {

inline constexpr std::size_t guard_size = 64 * 1024;

/// Page-rounded usable size for a request, at least greenlet::min_stack_size.
std::size_t round_stack_size(std::size_t requested) noexcept;

class stack_pool {
 public:
  stack_pool() = default;
  ~stack_pool();
  stack_pool(const stack_pool&) = delete;
  stack_pool& operator=(const stack_pool&) = delete;

  /// The lowest usable byte of a `size`-byte stack (size already rounded).
  /// Throws std::system_error naming vm.max_map_count when mapping fails.
  char* acquire(std::size_t size);
  void release(char* lo, std::size_t size) noexcept;

  std::size_t in_use() const noexcept { return in_use_; }
  std::size_t pooled() const noexcept;

  /// Stacks kept per size; the rest are unmapped when freed.
  static constexpr std::size_t max_pooled_per_size = 1024;

 private:
  struct bucket {
    std::size_t size;
    std::vector<char*> free;
  };
  bucket& bucket_for(std::size_t size);
  void refill(bucket& b);
  std::vector<bucket> buckets_;
  std::size_t in_use_ = 0;
};

/// Test hook: the next `n` acquisitions succeed, then one fails with ENOMEM
/// (as a full vm.max_map_count would); -1 disables. Per thread.
void stack_fail_after(long n) noexcept;

/// How guards are made on this kernel: "madvise" or "mprotect".
const char* guard_mode() noexcept;

}  // namespace greenring::detail
