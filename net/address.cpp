// greenring — address parsing and formatting. Literals only: no lookups.
#include <greenring/address.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace greenring {
namespace {

bool parse_port(std::string_view s, std::uint16_t& port) noexcept {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

bool fill_ip(std::string_view lit, std::uint16_t port, sockaddr_storage& ss, socklen_t& len) noexcept {
  char buf[INET6_ADDRSTRLEN + 16];
  if (lit.empty() || lit.size() >= sizeof buf) return false;
  std::memcpy(buf, lit.data(), lit.size());
  buf[lit.size()] = '\0';
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  // A zone ("fe80::1%eth0") is not supported: reject rather than guess.
  if (::inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool fill_unix(std::string_view path, sockaddr_storage& ss, socklen_t& len) noexcept {
  auto* un = reinterpret_cast<sockaddr_un*>(&ss);
  std::memset(&ss, 0, sizeof ss);
  if (path.empty() || path.size() >= sizeof un->sun_path) return false;
  if (path.find('\0') != std::string_view::npos) return false;
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  if (path[0] == '@') un->sun_path[0] = '\0';  // abstract namespace: no NUL terminator counted
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
  return true;
}

}  // namespace

address::address() noexcept {
  std::memset(&storage_, 0, sizeof storage_);
  storage_.ss_family = AF_UNSPEC;
}

std::optional<address> address::try_parse(std::string_view t) noexcept {
  address a;
  if (t.empty()) return std::nullopt;
  if (t[0] == '@' || t.find('/') != std::string_view::npos) {
    if (!fill_unix(t, a.storage_, a.len_)) return std::nullopt;
    return a;
  }
  std::uint16_t port = 0;
  if (t[0] == '[') {
    auto close = t.find(']');
    if (close == std::string_view::npos || close + 1 >= t.size() || t[close + 1] != ':') return std::nullopt;
    auto lit = t.substr(1, close - 1);
    if (lit.find(':') == std::string_view::npos) return std::nullopt;  // [1.2.3.4]:80 is not a thing
    if (!parse_port(t.substr(close + 2), port) || !fill_ip(lit, port, a.storage_, a.len_)) return std::nullopt;
    return a;
  }
  auto colon = t.rfind(':');
  if (colon == std::string_view::npos || t.find(':') != colon) return std::nullopt;  // bare v6 needs brackets
  if (!parse_port(t.substr(colon + 1), port)) return std::nullopt;
  if (!fill_ip(t.substr(0, colon), port, a.storage_, a.len_) || a.family() != AF_INET) return std::nullopt;
  return a;
}

address address::parse(std::string_view t) {
  if (auto a = try_parse(t)) return *a;
  throw std::invalid_argument("greenring::address: cannot parse \"" + std::string(t) +
                              "\" (expected 1.2.3.4:port, [v6]:port, a Unix path or @abstract)");
}

address address::ip(std::string_view lit, std::uint16_t port) {
  address a;
  if (!fill_ip(lit, port, a.storage_, a.len_))
    throw std::invalid_argument("greenring::address: \"" + std::string(lit) + "\" is not an IP literal");
  return a;
}

address address::unix_path(std::string_view path) {
  address a;
  if (!fill_unix(path, a.storage_, a.len_))
    throw std::invalid_argument("greenring::address: Unix socket path \"" + std::string(path) +
                                "\" is empty, holds a NUL or is longer than 107 bytes");
  return a;
}

address address::from_native(const sockaddr* sa, socklen_t len) {
  address a;
  if (!sa || len <= 0) return a;
  if (len > static_cast<socklen_t>(sizeof a.storage_)) len = sizeof a.storage_;
  std::memcpy(&a.storage_, sa, static_cast<std::size_t>(len));
  a.len_ = len;
  return a;
}

std::uint16_t address::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string address::host() const {
  char buf[INET6_ADDRSTRLEN];
  if (family() == AF_INET)
    return ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
  if (family() == AF_INET6)
    return ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
  if (family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    const std::size_t off = offsetof(sockaddr_un, sun_path);
    if (static_cast<std::size_t>(len_) <= off) return "(unnamed)";
    std::size_t n = static_cast<std::size_t>(len_) - off;
    if (un->sun_path[0] == '\0') {
      std::string out(1, '@');  // built by append: GCC 12 warns falsely on "@" + string
      out.append(un->sun_path + 1, n - 1);
      return out;
    }
    return std::string(un->sun_path, ::strnlen(un->sun_path, n));
  }
  return "(none)";
}

std::string address::to_string() const {
  if (family() == AF_INET) return host() + ":" + std::to_string(port());
  if (family() == AF_INET6) {
    std::string out(1, '[');
    out += host();
    out += "]:";
    out += std::to_string(port());
    return out;
  }
  return host();
}

bool operator==(const address& a, const address& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, static_cast<std::size_t>(a.len_)) == 0;
}

}  // namespace greenring
