// greenring — value: what a greenlet switch carries.
//
// A move-only, type-erased box. Trivially copyable values of up to 24 bytes
// (ints, pointers, doubles, small structs) live inline: passing them through
// `greenlet::switch_to` never touches the heap. Anything else is boxed on the
// heap once, then moved by pointer.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace greenring {

/// Thrown by `value::get<T>()` when the value is empty or holds another type.
class bad_value_cast : public std::bad_cast {
 public:
  const char* what() const noexcept override {
    return "greenring::value::get: the value is empty or holds another type";
  }
};

class value {
 public:
  static constexpr std::size_t inline_size = 24;

  /// An empty value (what `switch_to()` without an argument sends).
  value() noexcept = default;

  /// Holds a copy (or the moved-from contents) of `v`, decayed.
  template <class T>
    requires(!std::is_same_v<std::decay_t<T>, value>)
  value(T&& v) {  // NOLINT: implicit on purpose, like Python's objects
    using U = std::decay_t<T>;
    if constexpr (stored_inline<U>) {
      ::new (static_cast<void*>(buf_)) U(std::forward<T>(v));
    } else {
      U* p = new U(std::forward<T>(v));
      std::memcpy(buf_, &p, sizeof p);
    }
    ops_ = &ops_for<U>;
  }

  value(value&& other) noexcept { steal(other); }
  value& operator=(value&& other) noexcept {
    if (this != &other) {
      reset();
      steal(other);
    }
    return *this;
  }
  value(const value&) = delete;
  value& operator=(const value&) = delete;
  ~value() { reset(); }

  bool has_value() const noexcept { return ops_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }

  template <class T>
  bool holds() const noexcept {
    return ops_ == &ops_for<std::decay_t<T>>;
  }

  /// The held object, or nullptr when empty or of another type.
  template <class T>
  T* get_if() noexcept {
    if (!holds<T>()) return nullptr;
    return ptr<T>();
  }
  template <class T>
  const T* get_if() const noexcept {
    return const_cast<value*>(this)->get_if<T>();
  }

  /// The held object; throws `bad_value_cast` when empty or of another type.
  template <class T>
  T& get() {
    if (T* p = get_if<T>()) return *p;
    throw bad_value_cast();
  }
  template <class T>
  const T& get() const {
    return const_cast<value*>(this)->get<T>();
  }

  void reset() noexcept {
    if (ops_ && ops_->destroy) ops_->destroy(buf_);
    ops_ = nullptr;
  }

 private:
  template <class U>
  static constexpr bool stored_inline =
      std::is_trivially_copyable_v<U> && sizeof(U) <= inline_size &&
      alignof(U) <= alignof(std::max_align_t);

  struct ops_t {
    void (*destroy)(unsigned char* buf) noexcept;  // null: nothing to do
  };

  template <class U>
  static void destroy_boxed(unsigned char* buf) noexcept {
    U* p;
    std::memcpy(&p, buf, sizeof p);
    delete p;
  }

  // One ops_t per type; its address is the type's identity.
  template <class U>
  static constexpr ops_t ops_for{stored_inline<U> ? nullptr : &destroy_boxed<U>};

  template <class U>
  U* ptr() noexcept {
    if constexpr (stored_inline<U>) {
      return std::launder(reinterpret_cast<U*>(buf_));
    } else {
      U* p;
      std::memcpy(&p, buf_, sizeof p);
      return p;
    }
  }

  // Inline values are trivially copyable and boxed ones are a pointer, so a
  // byte copy moves either.
  void steal(value& other) noexcept {
    std::memcpy(buf_, other.buf_, inline_size);
    ops_ = other.ops_;
    other.ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char buf_[inline_size];
  const ops_t* ops_ = nullptr;
};

}  // namespace greenring
