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

  /// Returns the pages of free stacks beyond `max_warm_per_size` per size
  /// (MADV_DONTNEED; the mapping and its guard stay), at most `budget` of
  /// them; false when more remain. The hub calls it when it is idle, so
  /// freeing stacks on the hot path never costs a syscall.
  bool trim(std::size_t budget) noexcept;

  static constexpr std::size_t max_warm_per_size = 1024;

 private:
  struct bucket {
    std::size_t size;
    std::size_t mapped;  // stacks of this size ever mapped
    std::size_t cold;    // free[0, cold) have had their pages returned
    std::vector<char*> free;
  };
  bucket* find(std::size_t size) noexcept;
  bucket& bucket_for(std::size_t size);
  void refill(bucket& b);
  struct chunk {
    char* base;
    std::size_t length;
  };
  std::vector<bucket> buckets_;
  std::vector<chunk> chunks_;
  std::vector<unsigned> vg_ids_;  // Valgrind stack ids, when run under it
  std::size_t in_use_ = 0;
};

/// Test hook: the next `n` acquisitions succeed, then one fails with ENOMEM
/// (as a full vm.max_map_count would); -1 disables. Per thread.
void stack_fail_after(long n) noexcept;

/// How guards are made on this kernel: "madvise" or "mprotect".
const char* guard_mode() noexcept;

}  // namespace greenring::detail
