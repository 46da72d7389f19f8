// greenring — resolve(): getaddrinfo on the global thread pool.
//
// The worker owns everything it touches (a copy of the host name, its own
// result vector), so a task killed while waiting leaves nothing dangling:
// the job finishes on its own and its result is dropped.
#include <greenring/resolver.hpp>
#include <greenring/threadpool.hpp>

#include <netdb.h>

#include <cerrno>
#include <string>

namespace greenring {
namespace {

class resolver_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "resolver"; }
  std::string message(int e) const override { return ::gai_strerror(e); }
};

struct lookup {
  std::vector<address> addrs;
  int gai = 0;
  int err = 0;  // errno for EAI_SYSTEM
};

lookup run_getaddrinfo(const std::string& host, std::uint16_t port, int family) {
  lookup out;
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  out.gai = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
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
  return out;
}

}  // namespace

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
  auto job = threadpool::global().submit(run_getaddrinfo, std::move(h), port, family);
  if (timeout != forever && !job.wait(timeout)) {
    ec = std::make_error_code(std::errc::timed_out);
    return {};
  }
  lookup r = job.get();
  if (r.gai == EAI_SYSTEM)
    ec = {r.err, std::system_category()};
  else if (r.gai != 0)
    ec = {r.gai, resolver_category()};
  return std::move(r.addrs);
}

std::vector<address> resolve(std::string_view host, std::uint16_t port, int family) {
  std::error_code ec;
  auto v = resolve(host, port, ec, family);
  if (ec) throw std::system_error(ec, "resolve " + std::string(host));
  return v;
}

}  // namespace greenring
