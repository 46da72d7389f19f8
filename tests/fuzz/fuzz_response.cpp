// libFuzzer target: a response head, its framing, and a chunked body fed
// in pieces whose sizes come from the input (RELIABILITY P9 a+b). Any
// exception other than parse_error, any sanitizer report, is a bug.
#include "chunked_check.hpp"
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
  d::limits head_lim = lim;
  head_lim.bare_lf = data[0] & 2;  // the client's response heads accept LF line ends
  try {
    std::size_t end = d::find_head_end(in, head_lim);
    if (!end) return 0;
    auto h = d::parse_response_head(in.substr(0, end), head_lim);
    auto f = d::response_framing(h, head_request);
    if (f.k != d::framing::chunked) return 0;
    check_chunked(in.substr(end), lim, step);
  } catch (const d::parse_error&) {
  }
  return 0;
}
