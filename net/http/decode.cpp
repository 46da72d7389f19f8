// greenring — gzip/deflate body decoding on zlib.
#include "decode.hpp"

#include "parser.hpp"

#include <zlib.h>

#include <algorithm>

namespace greenring::http::detail {

struct content_decoder::state {
  z_stream z{};
  bool live = false;
  static constexpr std::size_t out_size = 32 * 1024;
  std::unique_ptr<char[]> out = std::make_unique<char[]>(out_size);
  ~state() {
    if (live) inflateEnd(&z);
  }
};

std::unique_ptr<content_decoder> content_decoder::make(std::string_view name) {
  if (iequals(name, "gzip") || iequals(name, "x-gzip")) return std::make_unique<content_decoder>(coding::gzip);
  if (iequals(name, "deflate")) return std::make_unique<content_decoder>(coding::deflate);
  return nullptr;
}

content_decoder::content_decoder(coding c) : c_(c), z_(std::make_unique<state>()) {}
content_decoder::~content_decoder() = default;

void content_decoder::start(int window_bits) {
  if (inflateInit2(&z_->z, window_bits) != Z_OK) throw decode_error(std::string(name()) + " body: zlib could not start (out of memory)");
  z_->live = true;
  begun_ = true;
}

namespace {
// RFC 1950: compression method 8, window at most 32 KiB, header check bits.
bool zlib_header(unsigned char b0, unsigned char b1) noexcept {
  return (b0 & 0x0f) == 8 && (b0 >> 4) <= 7 && ((b0 << 8) | b1) % 31 == 0;
}
bool starts_gzip_member(const unsigned char* p, std::size_t n) noexcept {
  return n >= 1 && p[0] == 0x1f && (n < 2 || p[1] == 0x8b);
}
}  // namespace

void content_decoder::feed(const char* p, std::size_t n, const sink_type& sink) {
  if (n == 0 || trailing_) return;
  any_input_ = true;
  if (!begun_) {
    if (c_ == coding::gzip) {
      start(16 + MAX_WBITS);
    } else {
      while (sniffed_ < 2 && n > 0) {
        sniff_[sniffed_++] = *p++;
        --n;
      }
      if (sniffed_ < 2) return;
      start(zlib_header(static_cast<unsigned char>(sniff_[0]), static_cast<unsigned char>(sniff_[1])) ? MAX_WBITS
                                                                                                         : -MAX_WBITS);
      sniffed_ = 0;
      const char head[2] = {sniff_[0], sniff_[1]};
      feed(head, 2, sink);
      if (n == 0 || trailing_) return;
    }
  }
  z_stream& z = z_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
  // Bodies come in pieces far below 4 GiB; a larger one is fed in parts.
  z.avail_in = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
  std::size_t rest = n - z.avail_in;
  for (;;) {
    if (ended_) {
      // Another gzip member may follow; anything else ends the body.
      if (c_ == coding::gzip && starts_gzip_member(z.next_in, z.avail_in)) {
        inflateReset(&z);
        ended_ = false;
      } else {
        trailing_ = true;
        return;
      }
    }
    z.next_out = reinterpret_cast<Bytef*>(z_->out.get());
    z.avail_out = static_cast<uInt>(state::out_size);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const std::size_t produced = state::out_size - z.avail_out;
    if (produced) sink(z_->out.get(), produced);
    if (rc == Z_STREAM_END) {
      ended_ = true;
      if (z.avail_in == 0 && rest == 0) return;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      throw decode_error(std::string(name()) + " body: " + (z.msg ? z.msg : "corrupt compressed data"));
    if (z.avail_in == 0 && z.avail_out != 0) {
      if (rest == 0) return;
      const uInt more = static_cast<uInt>(std::min<std::size_t>(rest, 1u << 30));
      z.avail_in = more;
      rest -= more;
    }
  }
}

void content_decoder::finish() {
  if (!any_input_ || ended_ || trailing_) return;
  throw decode_error(std::string(name()) + " body ends before the end of its compressed stream", true);
}

}  // namespace greenring::http::detail
