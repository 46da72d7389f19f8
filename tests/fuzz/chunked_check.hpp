// Shared by the fuzz targets: a chunked body fed to the decoder in pieces
// of `step` bytes. Traps when the decoder stops early other than at the
// body's end, or produces more bytes than it was given.
#pragma once

#include "http/parser.hpp"

#include <cstddef>
#include <string_view>

inline void check_chunked(std::string_view body, const greenring::http::detail::limits& lim, std::size_t step) {
  greenring::http::detail::chunked_decoder dec(lim);
  std::size_t total = 0;
  for (std::size_t off = 0; off < body.size() && !dec.done(); off += step) {
    std::string_view piece = body.substr(off, step);
    std::size_t used = dec.feed(piece.data(), piece.size(), [&](const char*, std::size_t n) { total += n; });
    if (used < piece.size() && !dec.done()) __builtin_trap();  // may stop early only at the end
  }
  if (total > body.size()) __builtin_trap();  // cannot produce more than it was given
}
