// libFuzzer target: what the server does with a request before its handler
// sees it: the head, the Host rules, Connection tokens, body framing, the
// path, and a chunked body fed in pieces whose sizes come from the input.
// Any exception other than parse_error, any sanitizer report, is a bug.
#include "chunked_check.hpp"
#include "http/parser.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = greenring::http::detail;
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 17;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  d::limits lim{256, 2048, 16};
  try {
    std::size_t end = d::find_head_end(in, lim);
    if (!end) return 0;
    auto r = d::parse_request_head(in.substr(0, end), lim);
    // The server's early check refuses no prefix of a head that parses.
    for (std::size_t k = 1; k <= end && k <= 80; ++k) {
      try {
        d::check_request_start(in.substr(0, k));
      } catch (const d::parse_error&) {
        __builtin_trap();
      }
    }
    std::size_t hosts = 0;
    for (const auto& f : r.head) hosts += d::iequals(f.name, "Host");
    if (hosts > 1 || (r.minor_version == 1 && hosts != 1)) __builtin_trap();  // the Host rules held
    (void)d::persistent(r.head, r.minor_version);  // Connection tokens
    std::string_view p = r.path();
    const char* t = r.target.data();
    if (!p.empty() && p != "/" && (p.data() < t || p.data() + p.size() > t + r.target.size())) __builtin_trap();
    auto b = d::request_body_framing(r);
    if (!b.chunked) return 0;
    check_chunked(in.substr(end), lim, step);
  } catch (const d::parse_error&) {
  }
  return 0;
}
