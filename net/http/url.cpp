// greenring — http(s) URLs: parsing, formatting, resolving a Location.
#include <greenring/http.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace greenring::http {
namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw error(errc::bad_url, std::string(text), "invalid URL: " + why);
}

bool is_hex(char c) noexcept { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Path and query: visible ASCII, with '%' followed by two hex digits.
void check_target(std::string_view text, std::string_view t) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (c <= 0x20 || c >= 0x7f) bad(text, "space, control or non-ASCII byte in the path (percent-encode it)");
    if (c == '%' && (i + 2 >= t.size() || !is_hex(t[i + 1]) || !is_hex(t[i + 2])))
      bad(text, "'%' not followed by two hex digits");
  }
}

}  // namespace

url url::parse(std::string_view text) {
  url u;
  auto colon = text.find("://");
  if (colon == std::string_view::npos) bad(text, "no scheme (expected http:// or https://)");
  std::string scheme(text.substr(0, colon));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  if (scheme != "http" && scheme != "https") bad(text, "unsupported scheme \"" + scheme + "\" (only http and https)");
  u.scheme = scheme;
  std::string_view rest = text.substr(colon + 3);
  std::size_t end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (auth.find('@') != std::string_view::npos) bad(text, "credentials in URLs are not supported");
  if (auth.empty()) bad(text, "no host");
  std::string_view host, port;
  if (auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) bad(text, "unterminated IPv6 literal");
    host = auth.substr(1, close - 1);
    std::string h(host);
    in6_addr a6{};
    if (::inet_pton(AF_INET6, h.c_str(), &a6) != 1) bad(text, "invalid IPv6 literal");
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad(text, "junk after the IPv6 literal");
      port = after.substr(1);
    }
  } else {
    auto c = auth.rfind(':');
    host = auth.substr(0, c);
    if (c != std::string_view::npos) port = auth.substr(c + 1);
    if (host.empty()) bad(text, "no host");
    if (host.size() > 253) bad(text, "host name longer than 253 bytes");
    for (char ch : host)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_'))
        bad(text, "invalid character in the host name");
  }
  u.host = std::string(host);
  std::transform(u.host.begin(), u.host.end(), u.host.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!port.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) bad(text, "invalid port");
    u.port = static_cast<std::uint16_t>(v);
  } else if (auth.back() == ':') {
    bad(text, "empty port");
  } else {
    u.port = u.scheme == "https" ? 443 : 80;
  }
  std::string_view target = tail.substr(0, tail.find('#'));  // the fragment stays with the client
  check_target(text, target);
  if (target.empty() || target.front() == '?') u.target = "/" + std::string(target);
  else u.target = std::string(target);
  return u;
}

std::string url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  return default_port ? h : h + ":" + std::to_string(port);
}

std::string url::to_string() const { return scheme + "://" + authority() + target; }

url url::resolve(std::string_view ref) const {
  if (ref.find("://") != std::string_view::npos) {
    auto colon = ref.find(':');
    std::string scheme(ref.substr(0, colon));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    if (scheme != "http" && scheme != "https")
      throw error(errc::bad_redirect, to_string(), "redirect to a non-http(s) URL: " + std::string(ref));
    return parse(ref);
  }
  if (ref.substr(0, 2) == "//") return parse(scheme + ":" + std::string(ref));
  if (!ref.empty() && ref.front() == '/') return parse(scheme + "://" + authority() + std::string(ref));
  if (ref.find(':') != std::string_view::npos && ref.find(':') < ref.find('/'))
    throw error(errc::bad_redirect, to_string(), "redirect to a non-http(s) URL: " + std::string(ref));
  // Relative path: replace the last segment of the current path.
  std::string path = target.substr(0, target.find('?'));
  path = path.substr(0, path.rfind('/') + 1);
  return parse(scheme + "://" + authority() + path + std::string(ref));
}

}  // namespace greenring::http
