// libFuzzer target: the gzip/deflate body decoder fed in pieces whose size
// comes from the input. Any exception other than decode_error, any
// sanitizer report, is a bug; so is output past the limit being ignored.
#include "http/decode.hpp"

#include <cstddef>
#include <cstdint>

namespace {
struct enough {};  // the sink's way to stop a bomb, as max_body_bytes does
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace d = greenring::http::detail;
  if (size < 1) return 0;
  const bool gzip = data[0] & 1;
  const std::size_t step = 1 + (data[0] >> 1) % 64;
  d::content_decoder dec(gzip ? d::content_decoder::coding::gzip : d::content_decoder::coding::deflate);
  std::size_t total = 0;
  const d::content_decoder::sink_type sink = [&](const char* p, std::size_t n) {
    if (n == 0) __builtin_trap();  // empty pieces are never passed on
    volatile char first = p[0], last = p[n - 1];  // the bytes are readable
    (void)first;
    (void)last;
    total += n;
    if (total > (1u << 20)) throw enough{};
  };
  try {
    for (std::size_t off = 1; off < size; off += step) {
      const std::size_t n = off + step <= size ? step : size - off;
      dec.feed(reinterpret_cast<const char*>(data + off), n, sink);
    }
    dec.finish();
  } catch (const d::decode_error&) {
  } catch (const enough&) {
  }
  return 0;
}
