// greenring — HTTP/1.1 client and a small server, on greenring sockets.
//
//   auto r = greenring::http::get("http://127.0.0.1:8080/index.html");
//   std::printf("%d, %zu bytes\n", r.status, r.body.size());
//
// The server on the other end is untrusted. Responses are parsed strictly
// and with limits (header bytes, header count, body size), bodies are framed
// by Content-Length, chunked encoding or connection close exactly as RFC
// 9112 says, and a body that ends early is an error (`truncated_body`),
// never a short success. A connection goes back to the keep-alive pool only
// after its response was read exactly to its end. Every request has a
// connect timeout, a per-read idle timeout and a total deadline that a
// server dripping bytes cannot stretch. Errors are http::error: a code, the
// URL and a message naming what went wrong.
//
// https:// goes through greenring::tls: verified by default against the
// system CA store (plus options.ca_pem), host name and SNI included;
// options.insecure turns verification off.
#pragma once

#include <greenring/address.hpp>
#include <greenring/detail/duration.hpp>
#include <greenring/file.hpp>
#include <greenring/socket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace greenring::http {

enum class errc {
  bad_url = 1,         // not an http(s) URL we accept
  unsupported,         // e.g. a 101 switch, or a content coding we cannot decode
  connect_failed,      // resolve or connect
  timeout,             // connect, idle or total deadline
  bad_response,        // malformed status line, headers, framing
  too_large,           // a configured limit was exceeded
  truncated_body,      // the connection ended before the body did
  too_many_redirects,  // more hops than options.max_redirects
  bad_redirect,        // Location missing, malformed, or to another scheme
  io,                  // a socket error after connecting
  tls,                 // handshake or certificate verification failed, or a corrupt record or fatal alert later
};
const char* to_string(errc e) noexcept;

class error : public std::runtime_error {
 public:
  error(errc code, std::string url, const std::string& what)
      : std::runtime_error(url + ": " + what), code_(code), url_(std::move(url)) {}
  errc code() const noexcept { return code_; }
  const std::string& url() const noexcept { return url_; }

 private:
  errc code_;
  std::string url_;
};

/// A parsed http:// or https:// URL.
struct url {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower-case name or IP literal (no brackets)
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"
  /// Throws error(errc::bad_url) naming what is wrong.
  static url parse(std::string_view text);
  /// "host" or "host:port" (brackets for IPv6), as the Host header wants.
  std::string authority() const;
  std::string to_string() const;
  /// Resolves `ref` (absolute, scheme-relative, absolute-path or relative
  /// path) against this URL, as a Location header needs.
  url resolve(std::string_view ref) const;
};

struct header {
  std::string name;
  std::string value;
};
using headers = std::vector<header>;
/// The first value of `name` (case-insensitive), or nullptr.
const std::string* find_header(const headers& h, std::string_view name) noexcept;

struct response {
  int status = 0;
  std::string reason;
  headers head;
  std::string body;        // empty when streamed (options.on_body, client::download)
  std::uint64_t body_bytes = 0;  // body bytes delivered (after decoding)
  std::string url;         // after redirects
  /// The coding removed by options.decompress ("gzip" or "deflate"); its
  /// Content-Encoding and Content-Length headers are then dropped from
  /// `head`, since they describe the bytes on the wire, not `body`.
  std::string content_encoding;
  const std::string* header(std::string_view name) const noexcept { return find_header(head, name); }
};

struct options {
  headers extra_headers;                                   // sent with every request
  duration connect_timeout = std::chrono::seconds(10);
  duration tls_handshake_timeout = std::chrono::seconds(10);
  duration idle_timeout = std::chrono::seconds(30);       // each read
  duration total_timeout = std::chrono::seconds(120);     // the whole request, redirects included
  std::size_t max_header_line = 8 * 1024;
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_headers = 100;
  std::uint64_t max_body_bytes = 64ull << 20;              // when buffering in memory
  int max_redirects = 10;
  bool follow_redirects = true;
  /// Connections a client has open at once (idle ones included), over all
  /// hosts; a request beyond it waits (within its total deadline) or
  /// closes an idle connection to another host. 0: no limit.
  std::size_t max_connections = 1024;
  /// The same, per (scheme, host, port). 0: only max_connections applies.
  std::size_t max_connections_per_host = 0;
  /// Send `Accept-Encoding: gzip, deflate` (unless extra headers set one)
  /// and decode gzip/deflate bodies; other codings are errc::unsupported.
  /// max_body_bytes and on_body see the decoded bytes.
  bool decompress = false;
  bool insecure = false;              // https: skip certificate and host checks
  std::vector<std::string> ca_pem;    // https: extra trusted CAs (PEM)
  /// Called with each piece of the body instead of buffering it (no size
  /// limit then). Return false to abort (errc::too_large).
  std::function<bool(const char* data, std::size_t n)> on_body;
};

/// What a server said before its body: for the parser, and for tests.
struct response_head {
  int status = 0;
  int minor_version = 1;
  std::string reason;
  headers head;
};

namespace detail {
struct pool_state;
struct server_state;
}

/// A client with a keep-alive connection pool per (scheme, host, port),
/// usable from many tasks of one thread at once.
class client {
 public:
  explicit client(options opts = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  response get(std::string_view url);
  response head(std::string_view url);
  response post(std::string_view url, std::string body, std::string content_type = "application/octet-stream");
  /// Any method; `body` is sent with Content-Length when non-empty (or
  /// when the method is POST/PUT/PATCH).
  response request(std::string_view method, std::string_view url, std::string body = {}, headers extra = {});

  /// Streams the body of `url` (GET, redirects followed) into the file at
  /// `path`: written to `path + ".part"` as it arrives, renamed to `path`
  /// once complete, removed on any error. No max_body_bytes limit; the
  /// response's status says whether the server sent what was asked for.
  response download(std::string_view url, const std::string& path);

  /// Idle keep-alive connections held now (all hosts).
  std::size_t idle_connections() const noexcept;
  /// Connections made so far.
  std::uint64_t connections_made() const noexcept;
  /// Connections open now (idle and in use).
  std::size_t open_connections() const noexcept;
  const options& settings() const noexcept { return opts_; }

 private:
  using body_sink = std::function<bool(const char*, std::size_t)>;
  response send(std::string_view method, std::string_view url, std::string body, headers extra, const body_sink* sink);
  options opts_;
  std::unique_ptr<detail::pool_state> pool_;
};

/// One request with a client of its own (no connection reuse).
response get(std::string_view url, const options& opts = {});

// ---------------------------------------------------------------- server

struct request {
  std::string method;
  std::string target;
  int minor_version = 1;
  headers head;
  std::string body;
  address peer;
  const std::string* header(std::string_view name) const noexcept { return find_header(head, name); }
  /// The target's path, without query or fragment, whatever form the
  /// client used: "/a/b" for "/a/b?x=1" and for "http://host/a/b"
  /// (absolute form, which servers must accept); "*" for OPTIONS *; empty
  /// for CONNECT's host:port. Not percent-decoded.
  std::string_view path() const noexcept;
};

struct reply {
  int status = 200;
  headers head;  // Content-Length and Connection are added
  std::string body;
  /// Set instead of `body` to send `file_length` bytes of this open file
  /// from `file_offset` (file_reply() fills all three): up to 32 KiB read
  /// and sent with the head; larger over plain HTTP with
  /// tcp_stream::send_file, no copy through user space; over TLS read and
  /// written 64 KiB at a time. A file that turns out shorter than
  /// file_length ends the connection after what it had (the client sees a
  /// truncated body, never a wrong one). Shared, so replies copy cheaply.
  std::shared_ptr<greenring::file> file = nullptr;
  std::uint64_t file_offset = 0;
  std::uint64_t file_length = 0;
};

/// A 200 reply with the regular file at `path` as its body (and this
/// Content-Type), or a 404 when it cannot be opened or is not a regular
/// file (a directory, a device). No Range support.
reply file_reply(const std::string& path, std::string content_type = "application/octet-stream");

struct server_options {
  std::string tls_cert_pem, tls_key_pem;       // both set: serve https
  duration delay = duration::zero();           // before each response (simulated latency)
  duration idle_timeout = std::chrono::seconds(60);  // each read, and between requests
  /// From a request's first byte to the end of its head; then 408 and close.
  duration header_timeout = std::chrono::seconds(30);
  std::size_t max_request_head = 16 * 1024;
  std::size_t max_request_body = 1 << 20;
  /// SO_REUSEPORT on the listening socket: servers on several hubs (see
  /// run_hubs) share one port, and the kernel spreads connections over them.
  bool reuse_port = false;
};

/// A small HTTP/1.1 server: a task per connection, keep-alive, a handler
/// per request. For examples, tests and benchmarks.
class server {
 public:
  using handler_type = std::function<reply(const request&)>;
  server(const address& at, handler_type handler, server_options opts = {});
  ~server();
  void start();
  void serve_forever();
  /// Stops accepting, closes idle keep-alive connections at once, lets
  /// requests in progress finish (their connections then close), waits up
  /// to `grace`, then kills what is left.
  void stop(duration grace = std::chrono::seconds(5));
  const address& local() const noexcept;
  std::uint64_t connections_accepted() const noexcept;
  std::uint64_t requests_served() const noexcept;

 private:
  std::shared_ptr<detail::server_state> st_;
  std::unique_ptr<stream_server> srv_;
};

/// The reason phrase of a status code ("OK", "Not Found", ...).
const char* reason_phrase(int status) noexcept;

}  // namespace greenring::http
