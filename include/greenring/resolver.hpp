// greenring — name resolution that parks the task, not the thread.
//
//   for (const auto& a : greenring::resolve("localhost", 80)) ...
//
// getaddrinfo runs on resolver_pool(), so /etc/hosts, nsswitch and
// resolv.conf are honoured exactly as the C library does. IP literals are
// answered at once, without a thread. Tasks of one thread that ask for the
// same name (and family) while a lookup of it is in flight share it.
#pragma once

#include <greenring/address.hpp>
#include <greenring/detail/duration.hpp>

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
/// slow or unreachable DNS server cannot stretch a caller's deadline. The
/// lookup itself cannot be interrupted; it finishes on its worker thread
/// and its answer is dropped.
std::vector<address> resolve(std::string_view host, std::uint16_t port, std::error_code& ec, int family,
                             duration timeout);

}  // namespace greenring
