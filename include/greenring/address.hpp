// greenring — socket addresses: IPv4, IPv6 and Unix domain.
//
//   auto a = greenring::address::parse("127.0.0.1:8080");
//   auto b = greenring::address::parse("[::1]:8080");
//   auto c = greenring::address::parse("/run/app.sock");   // "@name": abstract
//   a.to_string() == "127.0.0.1:8080"
//
// Parsing takes literals only; names go through `greenring::resolve`.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace greenring {

class address {
 public:
  /// An empty address (family AF_UNSPEC).
  address() noexcept;

  /// Parses `host:port` with an IPv4 literal, `[v6]:port`, a Unix socket
  /// path (contains '/') or `@name` (Linux abstract socket). Throws
  /// std::invalid_argument naming the text otherwise.
  static address parse(std::string_view text);
  /// As parse(), returning nullopt instead of throwing.
  static std::optional<address> try_parse(std::string_view text) noexcept;
  /// An IP literal (IPv4 or IPv6, no brackets) and a port. Throws
  /// std::invalid_argument for anything that is not a literal.
  static address ip(std::string_view literal, std::uint16_t port);
  /// A Unix domain socket; a leading '@' makes it abstract. Throws
  /// std::invalid_argument when it does not fit in sun_path.
  static address unix_path(std::string_view path);
  /// Copies a native address (as accept/getpeername give it).
  static address from_native(const sockaddr* sa, socklen_t len);

  int family() const noexcept { return storage_.ss_family; }
  bool is_ip() const noexcept { return family() == AF_INET || family() == AF_INET6; }
  /// The port (IP families), 0 otherwise.
  std::uint16_t port() const noexcept;
  /// The IP literal without brackets, or the Unix path ("@name" if abstract).
  std::string host() const;
  /// "1.2.3.4:80", "[::1]:80", "/path", "@name"; "(none)" when empty.
  std::string to_string() const;

  const sockaddr* native() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* native() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t native_size() const noexcept { return len_; }

  friend bool operator==(const address& a, const address& b) noexcept;

 private:
  sockaddr_storage storage_;
  socklen_t len_ = 0;
};

}  // namespace greenring
