// greenring — waiting for POSIX signals in a task (gevent.signal_handler's
// job, without running code inside a signal handler).
//
//   greenring::spawn([&] {
//     greenring::wait_signal({SIGINT, SIGTERM});
//     server.stop();
//   });
//
// The signals are blocked in the calling thread from the first call on, so
// one that arrives while nobody waits is kept pending instead of killing
// the process, and is returned by the next wait. Block them early (call
// block_signals at the top of main, before starting threads) so that no
// other thread takes them. greenring's thread-pool workers block every
// signal.
#pragma once

#include <greenring/detail/duration.hpp>

#include <initializer_list>

namespace greenring {

/// Blocks `sigs` in the calling thread (pthread_sigmask), so that they
/// queue up for wait_signal instead of running their default action.
void block_signals(std::initializer_list<int> sigs);

/// Waits until one of `sigs` is delivered to this thread or process and
/// returns its number; 0 when `timeout` expires first. Throws what cancels
/// the caller (kill, an expired `timeout` scope), and std::system_error if
/// the signal file descriptor cannot be made.
int wait_signal(std::initializer_list<int> sigs, duration timeout = forever);

}  // namespace greenring
