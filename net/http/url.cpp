// greenring — http(s) URLs: parsing, formatting, resolving a Location.
#include <greenring/http.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

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

namespace {

// RFC 3986 5.2.4: removes "." and ".." segments from an absolute path.
std::string remove_dot_segments(std::string in) {
  std::string out;
  auto pop_last = [&out] {
    auto slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  auto starts = [&in](std::string_view p) { return in.compare(0, p.size(), p) == 0; };
  while (!in.empty()) {
    if (starts("../")) {
      in.erase(0, 3);
    } else if (starts("./")) {
      in.erase(0, 2);
    } else if (starts("/./")) {
      in.replace(0, 3, "/");
    } else if (in == "/.") {
      in = "/";
    } else if (starts("/../")) {
      in.replace(0, 4, "/");
      pop_last();
    } else if (in == "/..") {
      in = "/";
      pop_last();
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      const auto end = in.find('/', in.front() == '/' ? 1 : 0);
      out.append(in, 0, end);
      in.erase(0, end);
    }
  }
  return out;
}

// A Location as servers send it: spaces and non-ASCII bytes (UTF-8 paths)
// are percent-encoded, as browsers and curl do; control bytes stay invalid.
std::string encode_unsafe(std::string_view ref) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string r;
  r.reserve(ref.size());
  for (char ch : ref) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c >= 0x80) {
      r += '%';
      r += hex[c >> 4];
      r += hex[c & 15];
    } else {
      r += ch;
    }
  }
  return r;
}

// A target's path and its query (with its '?', or empty).
std::pair<std::string, std::string> split_target(const std::string& t) {
  const auto q = t.find('?');
  return {t.substr(0, q), q == std::string::npos ? std::string() : t.substr(q)};
}

bool is_scheme_char(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

}  // namespace

url url::resolve(std::string_view location) const {
  // RFC 3986 5.2.2, with the fragment dropped (it stays with the client).
  std::string ref = encode_unsafe(location.substr(0, location.find('#')));
  const auto redirect_error = [&] {
    return error(errc::bad_redirect, to_string(), "redirect to a non-http(s) URL: " + std::string(location));
  };
  // A reference with its own authority: its path without dot segments.
  const auto absolute = [](const std::string& text) {
    url u = parse(text);
    auto [path, query] = split_target(u.target);
    u.target = remove_dot_segments(path) + query;
    return u;
  };
  // A scheme is letters, digits, + - . before the first ':', which must come
  // before any '/', '?': "/login?next=http://x" is a path.
  const auto colon = ref.find_first_of(":/?");
  if (colon != std::string::npos && ref[colon] == ':' && colon > 0 &&
      std::isalpha(static_cast<unsigned char>(ref[0])) &&
      std::all_of(ref.begin(), ref.begin() + static_cast<std::ptrdiff_t>(colon), is_scheme_char)) {
    std::string s = ref.substr(0, colon);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s != "http" && s != "https") throw redirect_error();
    if (ref.compare(colon + 1, 2, "//") == 0) return absolute(ref);
    // "http:g": the same scheme with a relative reference (5.2.2's
    // backward-compatible reading); another scheme without an authority
    // names no host.
    if (s != scheme) throw error(errc::bad_redirect, to_string(), "redirect without a host: " + std::string(location));
    ref.erase(0, colon + 1);
  }
  if (ref.compare(0, 2, "//") == 0) return absolute(scheme + ":" + ref);
  auto [ref_path, query] = split_target(ref);  // a query, even "?", starts with '?'
  auto [base_path, base_query] = split_target(target);
  std::string path;
  if (ref_path.empty()) {
    path = base_path;
    if (query.empty()) query = base_query;
  } else {
    path = remove_dot_segments(ref_path.front() == '/' ? ref_path : base_path.substr(0, base_path.rfind('/') + 1) + ref_path);
  }
  if (path.empty() || path.front() != '/') path.insert(0, "/");
  return parse(scheme + "://" + authority() + path + query);
}

}  // namespace greenring::http
