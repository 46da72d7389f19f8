// greenring — TLS 1.2/1.3 on OpenSSL over greenring sockets, client and
// server. The handshake and every read and write park the task, never the
// thread: OpenSSL works on a memory BIO pair and greenring moves the bytes.
//
// Clients verify by default: the system CA store (plus any CA you add),
// SSL_VERIFY_PEER, the host name (SSL_set1_host, SAN only: a certificate
// without a matching subjectAltName fails) and SNI, TLS 1.2 at least.
// Turning verification off is an explicit option. Failures carry OpenSSL's
// reason ("certificate verify failed: certificate has expired").
//
// Full duplex, as Go's tls.Conn: one task may read while another writes.
// Several writers are served one whole write_all after another; several
// readers each get what arrives next. Bytes move between the socket and
// the BIO pair's own buffers without a copy and without a buffer on the
// task's stack.
#pragma once

#include <greenring/buffer.hpp>
#include <greenring/detail/duration.hpp>
#include <greenring/socket.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace greenring::tls {

/// A handshake, verification or protocol failure.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what, std::error_code code = std::make_error_code(std::errc::protocol_error))
      : std::runtime_error(what), code_(code) {}
  /// OpenSSL's first error in tls::category() ("certificate verify failed",
  /// "wrong version number"), an errno it recorded, or protocol_error.
  std::error_code code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

/// The category of a TLS failure after the handshake (a corrupt or forged
/// record, a fatal alert from the peer): the value is OpenSSL's packed
/// error code, message() its reason ("decryption failed or bad record
/// mac", "tlsv1 alert internal error"), and every such code compares equal
/// to std::errc::protocol_error.
const std::error_category& category() noexcept;

struct client_options {
  bool verify = true;                 // false: no certificate or host check (--insecure)
  std::vector<std::string> ca_pem;    // extra trusted CAs, PEM text (each may hold several certificates)
  bool system_ca = true;              // also trust the system store
  std::vector<std::string> alpn;      // protocols offered by ALPN, preferred first ("http/1.1"); empty: none
};

/// An SSL_CTX: share one between many connections.
class context {
 public:
  static context client(const client_options& o = {});
  /// A server context from a certificate chain and key, PEM text.
  static context server(const std::string& cert_pem, const std::string& key_pem);
  /// Server side of ALPN: the first of `protocols` that the client also
  /// offers is chosen; with none in common the handshake goes on without
  /// one (the client then speaks its default), as nginx does.
  void set_alpn(const std::vector<std::string>& protocols);
  context(context&&) noexcept;
  context& operator=(context&&) noexcept;
  ~context();
  void* native() const noexcept { return ctx_; }

 private:
  context() = default;
  void* ctx_ = nullptr;
  bool verify_ = true;
  friend class stream;
};

/// A TLS connection over a tcp_stream it owns.
class stream {
 public:
  /// Client handshake for `host` (name or IP literal) on a connected
  /// stream, bounded by `timeout`. Throws tls::error (with the verify
  /// reason) or std::system_error (IO), timed_out included.
  static stream connect(tcp_stream s, const context& ctx, std::string_view host, duration timeout = forever);
  /// Server handshake on an accepted stream.
  static stream accept(tcp_stream s, const context& ctx, duration timeout = forever);
  stream(stream&&) noexcept;
  stream& operator=(stream&&) noexcept;
  ~stream();

  /// Decrypted bytes (at least 1); 0 after the peer's close_notify. An
  /// EOF without close_notify is io_errc::end_of_stream (a truncation
  /// attack or a careless peer: the caller decides).
  std::size_t read_some(mutable_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Decrypted bytes already there, without waiting (tcp_stream's
  /// try_read_some under TLS): records that carry no data (a session
  /// ticket, a key update) are processed; std::errc::operation_would_block
  /// when no data is left to read now; 0 after close_notify.
  std::size_t try_read_some(mutable_buffer buf, std::error_code& ec);
  std::size_t write_all(const_buffer buf, std::error_code& ec, duration timeout = forever);
  void write_all(const_buffer buf, duration timeout = forever);
  /// The protocol ALPN settled on ("http/1.1"), or empty.
  std::string_view alpn() const noexcept;
  /// Sends close_notify (does not wait for the peer's).
  void shutdown() noexcept;
  void close() noexcept;
  tcp_stream& lower() noexcept;
  /// "TLSv1.3" and the like.
  std::string version() const;

  struct impl;  // internal (net/tls.cpp)

 private:
  explicit stream(std::unique_ptr<impl> p);
  std::unique_ptr<impl> p_;
};

/// A key and certificate, PEM text.
struct certificate {
  std::string cert_pem;
  std::string key_pem;
};

/// What make_certificate should make (for examples and tests).
struct certificate_request {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names = {"localhost"};  // subjectAltName DNS entries
  std::vector<std::string> ip_addresses = {};         // subjectAltName IP entries
  int valid_from_days = 0;                             // negative: in the past
  int valid_days = 30;
  bool is_ca = false;
  const certificate* issuer = nullptr;                 // nullptr: self-signed
};
/// A fresh EC P-256 key and a certificate for it.
certificate make_certificate(const certificate_request& r);

}  // namespace greenring::tls
