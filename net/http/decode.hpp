// greenring — Content-Encoding decoding (internal): gzip and deflate on
// zlib, fed piece by piece as the body arrives.
//
// gzip: one or more members back to back (RFC 1952 allows it; `gzip a b`
// makes them); bytes after the last complete member that do not start a
// new one are ignored, as curl and urllib3 do. deflate: the zlib wrapper of
// RFC 9110, and also the raw deflate stream some servers send instead
// (told apart by the zlib header's check bits). A stream that ends before
// its end marker is an error (`incomplete`), so a truncated body is never a
// short success.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace greenring::http::detail {

class decode_error : public std::runtime_error {
 public:
  decode_error(const std::string& what, bool incomplete = false) : std::runtime_error(what), incomplete_(incomplete) {}
  /// The input ended inside the compressed stream.
  bool incomplete() const noexcept { return incomplete_; }

 private:
  bool incomplete_;
};

class content_decoder {
 public:
  enum class coding { gzip, deflate };
  /// "gzip", "x-gzip" or "deflate" (any case); nothing for other codings.
  static std::unique_ptr<content_decoder> make(std::string_view name);

  explicit content_decoder(coding c);
  ~content_decoder();
  content_decoder(const content_decoder&) = delete;
  content_decoder& operator=(const content_decoder&) = delete;

  using sink_type = std::function<void(const char*, std::size_t)>;
  /// Decodes [p, p+n), passing decoded bytes to `sink`. Throws decode_error.
  void feed(const char* p, std::size_t n, const sink_type& sink);
  /// The body ended: throws decode_error(incomplete) unless the stream
  /// was complete (or no byte came at all: an empty body).
  void finish();
  const char* name() const noexcept { return c_ == coding::gzip ? "gzip" : "deflate"; }

 private:
  struct state;
  void start(int window_bits);
  coding c_;
  std::unique_ptr<state> z_;
  bool begun_ = false;     // the stream's format was chosen
  bool ended_ = false;     // a complete stream (member) was read
  bool trailing_ = false;  // ignoring bytes after the last member
  bool any_input_ = false;
  char sniff_[2];
  std::size_t sniffed_ = 0;
};

}  // namespace greenring::http::detail
