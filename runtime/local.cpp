// greenring — task-local values: a small vector of (key, value) per
// greenlet, in the greenlet's out-of-line extras. Keys are never reused, so
// a value outliving its `local` object is simply never found again.
#include "detail/thread_state.hpp"

#include <greenring/local.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace greenring::detail {

std::uint64_t local_access::new_key() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

void* local_access::find(std::uint64_t key) noexcept {
  greenlet& g = greenlet::current();
  if (!g.extras_) return nullptr;
  for (auto& s : g.extras_->locals)
    if (s.key == key) return s.value;
  return nullptr;
}

void local_access::store(std::uint64_t key, void* value, void (*destroy)(void*) noexcept) {
  greenlet& g = greenlet::current();
  if (!g.extras_) g.extras_ = std::make_unique<greenlet_extras>();
  try {
    g.extras_->locals.push_back(local_slot{key, value, destroy});
  } catch (...) {
    destroy(value);
    throw;
  }
}

void local_access::erase(std::uint64_t key) noexcept {
  greenlet& g = greenlet::current();
  if (!g.extras_) return;
  auto& v = g.extras_->locals;
  auto it = std::find_if(v.begin(), v.end(), [key](const local_slot& s) { return s.key == key; });
  if (it == v.end()) return;
  local_slot s = *it;
  v.erase(it);
  s.destroy(s.value);
}

void local_access::destroy_all(greenlet& g) noexcept {
  if (!g.extras_) return;
  // Newest first; a destructor may make new values (they go too).
  auto& v = g.extras_->locals;
  while (!v.empty()) {
    local_slot s = v.back();
    v.pop_back();
    s.destroy(s.value);
  }
}

}  // namespace greenring::detail
