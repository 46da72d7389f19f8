// echo_asio PORT: the echo server in Boost.Asio's C++20 coroutines, one
// coroutine per connection on a single-threaded io_context (epoll), as the
// issue's "Boost.Asio C++20 coroutines" peer. Built by bench/meson.build
// (Asio is header-only, in libboost-dev); run by echo_bench as a peer:
// ECHO_BENCH_PEERS="asio=build-bench/bench/echo_asio".
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

asio::awaitable<void> echo(tcp::socket s) {
  s.set_option(tcp::no_delay(true));
  char buf[4096];
  boost::system::error_code ec;
  for (;;) {
    std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(s, asio::buffer(buf, n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
}

asio::awaitable<void> listen(tcp::acceptor& a) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket s = co_await a.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) asio::co_spawn(a.get_executor(), echo(std::move(s)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  asio::io_context io(1);  // one thread: no locking inside Asio
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))});
  asio::co_spawn(io, listen(a), asio::detached);
  io.run();
}
