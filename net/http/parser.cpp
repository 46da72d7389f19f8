// greenring — HTTP/1.1 heads and framing (see parser.hpp for the rules).
#include "parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace greenring::http {

namespace detail {
bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace detail

const std::string* find_header(const headers& h, std::string_view name) noexcept {
  for (const auto& f : h)
    if (detail::iequals(f.name, name)) return &f.value;
  return nullptr;
}

namespace detail {
namespace {

bool is_tchar(char c) noexcept {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits `head` (ending in an empty line) into lines, checking each byte
// once. Lines end in CRLF, or (l.bare_lf) in LF with an optional CR.
template <class F>
void for_each_line(std::string_view head, const limits& l, F&& fn) {
  std::size_t start = 0, count = 0;
  while (start < head.size()) {
    std::string_view line;
    if (l.bare_lf) {
      const std::size_t lf = head.find('\n', start);
      if (lf == std::string_view::npos) throw parse_error("missing line end in the header block");
      line = head.substr(start, lf - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find('\r') != std::string_view::npos) throw parse_error("bare CR in the header block");
      start = lf + 1;
    } else {
      const std::size_t cr = head.find('\r', start);
      if (cr == std::string_view::npos || cr + 1 >= head.size() || head[cr + 1] != '\n')
        throw parse_error("bare CR or missing CRLF in the header block");
      line = head.substr(start, cr - start);
      if (line.find('\n') != std::string_view::npos) throw parse_error("bare LF in the header block");
      start = cr + 2;
    }
    if (line.size() > l.max_line) throw parse_error("header line longer than " + std::to_string(l.max_line) + " bytes", true);
    if (line.find('\0') != std::string_view::npos) throw parse_error("NUL byte in the header block");
    if (line.empty()) return;  // the blank line that ends the head
    if (++count > l.max_headers + 1) throw parse_error("more than " + std::to_string(l.max_headers) + " header fields", true);
    fn(line, count == 1);
  }
}

header parse_field(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') throw parse_error("obsolete line folding in a header");
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) throw parse_error("header line without a field name");
  std::string_view name = line.substr(0, colon);
  for (char c : name)
    if (!is_tchar(c)) throw parse_error("invalid character in header name (whitespace before the colon?)");
  std::string_view value = trim(line.substr(colon + 1));
  for (char c : value)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      throw parse_error("control character in a header value");
  return header{std::string(name), std::string(value)};
}

// Parses a Content-Length value (maybe a list of equal values).
std::optional<std::uint64_t> parse_length_list(std::string_view v) {
  std::optional<std::uint64_t> out;
  while (true) {
    auto comma = v.find(',');
    std::string_view item = trim(v.substr(0, comma));
    if (item.empty()) throw parse_error("empty Content-Length");
    std::uint64_t n = 0;
    for (char c : item) {
      if (c < '0' || c > '9') throw parse_error("Content-Length is not a number");
      if (n > (UINT64_MAX - 9) / 10) throw parse_error("Content-Length overflows", true);
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (out && *out != n) throw parse_error("conflicting Content-Length values");
    out = n;
    if (comma == std::string_view::npos) return out;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace

namespace {
// The end of the first empty line when lines may end in LF alone: "\n\n"
// or "\n\r\n" (npos while there is none yet). An empty first line ends
// the head too, as it does for CRLF heads (parsing then refuses it).
std::size_t find_lf_head_end(std::string_view buf) noexcept {
  if (buf.substr(0, 1) == "\n") return 1;
  if (buf.substr(0, 2) == "\r\n") return 2;
  for (std::size_t lf = buf.find('\n'); lf != std::string_view::npos; lf = buf.find('\n', lf + 1)) {
    if (lf + 1 < buf.size() && buf[lf + 1] == '\n') return lf + 2;
    if (lf + 2 < buf.size() && buf[lf + 1] == '\r' && buf[lf + 2] == '\n') return lf + 3;
  }
  return std::string_view::npos;
}
}  // namespace

std::size_t find_head_end(std::string_view buf, const limits& l) {
  std::size_t stop;  // one past the empty line that ends the head, or npos
  if (l.bare_lf) {
    stop = find_lf_head_end(buf);
  } else {
    const std::size_t end = buf.find("\r\n\r\n");
    // A bare LF is refused now (for_each_line would refuse it later), not
    // after the peer closed or the idle timeout: such a head never ends.
    const std::size_t scan = end == std::string_view::npos ? buf.size() : end;
    for (std::size_t lf = buf.find('\n'); lf < scan; lf = buf.find('\n', lf + 1))
      if (lf == 0 || buf[lf - 1] != '\r') throw parse_error("bare LF in the header block (lines end in CRLF)");
    stop = end == std::string_view::npos ? end : end + 4;
  }
  if (stop == std::string_view::npos) {
    if (buf.size() > l.max_bytes) throw parse_error("header block larger than " + std::to_string(l.max_bytes) + " bytes", true);
    // A line already too long is an error now, not after more bytes.
    std::size_t last = buf.rfind('\n');
    std::size_t line = last == std::string_view::npos ? buf.size() : buf.size() - last - 1;
    if (line > l.max_line + 1) throw parse_error("header line longer than " + std::to_string(l.max_line) + " bytes", true);
    return 0;
  }
  if (stop > l.max_bytes) throw parse_error("header block larger than " + std::to_string(l.max_bytes) + " bytes", true);
  return stop;
}

void check_request_start(std::string_view buf) {
  std::size_t i = 0;
  while (i < buf.size() && i <= max_method_bytes && is_tchar(buf[i])) ++i;
  if (i > max_method_bytes) throw parse_error("request method longer than 64 bytes");
  if (i == buf.size()) return;  // a method so far
  if (i > 0 && (buf[i] == ' ' || buf[i] == '\r')) return;  // the rest is parse_request_head's
  throw parse_error(buf[i] == ' ' ? "request line starts with a space"
                                  : "request line does not start with a method (TLS or another protocol on a "
                                    "plain-HTTP port?)");
}

response_head parse_response_head(std::string_view head, const limits& l) {
  response_head r;
  for_each_line(head, l, [&](std::string_view line, bool first) {
    if (!first) {
      r.head.push_back(parse_field(line));
      return;
    }
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
      throw parse_error("invalid status line (not HTTP/1.0 or HTTP/1.1)");
    r.minor_version = line[7] - '0';
    for (int i = 9; i < 12; ++i)
      if (line[static_cast<std::size_t>(i)] < '0' || line[static_cast<std::size_t>(i)] > '9')
        throw parse_error("invalid status code");
    if (line.size() > 12 && line[12] != ' ') throw parse_error("invalid status code");
    r.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (r.status < 100) throw parse_error("invalid status code");
    if (line.size() > 13) {
      std::string_view reason = line.substr(13);
      for (char c : reason)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) throw parse_error("control character in the reason phrase");
      r.reason = std::string(reason);
    }
  });
  if (r.status == 0) throw parse_error("empty response head");
  return r;
}

request parse_request_head(std::string_view head, const limits& l) {
  request r;
  for_each_line(head, l, [&](std::string_view line, bool first) {
    if (!first) {
      r.head.push_back(parse_field(line));
      return;
    }
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1)
      throw parse_error("invalid request line");
    std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1), ver = line.substr(sp2 + 1);
    for (char c : method)
      if (!is_tchar(c)) throw parse_error("invalid method");
    if (method.size() > max_method_bytes) throw parse_error("request method longer than 64 bytes");
    for (char c : target)
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) throw parse_error("invalid request target");
    // HTTP-version = "HTTP/" DIGIT "." DIGIT. A higher minor version of
    // 1 is served as 1.1 (RFC 9110 2.5); another major version is not.
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (ver.find(' ') != std::string_view::npos) throw parse_error("invalid request line (a space in the target?)");
    if (ver.size() != 8 || ver.substr(0, 5) != "HTTP/" || !digit(ver[5]) || ver[6] != '.' || !digit(ver[7]))
      throw parse_error("invalid HTTP version");
    if (ver[5] != '1') throw version_error("unsupported HTTP version " + std::string(ver.substr(5)) + " (1.0 and 1.1 only)");
    r.method = std::string(method);
    r.target = std::string(target);
    r.minor_version = ver[7] == '0' ? 0 : 1;
  });
  if (r.method.empty()) throw parse_error("empty request head");
  // RFC 9112 3.2: exactly one Host in HTTP/1.1 (at most one in 1.0).
  std::size_t hosts = 0;
  for (const auto& f : r.head)
    if (iequals(f.name, "Host")) ++hosts;
  if (hosts > 1) throw parse_error("more than one Host header");
  if (hosts == 0 && r.minor_version == 1) throw parse_error("missing Host header");
  return r;
}

bool persistent(const headers& h, int minor_version) noexcept {
  if (has_token(h, "Connection", "close")) return false;
  return minor_version != 0 || has_token(h, "Connection", "keep-alive");
}

bool has_token(const headers& h, std::string_view name, std::string_view token) noexcept {
  for (const auto& f : h) {
    if (!iequals(f.name, name)) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      auto comma = v.find(',');
      if (iequals(trim(v.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

framing response_framing(const response_head& h, bool head_request) {
  framing f;
  f.reusable = persistent(h.head, h.minor_version);
  if (head_request || (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304) {
    f.k = framing::none;
    return f;
  }
  std::optional<std::uint64_t> length;
  bool te = false;
  for (const auto& fld : h.head) {
    if (iequals(fld.name, "Transfer-Encoding")) {
      // The codings, in order; chunked must be the last, and the only one
      // we undo.
      std::string_view v = fld.value;
      std::string_view last;
      std::size_t count = 0;
      while (!v.empty()) {
        auto comma = v.find(',');
        std::string_view c = trim(v.substr(0, comma));
        if (!c.empty()) {
          last = c;
          ++count;
        }
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
      if (te || count != 1 || !iequals(last, "chunked")) {
        if (!iequals(last, "chunked")) throw parse_error("Transfer-Encoding without chunked as the final coding");
        throw parse_error("unsupported transfer coding before chunked");
      }
      te = true;
    } else if (iequals(fld.name, "Content-Length")) {
      auto n = parse_length_list(fld.value);
      if (length && *length != *n) throw parse_error("conflicting Content-Length headers");
      length = n;
    }
  }
  if (te) {
    f.k = framing::chunked;
    if (length) f.reusable = false;  // both: chunked wins, and the connection is not trusted again
    return f;
  }
  if (length) {
    f.k = framing::by_length;
    f.length = *length;
    return f;
  }
  f.k = framing::until_close;
  f.reusable = false;
  return f;
}

request_body request_body_framing(const request& r) {
  request_body b;
  std::optional<std::uint64_t> length;
  int codings = 0;
  for (const auto& fld : r.head) {
    if (iequals(fld.name, "Content-Length")) {
      auto n = parse_length_list(fld.value);
      if (length && *length != *n) throw parse_error("conflicting Content-Length headers");
      length = n;
    } else if (iequals(fld.name, "Transfer-Encoding")) {
      if (++codings > 1 || !iequals(trim(fld.value), "chunked"))
        throw parse_error("unsupported Transfer-Encoding (only a single \"chunked\")");
      b.chunked = true;
    }
  }
  if (b.chunked && length) throw parse_error("both Transfer-Encoding and Content-Length");
  b.length = length.value_or(0);
  return b;
}

}  // namespace detail

std::string_view request::path() const noexcept {
  std::string_view t = target;
  if (t == "*") return t;
  if (t.empty() || t[0] != '/') {
    // absolute-form: scheme "://" authority [path]
    auto scheme_end = t.find("://");
    if (scheme_end == std::string_view::npos) return {};  // authority-form (CONNECT)
    t.remove_prefix(scheme_end + 3);
    auto slash = t.find_first_of("/?#");
    if (slash == std::string_view::npos || t[slash] != '/') return "/";
    t.remove_prefix(slash);
  }
  return t.substr(0, t.find_first_of("?#"));
}

}  // namespace greenring::http
