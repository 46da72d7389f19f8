// echo_server [--threads N] [PORT]: gevent's StreamServer echo example. One
// task per connection; SIGINT/SIGTERM stops accepting, lets the connections
// finish (up to 5 s), then exits 0. Default port 8007, on 127.0.0.1.
// --threads N runs N hubs, a thread each (0: one per CPU), each accepting
// on its own SO_REUSEPORT listener of the one port: what Go's runtime or an
// io_context per thread in Asio does with every core.
#include <greenring/greenring.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool parse(const char* s, long max, long& out) {
  char* end = nullptr;
  out = std::strtol(s, &end, 10);
  return *s != '\0' && *end == '\0' && out >= 0 && out <= max;
}

void echo(greenring::tcp_stream& conn) {
  char buf[16384];
  std::error_code ec;
  while (std::size_t n = conn.read_some(buf, ec)) {
    conn.write_all(greenring::const_buffer(buf, n), ec);
    if (ec) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  long port = 8007, threads = 1;
  int i = 1;
  if (i + 1 < argc && std::string_view(argv[i]) == "--threads") {
    if (!parse(argv[i + 1], 1024, threads)) i = argc + 1;  // refused below
    i += 2;
  }
  if (i > argc || (i < argc && (i + 1 < argc || !parse(argv[i], 65535, port)))) {
    std::fprintf(stderr, "usage: %s [--threads N] [PORT]\n", argv[0]);
    return 2;
  }
  greenring::block_signals({SIGINT, SIGTERM});  // before anything can start a thread

  // Every hub's listener is bound here, so that port 0 means one port for all.
  const std::size_t hubs = threads == 0 ? greenring::default_hub_count() : threads;
  std::vector<greenring::tcp_listener> listeners;
  listeners.push_back(greenring::tcp_listener::bind(
      greenring::address::ip("127.0.0.1", static_cast<std::uint16_t>(port)), 1024, hubs > 1));
  const greenring::address at = listeners[0].local();
  while (listeners.size() < hubs) listeners.push_back(greenring::tcp_listener::bind(at, 1024, true));
  std::printf("echo server listening on %s with %zu hub%s (Ctrl-C stops it)\n", at.to_string().c_str(), hubs,
              hubs == 1 ? "" : "s");
  std::fflush(stdout);

  greenring::shared_event stop;
  std::atomic<unsigned long long> accepted{0};
  greenring::run_hubs(hubs, [&](std::size_t h) {
    greenring::stream_server server(std::move(listeners[h]), echo);
    server.start();
    if (h == 0)
      greenring::spawn([&] {
        int sig = greenring::wait_signal({SIGINT, SIGTERM});
        std::printf("%s: no new connections; waiting for the open ones to finish\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        std::fflush(stdout);
        stop.set();
      });
    stop.wait();
    server.stop(5s);
    accepted += server.accepted();
  });
  std::printf("stopped after %llu connections\n", accepted.load());
  return 0;
}
