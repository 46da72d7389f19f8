// port_forwarder [LISTEN_PORT DEST_HOST:DEST_PORT]: gevent's
// portforwarder.py. Every connection accepted on 127.0.0.1:LISTEN_PORT is
// joined to a new connection to the destination by two tasks, one copying
// each way; when one side stops sending, the other side's write half is
// shut down, so a half-close crosses the forwarder as it would a direct
// connection. SIGINT/SIGTERM stops it.
//
// With no arguments it shows itself: an upper-casing server on an
// ephemeral port, a forwarder in front of it, and three clients talking to
// the server through the forwarder at once, each half-closing when done.
#include <greenring/greenring.hpp>

#include <sys/socket.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using greenring::tcp_stream;

namespace {

// Copies from `from` to `to` until `from` ends, then passes the end on.
// Returns the bytes copied. An error on either side ends the copy.
std::size_t pipe_one_way(tcp_stream& from, tcp_stream& to) {
  char buf[16384];
  std::size_t total = 0;
  std::error_code ec;
  while (std::size_t n = from.read_some(buf, ec)) {
    to.write_all(greenring::const_buffer(buf, n), ec);
    if (ec) break;
    total += n;
  }
  try {
    to.shutdown(SHUT_WR);
  } catch (const std::system_error&) {
    // the peer is gone already
  }
  return total;
}

// One accepted connection: connect to the destination, copy both ways.
void forward(tcp_stream& client, const std::string& host, std::uint16_t port) {
  tcp_stream dest;
  try {
    dest = tcp_stream::connect(host, port, 10s);
  } catch (const std::system_error& e) {
    std::printf("%s: %s\n", client.peer().to_string().c_str(), e.what());
    return;
  }
  auto up = greenring::spawn([&] { return pipe_one_way(client, dest); });
  std::size_t down = pipe_one_way(dest, client);
  std::printf("%s -> %s:%u closed: %zu bytes up, %zu down\n", client.peer().to_string().c_str(), host.c_str(),
              static_cast<unsigned>(port), up.get(), down);
}

greenring::stream_server make_forwarder(std::uint16_t listen_port, std::string host, std::uint16_t port) {
  return greenring::stream_server(greenring::address::ip("127.0.0.1", listen_port),
                                  [host = std::move(host), port](tcp_stream& c) { forward(c, host, port); });
}

int demo() {
  greenring::stream_server upper(greenring::address::ip("127.0.0.1", 0), [](tcp_stream& c) {
    std::string all;
    char buf[4096];
    while (std::size_t n = c.read_some(buf)) all.append(buf, n);  // until the client half-closes
    for (char& ch : all) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    c.write_all(all);
  });
  upper.start();
  auto fwd = make_forwarder(0, "127.0.0.1", upper.local().port());
  fwd.start();
  std::printf("forwarding %s -> %s\n", fwd.local().to_string().c_str(), upper.local().to_string().c_str());
  std::vector<greenring::task<bool>> clients;
  for (std::string word : {"first", "second", "third"})
    clients.push_back(greenring::spawn([word, at = fwd.local()] {
      tcp_stream c = tcp_stream::connect(at, 5s);
      c.write_all("hello from the " + word + " client");
      c.shutdown(SHUT_WR);  // the server answers once it has everything
      std::string reply;
      char buf[4096];
      while (std::size_t n = c.read_some(buf, 5s)) reply.append(buf, n);
      std::printf("%s client got: %s\n", word.c_str(), reply.c_str());
      std::string expected = "hello from the " + word + " client";
      for (char& ch : expected) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return reply == expected;
    }));
  bool ok = true;
  for (auto& t : clients) ok = t.get() && ok;
  fwd.stop(5s);
  upper.stop(5s);
  std::printf("%s\n", ok ? "all replies came back through the forwarder" : "a reply was wrong");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 1) return demo();
  std::string dest = argc == 3 ? argv[2] : "";
  const auto colon = dest.rfind(':');
  char* end = nullptr;
  const long listen_port = argc == 3 ? std::strtol(argv[1], &end, 10) : -1;
  const long port = colon != std::string::npos ? std::strtol(dest.c_str() + colon + 1, nullptr, 10) : 0;
  if (argc != 3 || *end != '\0' || listen_port < 0 || listen_port > 65535 || colon == std::string::npos ||
      port <= 0 || port > 65535) {
    std::fprintf(stderr, "usage: %s [LISTEN_PORT DEST_HOST:DEST_PORT]\n", argv[0]);
    return 2;
  }
  std::string host = dest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  greenring::block_signals({SIGINT, SIGTERM});
  auto fwd = make_forwarder(static_cast<std::uint16_t>(listen_port), host, static_cast<std::uint16_t>(port));
  std::printf("forwarding %s -> %s (Ctrl-C stops it)\n", fwd.local().to_string().c_str(), dest.c_str());
  std::fflush(stdout);
  auto stopper = greenring::spawn([&fwd] {
    greenring::wait_signal({SIGINT, SIGTERM});
    fwd.stop(5s);
  });
  fwd.serve_forever();
  stopper.join();
  return 0;
}
