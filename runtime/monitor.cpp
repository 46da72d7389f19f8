// greenring — monitor_blocking(): reports a greenlet that runs too long
// without switching (RELIABILITY H7; gevent's monitor thread).
//
// The hub counts switches (note_switch, only while monitored) and marks the
// time it spends waiting in the ring as idle. A watcher thread samples the
// count every quarter threshold: when it has not moved for a threshold and
// the hub is not idle, the greenlet running now has run that long without
// a switch, and nothing else can have run meanwhile. The watcher only
// raises a flag and notes when the count last moved; the hub thread makes
// the report at that greenlet's next switch, where reading its name is
// safe. Everything the two threads share is atomic.
#include "detail/hub.hpp"

#include <greenring/hub.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

namespace greenring::detail {

struct blocking_monitor {
  using steady = std::chrono::steady_clock;

  blocking_monitor(duration t, std::function<void(const blocking_report&)> cb)
      : threshold(t), on_report(std::move(cb)) {
    watcher = std::thread([this] { watch(); });
  }
  ~blocking_monitor() {
    {
      std::lock_guard<std::mutex> g(m);
      stop = true;
    }
    cv.notify_one();
    watcher.join();
  }

  void watch() {
    const auto period = std::max<duration>(threshold / 4, std::chrono::milliseconds(1));
    std::uint64_t last = switches.load(std::memory_order_relaxed);
    auto last_moved = steady::now();
    std::unique_lock<std::mutex> lk(m);
    while (!cv.wait_for(lk, period, [this] { return stop; })) {
      const auto now = steady::now();
      const std::uint64_t s = switches.load(std::memory_order_relaxed);
      if (s != last || idle.load(std::memory_order_relaxed)) {
        last = s;
        last_moved = now;
      } else if (now - last_moved >= threshold && !stalled.load(std::memory_order_relaxed)) {
        since_ns.store(last_moved.time_since_epoch().count(), std::memory_order_relaxed);
        stalled.store(true, std::memory_order_release);
      }
    }
  }

  const duration threshold;
  const std::function<void(const blocking_report&)> on_report;
  std::atomic<std::uint64_t> switches{0};
  std::atomic<bool> idle{false};
  std::atomic<bool> stalled{false};
  std::atomic<steady::rep> since_ns{0};
  std::mutex m;
  std::condition_variable cv;
  bool stop = false;
  std::thread watcher;
};

void hub::set_monitor(blocking_monitor* m) noexcept {
  delete std::exchange(monitor_, m);
}

bool blocking_stall_noticed() noexcept {
  hub* h = hub::get_if();
  return h && h->monitor_ && h->monitor_->stalled.load(std::memory_order_acquire);
}

void hub::monitor_idle(bool idle) noexcept { monitor_->idle.store(idle, std::memory_order_relaxed); }

void hub::monitor_switch() noexcept {
  blocking_monitor& m = *monitor_;
  // Only this thread writes the count: a plain increment, published.
  m.switches.store(m.switches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (__builtin_expect(!m.stalled.load(std::memory_order_acquire), 1)) return;
  const greenlet& g = *ts_.current;
  blocking_report r;
  r.id = g.id();
  r.name = g.name().empty() ? std::string(switch_access::kind_name(g)) : g.name();
  const auto since = blocking_monitor::steady::time_point(
      blocking_monitor::steady::duration(m.since_ns.load(std::memory_order_relaxed)));
  r.ran = std::chrono::duration_cast<std::chrono::milliseconds>(blocking_monitor::steady::now() - since);
  m.stalled.store(false, std::memory_order_relaxed);
  try {
    if (m.on_report) {
      m.on_report(r);
      return;
    }
  } catch (...) {
    std::fputs("greenring: a monitor_blocking callback threw; reports go to stderr\n", stderr);
  }
  std::fprintf(stderr,
               "greenring: %s %llu \"%s\" ran %lld ms without switching: a blocking call or a long computation "
               "held up every other task of its thread (run it on a threadpool)\n",
               switch_access::kind_name(g), static_cast<unsigned long long>(r.id), r.name.c_str(),
               static_cast<long long>(r.ran.count()));
}

void monitor_from_environment(hub& h) noexcept {
  const char* e = std::getenv("GREENRING_MAX_BLOCKING_MS");
  if (!e || !*e) return;
  char* end = nullptr;
  const long ms = std::strtol(e, &end, 10);
  if (*end != '\0' || ms <= 0) {
    std::fprintf(stderr, "greenring: ignoring GREENRING_MAX_BLOCKING_MS=%s (want a number of milliseconds > 0)\n", e);
    return;
  }
  try {
    h.set_monitor(new blocking_monitor(std::chrono::milliseconds(ms), {}));
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "greenring: GREENRING_MAX_BLOCKING_MS: cannot start the watcher thread: %s\n", ex.what());
  }
}

}  // namespace greenring::detail

namespace greenring {

void monitor_blocking(duration threshold, std::function<void(const blocking_report&)> on_report) {
  detail::hub& h = detail::hub::get();
  h.set_monitor(nullptr);  // the old watcher stops before a new one starts
  if (threshold > duration::zero()) h.set_monitor(new detail::blocking_monitor(threshold, std::move(on_report)));
}

}  // namespace greenring
