// greenring — views of the bytes an IO call reads into or writes from.
//
//   char buf[4096];             stream.read_some(buf);
//   std::string s = "hello";    stream.write_all(s);
//
// Buffers do not own memory: it must stay alive until the call returns
// (which greenring guarantees is after the kernel is done with it).
#pragma once

#include <cstddef>
#include <ranges>
#include <string_view>
#include <type_traits>

namespace greenring {

struct mutable_buffer;
struct const_buffer;
namespace detail {
// A range of bytes, as opposed to a sequence of buffers.
template <class R>
concept byte_range = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                     std::is_trivially_copyable_v<std::ranges::range_value_t<R>> &&
                     !std::is_same_v<std::ranges::range_value_t<R>, mutable_buffer> &&
                     !std::is_same_v<std::ranges::range_value_t<R>, const_buffer>;
}  // namespace detail

/// Bytes to read into.
struct mutable_buffer {
  void* data = nullptr;
  std::size_t size = 0;
  constexpr mutable_buffer() noexcept = default;
  constexpr mutable_buffer(void* d, std::size_t n) noexcept : data(d), size(n) {}
  /// Any contiguous range of non-const trivially copyable elements
  /// (arrays, std::vector<char>, std::string, std::span<std::byte>...).
  template <class R>
    requires detail::byte_range<R> &&
             (!std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>>)
  constexpr mutable_buffer(R&& r) noexcept  // NOLINT: implicit on purpose
      : data(std::ranges::data(r)), size(std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>)) {}
};

/// Bytes to write.
struct const_buffer {
  const void* data = nullptr;
  std::size_t size = 0;
  constexpr const_buffer() noexcept = default;
  constexpr const_buffer(const void* d, std::size_t n) noexcept : data(d), size(n) {}
  constexpr const_buffer(mutable_buffer b) noexcept : data(b.data), size(b.size) {}  // NOLINT
  /// Text (std::string, string_view, literals): a string literal's
  /// terminating NUL is not part of it.
  template <class S>
    requires std::is_convertible_v<const S&, std::string_view>
  constexpr const_buffer(const S& s) noexcept  // NOLINT: implicit on purpose
      : data(std::string_view(s).data()), size(std::string_view(s).size()) {}
  template <class R>
    requires detail::byte_range<R> && (!std::is_convertible_v<const R&, std::string_view>)
  constexpr const_buffer(R&& r) noexcept  // NOLINT: implicit on purpose
      : data(std::ranges::data(r)), size(std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>)) {}
};

}  // namespace greenring
