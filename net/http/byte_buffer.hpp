// greenring — a connection's input buffer (internal): bytes read but not
// yet consumed, in one heap block that is reused, never zero-filled (a
// std::string resized before each read would clear 4 KiB every time).
#pragma once

#include <greenring/buffer.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace greenring::http::detail {

class byte_buffer {
 public:
  std::string_view view() const noexcept { return {p_.get() + start_, end_ - start_}; }
  const char* data() const noexcept { return p_.get() + start_; }
  std::size_t size() const noexcept { return end_ - start_; }
  bool empty() const noexcept { return start_ == end_; }
  /// Bytes allocated (0 until the first prepare()).
  std::size_t capacity() const noexcept { return cap_; }
  void consume(std::size_t n) noexcept {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  void clear() noexcept { start_ = end_ = 0; }
  /// Frees the block when no data is left in it.
  void release() noexcept {
    if (!empty()) return;
    p_.reset();
    cap_ = start_ = end_ = 0;
  }
  /// Room for at least `n` more bytes after the data: the data moves to
  /// the front, or to a block twice as large, when it must.
  mutable_buffer prepare(std::size_t n) {
    if (cap_ - end_ < n) {
      const std::size_t len = size();
      if (cap_ - len >= n && start_ > 0) {
        std::memmove(p_.get(), p_.get() + start_, len);
      } else {
        std::size_t cap = cap_ ? cap_ : n;
        while (cap - len < n) cap *= 2;
        auto q = std::make_unique_for_overwrite<char[]>(cap);
        if (len) std::memcpy(q.get(), p_.get() + start_, len);
        p_ = std::move(q);
        cap_ = cap;
      }
      start_ = 0;
      end_ = len;
    }
    return mutable_buffer(p_.get() + end_, cap_ - end_);
  }
  /// `n` bytes were written where prepare() said.
  void commit(std::size_t n) noexcept { end_ += n; }

 private:
  std::unique_ptr<char[]> p_;
  std::size_t cap_ = 0, start_ = 0, end_ = 0;
};

}  // namespace greenring::http::detail
