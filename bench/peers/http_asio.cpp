// http_asio PORT BODY_BYTES: an HTTP/1.1 keep-alive server on Boost.Beast
// and Boost.Asio's C++20 coroutines, one coroutine per connection,
// answering every request with BODY_BYTES of text: http_server_bench's
// work, as a peer. One single-threaded io_context per CPU the process may
// run on (Asio's way to use every core), each with its own SO_REUSEPORT
// acceptor: one when pinned to a core, as in the pinned runs
// (HTTP_BENCH_PEERS="asio=build-bench/bench/http_asio"). Built by
// bench/meson.build; Beast and Asio are header-only, in libboost-dev.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

asio::awaitable<void> serve(tcp::socket s, const std::string& body) {
  s.set_option(tcp::no_delay(true));
  beast::flat_buffer buf;
  boost::system::error_code ec;
  for (;;) {
    http::request<http::string_body> req;
    co_await http::async_read(s, buf, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    res.body() = body;
    res.prepare_payload();
    co_await http::async_write(s, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  s.shutdown(tcp::socket::shutdown_send, ec);
}

asio::awaitable<void> listen(tcp::acceptor& a, const std::string& body) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await a.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) asio::co_spawn(a.get_executor(), serve(std::move(s), body), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PORT BODY_BYTES\n", argv[0]);
    return 2;
  }
  const std::string body(static_cast<std::size_t>(std::atol(argv[2])), 'x');
  const tcp::endpoint at{asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))};
  cpu_set_t cpus;
  const int n = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  auto run = [&] {
    asio::io_context io(1);  // one thread each: no locking inside Asio
    tcp::acceptor a(io);
    a.open(at.protocol());
    a.set_option(tcp::acceptor::reuse_address(true));
    a.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    a.bind(at);
    a.listen();
    asio::co_spawn(io, listen(a, body), asio::detached);
    io.run();
  };
  std::vector<std::thread> more;
  for (int i = 1; i < n; ++i) more.emplace_back(run);
  run();
}
