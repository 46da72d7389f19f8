// greenring — task-local storage (gevent.local, Python's threading.local
// for tasks).
//
//   greenring::local<request_info> current_request;
//   void handler() { current_request->id = next_id(); ...; log(); }
//   void log() { std::printf("%d\n", current_request->id); }   // this task's
//
// Each task (or greenlet) sees its own value, default-constructed on first
// access and destroyed when that task ends (its destructor runs on the
// task's stack, in the task). A value set in one task is never seen by
// another. Destroying the `local` object itself does not reach into other
// tasks: their values are destroyed when they end.
#pragma once

#include <greenring/greenlet.hpp>

#include <cstdint>
#include <memory>
#include <utility>

namespace greenring {
namespace detail {
struct local_access {
  static std::uint64_t new_key() noexcept;
  /// The current greenlet's value for `key`, or nullptr.
  static void* find(std::uint64_t key) noexcept;
  /// Stores `value` for `key` in the current greenlet (taking ownership).
  static void store(std::uint64_t key, void* value, void (*destroy)(void*) noexcept);
  /// Destroys the current greenlet's value for `key`, if any.
  static void erase(std::uint64_t key) noexcept;
  /// Destroys every value `g` holds (at the end of a task).
  static void destroy_all(greenlet& g) noexcept;
};
}  // namespace detail

template <class T>
class local {
 public:
  local() noexcept : key_(detail::local_access::new_key()) {}
  local(const local&) = delete;
  local& operator=(const local&) = delete;

  /// The calling task's value, made (default-constructed) on first use.
  T& get() {
    if (void* p = detail::local_access::find(key_)) return *static_cast<T*>(p);
    auto owned = std::make_unique<T>();
    T& ref = *owned;
    detail::local_access::store(key_, owned.get(), &destroy);
    owned.release();
    return ref;
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }
  /// Replaces the calling task's value.
  template <class... A>
  T& emplace(A&&... a) {
    reset();
    auto owned = std::make_unique<T>(std::forward<A>(a)...);
    T& ref = *owned;
    detail::local_access::store(key_, owned.get(), &destroy);
    owned.release();
    return ref;
  }
  /// True when the calling task has a value already.
  bool has_value() const noexcept { return detail::local_access::find(key_) != nullptr; }
  /// Destroys the calling task's value (the next get() makes a new one).
  void reset() noexcept { detail::local_access::erase(key_); }

 private:
  static void destroy(void* p) noexcept { delete static_cast<T*>(p); }
  std::uint64_t key_;
};

}  // namespace greenring
