// greenring — per-descriptor bookkeeping shared by sockets and files.
#pragma once

#include <cstddef>

namespace greenring {
class greenlet;
namespace detail {

/// Requests in flight on one file descriptor; `close` waits for zero.
struct io_counter {
  std::size_t in_flight = 0;
  greenlet* closer = nullptr;  // woken when in_flight drops to zero
};

/// Cancels every request on `fd`, waits (deaf to kills) until `c` counts
/// none, then closes fd. The common ending of every socket and file.
void close_fd(int fd, io_counter& c) noexcept;

}  // namespace detail
}  // namespace greenring
