// greenring — name resolution that parks the task, not the thread.
//
//   for (const auto& a : greenring::resolve("localhost", 80)) ...
//
// getaddrinfo runs on resolver_pool(), so /etc/hosts, nsswitch and
// resolv.conf are honoured exactly as the C library does. IP literals are
// answered at once, without a thread. Tasks of one thread that ask for the
// same name (and family) while a lookup of it is in flight share it, and
// answers are cached for a while (resolver_cache_options: 30 s by default,
// as Java does; getaddrinfo reports no TTLs). A lookup whose every waiter
// gave up before a worker took it is skipped, so a DNS server that does not
// answer cannot pile up abandoned work.
#pragma once

#include <greenring/address.hpp>
#include <greenring/detail/duration.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

namespace greenring {

class threadpool;

/// Worker threads of resolver_pool() (gevent's resolver pool has 10).
inline constexpr std::size_t resolver_threads = 8;
/// The threads getaddrinfo runs on: apart from threadpool::global(), so a
/// DNS server that does not answer cannot starve CPU jobs, nor CPU jobs
/// name lookups. Made on first use; a forked child gets a new one.
threadpool& resolver_pool();

/// How long this thread keeps answers (each hub has its own cache).
struct resolver_cache_options {
  /// Successful answers; zero: none are kept.
  duration ttl = std::chrono::seconds(30);
  /// "No such host" answers (EAI_NONAME, EAI_NODATA); zero: none are kept.
  /// Temporary failures (EAI_AGAIN, errors of the system) never are.
  duration negative_ttl = duration::zero();
  /// Names kept at most; past it, the entry nearest its expiry goes.
  std::size_t max_entries = 1024;
};
/// Sets this thread's cache options; the cache is emptied.
void set_resolver_cache(const resolver_cache_options& options);
/// This thread's cache options.
resolver_cache_options resolver_cache();
/// Forgets every cached answer of this thread (for instance after
/// /etc/hosts changed).
void clear_resolver_cache() noexcept;

/// What resolve() did on this thread since it started.
struct resolver_stats {
  std::uint64_t lookups = 0;     // getaddrinfo calls handed to resolver_pool()
  std::uint64_t cache_hits = 0;  // answered from the cache
  std::uint64_t shared = 0;      // joined a lookup of the same name in flight
  std::uint64_t skipped = 0;     // lookups dropped unrun: every waiter had left
  std::size_t cached = 0;        // names in the cache now (expired ones included)
};
resolver_stats resolver_statistics() noexcept;

/// The error category of getaddrinfo's EAI_* codes.
const std::error_category& resolver_category() noexcept;

/// Addresses of `host` for stream sockets, in the order getaddrinfo gives
/// them (RFC 6724). `family` may restrict them to AF_INET or AF_INET6.
/// Throws std::system_error naming the host and the resolver's reason
/// ("resolve nosuch.invalid: Name or service not known").
std::vector<address> resolve(std::string_view host, std::uint16_t port, int family = AF_UNSPEC);
/// As above; failures go to `ec` (resolver_category(), or errno values).
std::vector<address> resolve(std::string_view host, std::uint16_t port, std::error_code& ec,
                             int family = AF_UNSPEC);
/// As above, giving up after `timeout` (std::errc::timed_out in `ec`): a
/// slow or unreachable DNS server cannot stretch a caller's deadline. A
/// getaddrinfo call already running cannot be interrupted: it finishes on
/// its worker thread and its answer is cached for the next caller; one no
/// worker has started yet is skipped once no task waits for it.
std::vector<address> resolve(std::string_view host, std::uint16_t port, std::error_code& ec, int family,
                             duration timeout);

}  // namespace greenring
