// greenring — resolve(): getaddrinfo on the resolver's own thread pool.
//
// The worker owns everything it touches (a copy of the host name, its own
// result), so a task killed while waiting leaves nothing dangling: the job
// finishes on its own. Lookups of one name (and family) in flight on a
// thread are shared: a thousand tasks connecting to one host cost one
// getaddrinfo, and one slow DNS answer holds one worker, not a thousand.
// Ports are not part of the lookup; each caller's is put into its copy.
#include <greenring/event.hpp>
#include <greenring/resolver.hpp>
#include <greenring/threadpool.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>

namespace greenring {
namespace {

class resolver_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "resolver"; }
  std::string message(int e) const override { return ::gai_strerror(e); }
};

struct lookup {
  std::vector<address> addrs;  // port 0
  int gai = 0;
  int err = 0;  // errno for EAI_SYSTEM
};

lookup run_getaddrinfo(const std::string& host, int family) noexcept {
  lookup out;
  try {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    out.gai = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (out.gai == EAI_SYSTEM) out.err = errno;
    if (out.gai == 0) {
      for (addrinfo* p = res; p; p = p->ai_next) {
        address a = address::from_native(p->ai_addr, p->ai_addrlen);
        bool dup = false;
        for (const auto& b : out.addrs) dup = dup || b == a;
        if (!dup) out.addrs.push_back(a);
      }
      ::freeaddrinfo(res);
    }
  } catch (const std::bad_alloc&) {
    out = lookup{};
    out.gai = EAI_MEMORY;
  }
  return out;
}

void set_port(address& a, std::uint16_t port) noexcept {
  if (a.family() == AF_INET) reinterpret_cast<sockaddr_in*>(a.native())->sin_port = htons(port);
  else if (a.family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(a.native())->sin6_port = htons(port);
}

// One lookup in flight, shared by every task on this thread that asked for
// the same name and family meanwhile.
struct flight {
  event done;
  lookup result;
};
using flight_key = std::pair<std::string, int>;
std::map<flight_key, std::shared_ptr<flight>>& flights() {
  thread_local std::map<flight_key, std::shared_ptr<flight>> m;
  return m;
}

threadpool* dns_pool = nullptr;
std::mutex dns_mu;

// In a forked child the workers do not exist: make new ones on first use.
void forget_dns_pool_after_fork() noexcept {
  dns_pool = nullptr;
  new (&dns_mu) std::mutex();
  flights().clear();  // the parent's lookups will never answer here
}

}  // namespace

threadpool& resolver_pool() {
  static const int registered = ::pthread_atfork(nullptr, nullptr, &forget_dns_pool_after_fork);
  (void)registered;
  std::lock_guard<std::mutex> g(dns_mu);
  // Never destroyed: workers may be inside getaddrinfo at exit.
  if (!dns_pool) dns_pool = new threadpool(resolver_threads);
  return *dns_pool;
}

const std::error_category& resolver_category() noexcept {
  static const resolver_category_impl c;
  return c;
}

std::vector<address> resolve(std::string_view host, std::uint16_t port, std::error_code& ec, int family) {
  return resolve(host, port, ec, family, forever);
}

std::vector<address> resolve(std::string_view host, std::uint16_t port, std::error_code& ec, int family,
                             duration timeout) {
  ec.clear();
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty() || h.size() > 253 || h.find('\0') != std::string::npos) {
    ec = {EAI_NONAME, resolver_category()};
    return {};
  }
  try {
    address lit = address::ip(h, port);
    if (family == AF_UNSPEC || family == lit.family()) return {lit};
    ec = {EAI_ADDRFAMILY, resolver_category()};
    return {};
  } catch (const std::invalid_argument&) {
    // not a literal: ask the C library
  }
  flight_key key(std::move(h), family);
  std::shared_ptr<flight> f;
  if (auto it = flights().find(key); it != flights().end()) {
    f = it->second;
  } else {
    f = std::make_shared<flight>();
    flights().emplace(key, f);
    resolver_pool().apply_async([name = key.first, family] { return run_getaddrinfo(name, family); },
                                [f, key](lookup r) {
                                  f->result = std::move(r);
                                  f->done.set();
                                  if (auto it = flights().find(key); it != flights().end() && it->second == f)
                                    flights().erase(it);
                                });
  }
  if (!f->done.wait(timeout)) {
    ec = std::make_error_code(std::errc::timed_out);
    return {};
  }
  const lookup& r = f->result;
  if (r.gai == EAI_SYSTEM)
    ec = {r.err, std::system_category()};
  else if (r.gai != 0)
    ec = {r.gai, resolver_category()};
  if (ec) return {};
  std::vector<address> out = r.addrs;
  for (auto& a : out) set_port(a, port);
  return out;
}

std::vector<address> resolve(std::string_view host, std::uint16_t port, int family) {
  std::error_code ec;
  auto v = resolve(host, port, ec, family);
  if (ec) throw std::system_error(ec, "resolve " + std::string(host));
  return v;
}

}  // namespace greenring
