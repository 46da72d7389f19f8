// greenring — resolve(): getaddrinfo on the resolver's own thread pool.
//
// The worker owns everything it touches (a copy of the host name, its own
// result), so a task killed while waiting leaves nothing dangling: the job
// finishes on its own. Lookups of one name (and family) in flight on a
// thread are shared: a thousand tasks connecting to one host cost one
// getaddrinfo, and one slow DNS answer holds one worker, not a thousand.
// Ports are not part of the lookup; each caller's is put into its copy.
#include <greenring/detail/timer.hpp>
#include <greenring/event.hpp>
#include <greenring/resolver.hpp>
#include <greenring/threadpool.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
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
  int err = 0;           // errno for EAI_SYSTEM
  bool skipped = false;  // not run: nobody waited for it any more
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
// the same name and family meanwhile. `wanted` is the worker's to read:
// cleared when the last waiter leaves before the answer, so a worker that
// has not started the lookup yet skips it.
struct flight {
  event done;
  lookup result;
  int waiters = 0;
  std::shared_ptr<std::atomic<bool>> wanted = std::make_shared<std::atomic<bool>>(true);
};
using flight_key = std::pair<std::string, int>;
using detail::clock;

struct cached {
  lookup answer;
  clock::time_point expires;
};

// Everything resolve() keeps, per thread (each hub its own).
struct resolver_state {
  std::map<flight_key, std::shared_ptr<flight>> flights;
  std::map<flight_key, cached> cache;
  resolver_cache_options options;
  resolver_stats stats;
};
resolver_state& state() {
  thread_local resolver_state s;
  return s;
}

bool is_no_such_host(int gai) noexcept {
#ifdef EAI_NODATA
  if (gai == EAI_NODATA) return true;
#endif
  return gai == EAI_NONAME;
}

// Keeps `r` for the TTL its kind has (none for temporary failures).
void remember(resolver_state& st, const flight_key& key, const lookup& r) {
  const resolver_cache_options& o = st.options;
  duration ttl = duration::zero();
  if (r.gai == 0 && !r.addrs.empty()) ttl = o.ttl;
  else if (is_no_such_host(r.gai)) ttl = o.negative_ttl;
  if (ttl <= duration::zero() || o.max_entries == 0) return;
  const auto now = clock::now();
  const auto expires = detail::deadline_after(ttl);
  if (st.cache.size() >= o.max_entries && !st.cache.contains(key)) {
    std::erase_if(st.cache, [now](const auto& e) { return e.second.expires <= now; });
    while (st.cache.size() >= o.max_entries)
      st.cache.erase(std::min_element(st.cache.begin(), st.cache.end(), [](const auto& a, const auto& b) {
        return a.second.expires < b.second.expires;
      }));
  }
  st.cache.insert_or_assign(key, cached{r, expires});
}

// `r` as the caller sees it: its addresses with `port`, or its error.
std::vector<address> answer(const lookup& r, std::uint16_t port, std::error_code& ec) {
  if (r.gai == EAI_SYSTEM)
    ec = {r.err, std::system_category()};
  else if (r.gai != 0)
    ec = {r.gai, resolver_category()};
  if (ec) return {};
  std::vector<address> out = r.addrs;
  for (auto& a : out) set_port(a, port);
  return out;
}

threadpool* dns_pool = nullptr;
std::mutex dns_mu;

// In a forked child the workers do not exist: make new ones on first use.
void forget_dns_pool_after_fork() noexcept {
  dns_pool = nullptr;
  new (&dns_mu) std::mutex();
  state().flights.clear();  // the parent's lookups will never answer here
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
  resolver_state& st = state();
  flight_key key(std::move(h), family);
  if (auto c = st.cache.find(key); c != st.cache.end()) {
    if (c->second.expires > clock::now()) {
      ++st.stats.cache_hits;
      return answer(c->second.answer, port, ec);
    }
    st.cache.erase(c);
  }
  std::shared_ptr<flight> f;
  if (auto it = st.flights.find(key); it != st.flights.end()) {
    f = it->second;
    ++st.stats.shared;
  } else {
    f = std::make_shared<flight>();
    st.flights.emplace(key, f);
    ++st.stats.lookups;
    resolver_pool().apply_async(
        [name = key.first, family, wanted = f->wanted] {
          if (!wanted->load(std::memory_order_acquire)) {
            lookup skip;
            skip.skipped = true;
            return skip;
          }
          return run_getaddrinfo(name, family);
        },
        [f, key](lookup r) {
          resolver_state& s = state();
          if (r.skipped) ++s.stats.skipped;
          else remember(s, key, r);
          f->result = std::move(r);
          f->done.set();
          if (auto it = s.flights.find(key); it != s.flights.end() && it->second == f) s.flights.erase(it);
        });
  }
  // The last waiter to leave before the answer (timed out, or killed)
  // tells the worker not to bother, and lets the next caller start afresh.
  ++f->waiters;
  struct leave {
    const std::shared_ptr<flight>& f;
    const flight_key& key;
    ~leave() {
      if (--f->waiters > 0 || f->done.is_set()) return;
      f->wanted->store(false, std::memory_order_release);
      auto& fl = state().flights;
      if (auto it = fl.find(key); it != fl.end() && it->second == f) fl.erase(it);
    }
  } leaving{f, key};
  if (!f->done.wait(timeout)) {
    ec = std::make_error_code(std::errc::timed_out);
    return {};
  }
  return answer(f->result, port, ec);
}

void set_resolver_cache(const resolver_cache_options& options) {
  resolver_state& st = state();
  st.options = options;
  st.cache.clear();
}

resolver_cache_options resolver_cache() { return state().options; }

void clear_resolver_cache() noexcept { state().cache.clear(); }

resolver_stats resolver_statistics() noexcept {
  resolver_stats s = state().stats;
  s.cached = state().cache.size();
  return s;
}

std::vector<address> resolve(std::string_view host, std::uint16_t port, int family) {
  std::error_code ec;
  auto v = resolve(host, port, ec, family);
  if (ec) throw std::system_error(ec, "resolve " + std::string(host));
  return v;
}

}  // namespace greenring
