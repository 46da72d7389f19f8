// http_server [--tls CA_FILE] [--root DIR] [--threads N] [PORT]: gevent's WSGIServer "hello world",
// for pointing real clients (curl, wrk, a browser) at greenring's HTTP
// server. A task per connection, keep-alive; SIGINT/SIGTERM stops
// accepting, lets requests in progress finish (up to 5 s), then exits 0.
// Default port 8088, 127.0.0.1. With --tls it serves https with a
// certificate for localhost and 127.0.0.1 made at start-up, signed by a CA
// also made then, whose certificate goes to CA_FILE (for curl --cacert).
//   /            "Hello, World!"
//   /bytes/N     N bytes of 'x' (at most 16 MiB)
//   /delay/MS    "slept MS ms" after sleeping MS ms (at most 10 s): the
//                connection's task sleeps, the others go on
//   /echo        the request body back (any method)
// Other methods than GET and HEAD get 405 elsewhere.
//   /file/NAME   with --root DIR: the file DIR/NAME (a plain name: no '/',
//                no leading '.'), sent with sendfile's zero-copy splice
// --threads N serves on N hubs, a thread each (0: one per CPU), each with
// its own SO_REUSEPORT listener of the one port (nginx's worker processes,
// Go's net/http on every core).
#include <greenring/greenring.hpp>

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {

// The number after `prefix` in `target`, if it is all digits and at most `max`.
bool number_after(std::string_view target, std::string_view prefix, unsigned long max, unsigned long& n) {
  if (target.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = target.substr(prefix.size());
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  return ec == std::errc() && end == rest.data() + rest.size() && !rest.empty() && n <= max;
}

greenring::http::reply text(int status, std::string body) {
  return {status, {{"Content-Type", "text/plain"}}, std::move(body)};
}

std::string root;  // --root: /file/NAME serves root/NAME

// A file name we serve from root: one path component, no dot first (no
// "..", no hidden files), nothing percent-encoded.
bool plain_name(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find_first_of("/%\\") == std::string_view::npos;
}

greenring::http::reply handle(const greenring::http::request& r) {
  const std::string_view path = r.path();
  unsigned long n = 0;
  if (path == "/echo") return {200, {{"Content-Type", "application/octet-stream"}}, r.body};
  // Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
  if (r.method != "GET" && r.method != "HEAD") {
    auto no = text(405, "method " + r.method + " not allowed here\n");
    no.head.push_back({"Allow", "GET, HEAD"});
    return no;
  }
  if (path == "/") return text(200, "Hello, World!\n");
  if (!root.empty() && path.substr(0, 6) == "/file/") {
    const std::string_view name = path.substr(6);
    if (!plain_name(name)) return text(404, "not found\n");
    return greenring::http::file_reply(root + "/" + std::string(name));  // sent with send_file
  }
  if (number_after(path, "/bytes/", 16ul << 20, n)) return text(200, std::string(n, 'x'));
  if (number_after(path, "/delay/", 10000, n)) {
    greenring::sleep(std::chrono::milliseconds(n));
    return text(200, "slept " + std::to_string(n) + " ms\n");
  }
  if (path.substr(0, 7) == "/bytes/" || path.substr(0, 7) == "/delay/") return text(400, "bad number\n");
  return text(404, "not found\n");
}

}  // namespace

int main(int argc, char** argv) {
  long port = 8088;
  unsigned long threads = 1;
  std::string ca_file;
  auto usage = [&] {
    std::fprintf(stderr, "usage: %s [--tls CA_FILE] [--root DIR] [--threads N] [PORT]\n", argv[0]);
    return 2;
  };
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
    const std::string_view opt = argv[i];
    if (opt == "--tls") ca_file = argv[i + 1];
    else if (opt == "--root") root = argv[i + 1];
    else if (opt == "--threads") {
      if (!number_after(argv[i + 1], "", 1024, threads)) return usage();
    } else return usage();
  }
  if (i < argc) {
    char* end = nullptr;
    port = std::strtol(argv[i], &end, 10);
    if (i + 1 < argc || *end != '\0' || port < 0 || port > 65535) return usage();
  }
  greenring::block_signals({SIGINT, SIGTERM});  // before anything can start a thread
  greenring::http::server_options so;
  if (!ca_file.empty()) {
    auto ca = greenring::tls::make_certificate({"http_server example CA", {}, {}, 0, 30, true, nullptr});
    auto leaf = greenring::tls::make_certificate({"localhost", {"localhost"}, {"127.0.0.1"}, 0, 30, false, &ca});
    so.tls_cert_pem = leaf.cert_pem;
    so.tls_key_pem = leaf.key_pem;
    greenring::write_file(ca_file, ca.cert_pem);
  }
  const std::size_t hubs = threads == 0 ? greenring::default_hub_count() : threads;
  so.reuse_port = hubs > 1;
  // Hub 0's server is made here, so that the others can share its port
  // when PORT is 0.
  greenring::http::server first(greenring::address::ip("127.0.0.1", static_cast<std::uint16_t>(port)), handle, so);
  const greenring::address at = first.local();
  std::printf("serving on %s://%s/ with %zu hub%s (Ctrl-C stops it)\n", ca_file.empty() ? "http" : "https",
              at.to_string().c_str(), hubs, hubs == 1 ? "" : "s");
  if (!ca_file.empty()) std::printf("CA certificate in %s\n", ca_file.c_str());
  std::fflush(stdout);
  greenring::shared_event stop;
  std::atomic<unsigned long long> requests{0}, connections{0};
  greenring::run_hubs(hubs, [&](std::size_t h) {
    std::optional<greenring::http::server> own;
    greenring::http::server& server = h == 0 ? first : own.emplace(at, handle, so);
    server.start();
    if (h == 0)
      greenring::spawn([&] {
        int sig = greenring::wait_signal({SIGINT, SIGTERM});
        std::printf("%s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        std::fflush(stdout);
        stop.set();
      });
    stop.wait();
    server.stop(5s);
    requests += server.requests_served();
    connections += server.connections_accepted();
  });
  std::printf("served %llu requests on %llu connections\n", requests.load(), connections.load());
  return 0;
}
