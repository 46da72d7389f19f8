// libFuzzer target: a response head, its framing, and a chunked body fed
// in pieces whose sizes come from the input (RELIABILITY P9 a+b). Any
// exception other than parse_error, any sanitizer report, is a bug.
#include "http/parser.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = greenring::http::detail;
  if (size < 2) return 0;
  const bool head_request = data[0] & 1;
  const std::size_t step = 1 + data[1] % 17;  // chunked input fed in pieces of this size
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  d::limits lim{256, 2048, 16};
  try {
    std::size_t end = d::find_head_end(in, lim);
    if (!end) return 0;
    auto h = d::parse_response_head(in.substr(0, end), lim);
    auto f = d::response_framing(h, head_request);
    if (f.k != d::framing::chunked) return 0;
    d::chunked_decoder dec(lim);
    std::string_view body = in.substr(end);
    std::size_t total = 0;
    for (std::size_t off = 0; off < body.size() && !dec.done(); off += step) {
      std::string_view piece = body.substr(off, step);
      std::size_t used = dec.feed(piece.data(), piece.size(), [&](const char*, std::size_t n) { total += n; });
      if (used < piece.size() && !dec.done()) __builtin_trap();  // may stop early only at the end
    }
    if (total > body.size()) __builtin_trap();  // cannot produce more than it was given
  } catch (const d::parse_error&) {
  }
  return 0;
}
