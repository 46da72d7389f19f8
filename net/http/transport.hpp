// greenring — a byte stream that is plain TCP or TLS over it (internal).
#pragma once

#include <greenring/socket.hpp>
#include <greenring/tls.hpp>

#include <memory>
#include <span>

namespace greenring::http::detail {

struct transport {
  tcp_stream tcp;
  std::unique_ptr<tls::stream> tls;  // set: every byte goes through it

  std::size_t read_some(mutable_buffer b, std::error_code& ec, duration t) {
    return tls ? tls->read_some(b, ec, t) : tcp.read_some(b, ec, t);
  }
  void write(std::span<const const_buffer> parts, std::error_code& ec, duration t) {
    if (!tls) {
      tcp.write_all(parts, ec, t);
      return;
    }
    for (const auto& p : parts) {
      if (p.size == 0) continue;
      tls->write_all(p, ec, t);
      if (ec) return;
    }
  }
  /// The socket underneath (close() on it ends a read in progress).
  tcp_stream& tcp_for_close() noexcept { return tls ? tls->lower() : tcp; }
  const address& peer() const noexcept { return tls ? tls->lower().peer() : tcp.peer(); }
  void close() noexcept {
    if (tls) tls->close();
    tcp.close();
  }
};

}  // namespace greenring::http::detail
