// udp_echo: gevent's udp_server.py and udp_client.py.
//   udp_echo --serve [PORT]       a DatagramServer on 127.0.0.1:PORT (default
//                                 9000) answering each datagram with
//                                 "Received N bytes"; SIGINT/SIGTERM stops it
//   udp_echo HOST:PORT MESSAGE..  the client: one datagram on a connected
//                                 socket, then the answer (5 s at most)
// With no arguments it shows both: a server on an ephemeral port and three
// clients sending to it at once.
#include <greenring/greenring.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;

namespace {

void handle(std::string_view data, const greenring::address& from, greenring::udp_socket& s) {
  std::printf("%s: got '%.*s'\n", from.host().c_str(), static_cast<int>(data.size()), data.data());
  s.send_to(greenring::const_buffer("Received " + std::to_string(data.size()) + " bytes"), from);
}

// Returns false (after saying why) when no answer came.
bool client(const greenring::address& to, const std::string& message) {
  auto sock = greenring::udp_socket::open(to.family());
  sock.connect(to);
  std::printf("Sending %zu bytes to %s\n", message.size(), to.to_string().c_str());
  try {
    sock.send(greenring::const_buffer(message));
    char buf[8192];
    const std::size_t n = sock.receive(buf, 5s);
    std::printf("%s: got '%.*s'\n", to.to_string().c_str(), static_cast<int>(n), buf);
    return true;
  } catch (const std::system_error& e) {
    std::printf("%s\n", e.what());
  } catch (const greenring::timeout_error& e) {
    std::printf("%s\n", e.what());
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  greenring::block_signals({SIGINT, SIGTERM});  // before anything can start a thread
  std::setvbuf(stdout, nullptr, _IOLBF, 0);      // a line per datagram, also into a pipe
  const std::string_view first = argc > 1 ? argv[1] : "";
  if (first == "--serve") {
    const unsigned long port = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 9000;
    if (port == 0 || port > 65535) {
      std::fprintf(stderr, "udp_echo: invalid port %s\n", argv[2]);
      return 2;
    }
    greenring::datagram_server server(greenring::address::parse("127.0.0.1:" + std::to_string(port)), handle);
    std::printf("Receiving datagrams on %s\n", server.local().to_string().c_str());
    std::fflush(stdout);
    server.start();
    greenring::wait_signal({SIGINT, SIGTERM});
    server.stop();
    return 0;
  }
  if (argc > 2) {
    std::string message;
    for (int i = 2; i < argc; ++i) message.append(i > 2 ? " " : "").append(argv[i]);
    try {
      return client(greenring::address::parse(argv[1]), message) ? 0 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "udp_echo: %s\n", e.what());
      return 2;
    }
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: udp_echo [--serve [PORT] | HOST:PORT MESSAGE...]\n");
    return 2;
  }
  greenring::datagram_server server(greenring::address::parse("127.0.0.1:0"), handle);
  server.start();
  std::printf("Receiving datagrams on %s\n", server.local().to_string().c_str());
  std::vector<greenring::task<bool>> clients;
  for (const char* m : {"Hello from the first client", "Second", "and a third"})
    clients.push_back(greenring::spawn(client, server.local(), std::string(m)));
  bool ok = true;
  for (auto& c : clients) ok = c.get() && ok;
  server.stop();
  std::printf("%s\n", ok ? "every client got its answer" : "some client got no answer");
  return ok ? 0 : 1;
}
