// greenring — TLS over a memory BIO pair.
//
// OpenSSL never touches the socket: SSL reads and writes its side of a BIO
// pair; `flush` moves what it wrote from the network side to the socket
// (write_all), `fill` moves what the socket gives into the network side
// (read_some). WANT_READ / WANT_WRITE therefore become ordinary greenring
// waits, with the caller's timeout, kill and `timeout` scopes.
//
// Full duplex: one task may read while another writes. SSL calls never
// park, so they cannot interleave; only the byte moves do, and each has a
// lock. Bytes in the pair's outgoing buffer are consumed only once the
// socket took them, so two flushes at once would send them twice: a flush
// waits for the one under way, then sends what is left. A second fill
// waits for the read under way and lets its caller retry its SSL call on
// what arrived. Whole write_all calls are serialised too: OpenSSL wants a
// write it refused with WANT_WRITE retried with the same bytes before any
// other, and a message stays in one piece on the wire.
#include <greenring/detail/wait_list.hpp>
#include <greenring/lock.hpp>
#include <greenring/tls.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace greenring::tls {
namespace {

using clk = std::chrono::steady_clock;

// What OpenSSL's error queue says, emptying it: each entry's reason
// ("wrong version number"), or its whole packed string when OpenSSL has no
// text for the reason. The codes stay in tls::error::code().
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    if (!out.empty()) out += "; ";
    if (const char* r = ERR_reason_error_string(e)) {
      out += r;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out += buf;
    }
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int v) const override {
    const char* r = ERR_reason_error_string(static_cast<unsigned long>(v));
    return r ? r : "TLS protocol error " + std::to_string(v);
  }
  std::error_condition default_error_condition(int) const noexcept override {
    return std::errc::protocol_error;
  }
};

// An OpenSSL packed error as an error code (see protocol_failure below).
std::error_code code_of(unsigned long e) noexcept {
  if (ERR_SYSTEM_ERROR(e)) return {static_cast<int>(ERR_GET_REASON(e)), std::system_category()};  // an errno
  if (e == 0 || e > static_cast<unsigned long>(std::numeric_limits<int>::max()))
    return std::make_error_code(std::errc::protocol_error);
  return {static_cast<int>(e), category()};
}

// Why the last SSL call failed, from the thread's OpenSSL error queue (its
// earliest entry, the cause), which it empties: a TLS reason, or an errno
// OpenSSL recorded; without one, the generic protocol_error.
std::error_code protocol_failure() noexcept {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  return code_of(e);
}

// An error with what OpenSSL's queue says (emptying it), its first entry as
// the code. The queue is the thread's, shared by every task on it: read it
// before anything can park.
error failure(const std::string& what) {
  const std::error_code ec = code_of(ERR_peek_error());
  return error(what + ": " + openssl_errors(), ec);
}

[[noreturn]] void fail(const std::string& what) { throw failure(what); }

struct bio_ptr {
  BIO* b;
  ~bio_ptr() { BIO_free(b); }
};

bool is_ip(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

// ---------------------------------------------------------------- context

namespace {

// ALPN's wire form: each name prefixed by its length.
std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string w;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) throw std::invalid_argument("tls: an ALPN protocol name must be 1-255 bytes");
    w.push_back(static_cast<char>(p.size()));
    w += p;
  }
  return w;
}

// A server context's ALPN list lives in the SSL_CTX itself (ex data, freed
// with it): sessions may outlive the context object.
int alpn_index() {
  static const int idx = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); });
  return idx;
}

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void*) {
  const auto* ours = static_cast<const std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index()));
  if (!ours) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(ours->data()),
                            static_cast<unsigned>(ours->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

void context::set_alpn(const std::vector<std::string>& protocols) {
  auto* ctx = static_cast<SSL_CTX*>(ctx_);
  auto wire = std::make_unique<std::string>(alpn_wire(protocols));
  delete static_cast<std::string*>(SSL_CTX_get_ex_data(ctx, alpn_index()));
  if (SSL_CTX_set_ex_data(ctx, alpn_index(), wire.get()) != 1) fail("setting the ALPN protocols");
  wire.release();
  SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);
}

context context::client(const client_options& o) {
  context c;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) fail("SSL_CTX_new");
  c.ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!o.alpn.empty()) {
    const std::string wire = alpn_wire(o.alpn);
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0)  // 0 is success here
      fail("setting the ALPN protocols");
  }
  c.verify_ = o.verify;
  if (o.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (o.system_ca && SSL_CTX_set_default_verify_paths(ctx) != 1) fail("loading the system CA store");
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& pem : o.ca_pem) {
      // Every certificate of the text: a CA bundle has several.
      bio_ptr in{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
      int added = 0;
      while (X509* x = PEM_read_bio_X509(in.b, nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, x);  // a duplicate is not an error (OpenSSL 1.1.1+)
        X509_free(x);
        ++added;
      }
      if (added == 0) fail("reading a CA certificate (no PEM certificate in ca_pem)");
      ERR_clear_error();  // the read that found no further certificate
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return c;
}

context context::server(const std::string& cert_pem, const std::string& key_pem) {
  context c;
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) fail("SSL_CTX_new");
  c.ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Client-initiated renegotiation (TLS 1.2) costs the server a handshake
  // per request of an attacker's: refused, as nginx does.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  bio_ptr cin{BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()))};
  X509* x = PEM_read_bio_X509(cin.b, nullptr, nullptr, nullptr);
  if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
    X509_free(x);
    fail("loading the server certificate");
  }
  X509_free(x);
  while (X509* extra = PEM_read_bio_X509(cin.b, nullptr, nullptr, nullptr)) SSL_CTX_add0_chain_cert(ctx, extra);
  ERR_clear_error();
  bio_ptr kin{BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()))};
  EVP_PKEY* k = PEM_read_bio_PrivateKey(kin.b, nullptr, nullptr, nullptr);
  if (!k || SSL_CTX_use_PrivateKey(ctx, k) != 1) {
    EVP_PKEY_free(k);
    fail("loading the server key");
  }
  EVP_PKEY_free(k);
  if (SSL_CTX_check_private_key(ctx) != 1) fail("the key does not match the certificate");
  return c;
}

context::context(context&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)), verify_(o.verify_) {}
context& context::operator=(context&& o) noexcept {
  if (this != &o) {
    SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
    ctx_ = std::exchange(o.ctx_, nullptr);
    verify_ = o.verify_;
  }
  return *this;
}
context::~context() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

// ---------------------------------------------------------------- stream

struct stream::impl {
  tcp_stream sock;
  SSL* ssl = nullptr;
  BIO* net = nullptr;  // our side of the pair; SSL owns the other
  std::string host;
  bool eof = false;
  greenring::mutex flush_lock;  // one socket write of the outgoing bytes at a time
  greenring::mutex fill_lock;   // one socket read into the incoming side at a time
  greenring::mutex write_lock;  // one write_all at a time
  ~impl() {
    SSL_free(ssl);
    BIO_free(net);
  }
  // Everything SSL has written goes to the socket, straight from the
  // pair's buffer (consumed only once the socket took it).
  void flush(std::error_code& ec, clk::time_point dl) {
    if (!take(flush_lock, ec, dl)) return;
    std::lock_guard<greenring::mutex> held(flush_lock, std::adopt_lock);
    char* p = nullptr;
    for (int n; (n = BIO_nread0(net, &p)) > 0;) {
      const std::size_t sent = sock.write_all(const_buffer(p, static_cast<std::size_t>(n)), ec, detail::time_left(dl));
      // What went out is gone from the pair even when the rest did not:
      // a later flush must not send it again.
      BIO_nread(net, &p, static_cast<int>(sent));
      if (ec) return;
    }
  }
  // Reads from the socket straight into the pair's free space (committed
  // only once the read completed), as much as it can take.
  void fill(std::error_code& ec, clk::time_point dl) {
    if (!fill_lock.try_acquire()) {
      // Another task is reading the socket for this session: once its
      // bytes are in, the caller's SSL call is worth retrying.
      if (take(fill_lock, ec, dl)) fill_lock.release();
      return;
    }
    std::lock_guard<greenring::mutex> held(fill_lock, std::adopt_lock);
    fill_with([&](mutable_buffer b, std::error_code& e) { return sock.read_some(b, e, detail::time_left(dl)); }, ec);
  }
  // The part of a fill after the lock: read(buffer, ec) into the pair's free
  // space, as much as it can take; false when it has none.
  template <class Read>
  bool fill_with(Read read, std::error_code& ec) {
    char* p = nullptr;
    const int room = BIO_nwrite0(net, &p);
    if (room <= 0) return false;
    const std::size_t n = read(mutable_buffer(p, static_cast<std::size_t>(room)), ec);
    if (ec) return true;
    if (n == 0) {
      eof = true;
      BIO_shutdown_wr(net);  // SSL sees EOF
      return true;
    }
    BIO_nwrite(net, &p, static_cast<int>(n));
    return true;
  }
  // Takes `m` within the deadline; false (ec = timed_out) when it passed.
  static bool take(greenring::mutex& m, std::error_code& ec, clk::time_point dl) {
    if (m.acquire(detail::time_left(dl))) return true;
    ec = std::make_error_code(std::errc::timed_out);
    return false;
  }
  // After a failed SSL call: the alert OpenSSL queued for the peer
  // (bad_record_mac, unknown_ca, ...) goes out within a second (not past
  // `dl`), so that the peer learns why too. Best effort: we are giving up.
  void send_alert(clk::time_point dl) {
    if (BIO_ctrl_pending(net) == 0) return;
    std::error_code ignored;
    flush(ignored, std::min(dl, clk::now() + std::chrono::seconds(1)));
  }
  // After a failed SSL call that moved no bytes: why, with the alert sent.
  std::error_code fatal(clk::time_point dl) {
    const std::error_code why = protocol_failure();
    send_alert(dl);
    return why;
  }
  // After an SSL call returned `r`: moves bytes as it asks. Returns true to
  // retry the call, false when done (ec set on failure).
  bool pump(int r, std::error_code& ec, clk::time_point dl) {
    const int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_WRITE) {
      flush(ec, dl);
      return !ec;
    }
    if (e == SSL_ERROR_WANT_READ) {
      flush(ec, dl);
      if (ec) return false;
      if (eof) {
        ec = make_error_code(io_errc::end_of_stream);
        return false;
      }
      fill(ec, dl);
      return !ec;
    }
    return false;
  }
};

stream::stream(std::unique_ptr<impl> p) : p_(std::move(p)) {}
stream::stream(stream&&) noexcept = default;
stream& stream::operator=(stream&&) noexcept = default;
stream::~stream() = default;

namespace {

// An SSL object for `ctx` on one end of a fresh BIO pair; greenring keeps
// the other end (impl::net).
std::unique_ptr<stream::impl> new_session(tcp_stream s, const context& ctx) {
  auto p = std::make_unique<stream::impl>();
  p->sock = std::move(s);
  p->ssl = SSL_new(static_cast<SSL_CTX*>(ctx.native()));
  if (!p->ssl) fail("SSL_new");
  BIO* internal = nullptr;
  if (BIO_new_bio_pair(&internal, 0, &p->net, 0) != 1) fail("BIO_new_bio_pair");
  SSL_set_bio(p->ssl, internal, internal);
  return p;
}

// Runs the handshake to its end; `who` names the peer in errors. A client
// failure that comes from verification says why.
void handshake(stream::impl& p, duration timeout, const std::string& who) {
  const auto dl = detail::deadline_in(timeout);
  std::error_code ec;
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(p.ssl);
    if (r == 1) break;
    if (p.pump(r, ec, dl)) continue;
    if (ec == std::errc::timed_out) throw std::system_error(ec, "TLS handshake " + who);
    // Why, before sending the alert parks us and other tasks' SSL calls
    // reset the thread's error queue.
    error why = failure("TLS handshake " + who);
    if (!ec) p.send_alert(dl);  // protocol_version, unknown_ca, ...
    long v = SSL_get_verify_result(p.ssl);
    if (!SSL_is_server(p.ssl) && v != X509_V_OK)
      throw error("TLS handshake " + who + ": certificate verify failed: " + X509_verify_cert_error_string(v),
                  why.code());
    if (ec) throw std::system_error(ec, "TLS handshake " + who);
    throw why;
  }
  p.flush(ec, dl);  // TLS 1.3: our Finished may still be queued
  if (ec) throw std::system_error(ec, "TLS handshake " + who);
}

}  // namespace

stream stream::connect(tcp_stream s, const context& ctx, std::string_view host, duration timeout) {
  auto p = new_session(std::move(s), ctx);
  p->host = std::string(host);
  if (ctx.verify_) {
    SSL_set_hostflags(p->ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (is_ip(host)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl), p->host.c_str()) != 1) fail("setting the IP to verify");
    } else if (SSL_set1_host(p->ssl, p->host.c_str()) != 1) {
      fail("setting the host name to verify");
    }
  }
  if (!is_ip(host)) SSL_set_tlsext_host_name(p->ssl, p->host.c_str());  // SNI
  SSL_set_connect_state(p->ssl);
  handshake(*p, timeout, "with " + p->host + " (" + p->sock.peer().to_string() + ")");
  return stream(std::move(p));
}

stream stream::accept(tcp_stream s, const context& ctx, duration timeout) {
  auto p = new_session(std::move(s), ctx);
  SSL_set_accept_state(p->ssl);
  handshake(*p, timeout, "from " + p->sock.peer().to_string());
  return stream(std::move(p));
}

std::size_t stream::read_some(mutable_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  const auto dl = detail::deadline_in(timeout);
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(p_->ssl, buf.data, buf.size, &n);
    if (r == 1) return n;
    const int e = SSL_get_error(p_->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify: a clean end
    if (p_->pump(r, ec, dl)) continue;
    if (ec) return 0;
    // EOF without close_notify surfaces as SSL_ERROR_SYSCALL/SSL (OpenSSL 3).
    if (p_->eof) {
      ec = make_error_code(io_errc::end_of_stream);
      return 0;
    }
    ec = p_->fatal(dl);
    return 0;
  }
}

std::size_t stream::try_read_some(mutable_buffer buf, std::error_code& ec) {
  ec.clear();
  const auto would_block = std::make_error_code(std::errc::operation_would_block);
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(p_->ssl, buf.data, buf.size, &n);
    if (r == 1) return n;
    const int e = SSL_get_error(p_->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e != SSL_ERROR_WANT_READ) {
      ec = p_->eof ? make_error_code(io_errc::end_of_stream)
                   : (e == SSL_ERROR_WANT_WRITE ? would_block : protocol_failure());
      return 0;
    }
    if (p_->eof) {
      ec = make_error_code(io_errc::end_of_stream);
      return 0;
    }
    // More ciphertext is needed: take what the socket has now, if nobody
    // else is reading it.
    if (!p_->fill_lock.try_acquire()) {
      ec = would_block;
      return 0;
    }
    std::lock_guard<greenring::mutex> held(p_->fill_lock, std::adopt_lock);
    if (!p_->fill_with([&](mutable_buffer b, std::error_code& e) { return p_->sock.try_read_some(b, e); }, ec))
      ec = would_block;
    if (ec) return 0;
  }
}

std::size_t stream::write_all(const_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  const auto dl = detail::deadline_in(timeout);
  if (!impl::take(p_->write_lock, ec, dl)) return 0;
  std::lock_guard<greenring::mutex> held(p_->write_lock, std::adopt_lock);
  std::size_t done = 0;
  const auto* p = static_cast<const char*>(buf.data);
  while (done < buf.size) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_write_ex(p_->ssl, p + done, buf.size - done, &n);
    if (r == 1) {
      done += n;
      p_->flush(ec, dl);
      if (ec) return done;
      continue;
    }
    if (p_->pump(r, ec, dl)) continue;
    if (!ec) ec = p_->fatal(dl);
    return done;
  }
  return done;
}

void stream::write_all(const_buffer buf, duration timeout) {
  std::error_code ec;
  write_all(buf, ec, timeout);
  if (ec) throw std::system_error(ec, "TLS send to " + p_->sock.peer().to_string());
}

std::string_view stream::alpn() const noexcept {
  const unsigned char* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(p_->ssl, &p, &n);
  return {reinterpret_cast<const char*>(p), n};
}

void stream::shutdown() noexcept {
  if (!p_ || !p_->ssl) return;
  ERR_clear_error();
  SSL_shutdown(p_->ssl);
  std::error_code ec;
  try {
    p_->flush(ec, clk::now() + std::chrono::seconds(1));
  } catch (...) {
    // Killed while saying goodbye: the connection closes anyway.
  }
}

void stream::close() noexcept {
  if (p_) p_->sock.close();
}

tcp_stream& stream::lower() noexcept { return p_->sock; }

std::string stream::version() const { return SSL_get_version(p_->ssl); }

// ---------------------------------------------------------------- certificates

certificate make_certificate(const certificate_request& r) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) fail("generating a key");
  X509* x = X509_new();
  struct guard {
    EVP_PKEY* k;
    X509* x;
    ~guard() {
      X509_free(x);
      EVP_PKEY_free(k);
    }
  } g{key, x};
  X509_set_version(x, 2);
  unsigned char serial[16];
  for (auto& b : serial) b = static_cast<unsigned char>(std::rand());
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), static_cast<long>(r.valid_from_days) * 86400);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(r.valid_from_days + r.valid_days) * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(r.common_name.c_str()),
                             -1, -1, 0);
  EVP_PKEY* signer = key;
  X509* issuer_cert = nullptr;
  if (r.issuer) {
    bio_ptr cin{BIO_new_mem_buf(r.issuer->cert_pem.data(), static_cast<int>(r.issuer->cert_pem.size()))};
    issuer_cert = PEM_read_bio_X509(cin.b, nullptr, nullptr, nullptr);
    bio_ptr kin{BIO_new_mem_buf(r.issuer->key_pem.data(), static_cast<int>(r.issuer->key_pem.size()))};
    signer = PEM_read_bio_PrivateKey(kin.b, nullptr, nullptr, nullptr);
    if (!issuer_cert || !signer) fail("reading the issuer");
    X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  } else {
    X509_set_issuer_name(x, name);
  }
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer_cert ? issuer_cert : x, x, nullptr, nullptr, 0);
  auto add_ext = [&](int nid, const std::string& value) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (!e) fail("making a certificate extension");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  };
  add_ext(NID_basic_constraints, r.is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (r.is_ca) add_ext(NID_key_usage, "critical,keyCertSign,cRLSign");
  std::string san;
  for (const auto& d : r.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : r.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) add_ext(NID_subject_alt_name, san);
  const bool ok = X509_sign(x, signer, EVP_sha256()) > 0;
  if (signer != key) EVP_PKEY_free(signer);
  X509_free(issuer_cert);
  if (!ok) fail("signing the certificate");
  certificate out;
  bio_ptr cb{BIO_new(BIO_s_mem())}, kb{BIO_new(BIO_s_mem())};
  PEM_write_bio_X509(cb.b, x);
  PEM_write_bio_PrivateKey(kb.b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(cb.b, &data);
  out.cert_pem.assign(data, static_cast<std::size_t>(n));
  n = BIO_get_mem_data(kb.b, &data);
  out.key_pem.assign(data, static_cast<std::size_t>(n));
  return out;
}

}  // namespace greenring::tls
