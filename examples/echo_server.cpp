// echo_server [PORT]: gevent's StreamServer echo example. One task per
// connection; SIGINT/SIGTERM stops accepting, lets the connections finish
// (up to 5 s), then exits 0. Default port 8007, on 127.0.0.1.
#include <greenring/greenring.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  long port = 8007;
  if (argc > 1) {
    char* end = nullptr;
    port = std::strtol(argv[1], &end, 10);
    if (argc > 2 || *end != '\0' || port < 0 || port > 65535) {
      std::fprintf(stderr, "usage: %s [PORT]\n", argv[0]);
      return 2;
    }
  }
  greenring::block_signals({SIGINT, SIGTERM});  // before anything can start a thread
  greenring::stream_server server(greenring::address::ip("127.0.0.1", static_cast<std::uint16_t>(port)),
                                  [](greenring::tcp_stream& conn) {
                                    char buf[16384];
                                    std::error_code ec;
                                    while (std::size_t n = conn.read_some(buf, ec)) {
                                      conn.write_all(greenring::const_buffer(buf, n), ec);
                                      if (ec) break;
                                    }
                                  });
  std::printf("echo server listening on %s (Ctrl-C stops it)\n", server.local().to_string().c_str());
  std::fflush(stdout);
  auto stopper = greenring::spawn([&server] {
    int sig = greenring::wait_signal({SIGINT, SIGTERM});
    std::printf("%s: no new connections; waiting for %zu to finish\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                server.connections());
    server.stop(5s);
  });
  server.serve_forever();  // returns once stop() has closed the listener
  stopper.join();
  std::printf("stopped after %llu connections\n", static_cast<unsigned long long>(server.accepted()));
  return 0;
}
