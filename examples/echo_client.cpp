// echo_client [--connections N] [--seconds S] [--size B] [HOST:PORT]
//
// N concurrent clients, each sending B-byte messages and waiting for the
// echo (closed loop) for S seconds; prints requests/s and latency
// percentiles. Without HOST:PORT it starts its own echo server in-process
// on 127.0.0.1, so it runs with no arguments.
#include <greenring/greenring.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int conns = 100;
  double seconds = 2;
  std::size_t size = 64;
  std::string target;
  for (int i = 1; i < argc; ++i) {
    auto num = [&](const char* name) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", name);
        std::exit(2);
      }
      return std::atof(argv[++i]);
    };
    if (!std::strcmp(argv[i], "--connections"))
      conns = static_cast<int>(num("--connections"));
    else if (!std::strcmp(argv[i], "--seconds"))
      seconds = num("--seconds");
    else if (!std::strcmp(argv[i], "--size"))
      size = static_cast<std::size_t>(num("--size"));
    else if (argv[i][0] != '-' && target.empty())
      target = argv[i];
    else {
      std::fprintf(stderr, "usage: %s [--connections N] [--seconds S] [--size B] [HOST:PORT]\n", argv[0]);
      return 2;
    }
  }
  if (conns < 1 || conns > 100000 || !(seconds > 0) || size < 1 || size > (1 << 24)) {
    std::fprintf(stderr, "out of range: 1..100000 connections, seconds > 0, 1..16M bytes\n");
    return 2;
  }

  // Our own server when none is given.
  std::unique_ptr<greenring::stream_server> own;
  if (target.empty()) {
    own = std::make_unique<greenring::stream_server>(greenring::address::parse("127.0.0.1:0"), [](greenring::tcp_stream& s) {
      char buf[16384];
      std::error_code ec;
      while (std::size_t n = s.read_some(buf, ec)) {
        s.write_all(greenring::const_buffer(buf, n), ec);
        if (ec) break;
      }
    });
    own->start();
    target = own->local().to_string();
  }
  greenring::address to;
  try {
    to = greenring::address::parse(target);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }

  std::printf("%d connections to %s, %zu-byte messages, %.1f s\n", conns, target.c_str(), size, seconds);
  const auto deadline = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::vector<float>> lat(static_cast<std::size_t>(conns));  // microseconds
  std::size_t errors = 0;
  std::vector<greenring::task<void>> clients;
  const auto start = clk::now();
  for (int c = 0; c < conns; ++c)
    clients.push_back(greenring::spawn([&, c] {
      try {
        auto s = greenring::tcp_stream::connect(to, 5s);
        std::string msg(size, 'e'), back(size, '\0');
        auto& mine = lat[static_cast<std::size_t>(c)];
        while (clk::now() < deadline) {
          const auto t0 = clk::now();
          s.write_all(msg);
          s.read_exact(back);
          mine.push_back(std::chrono::duration<float, std::micro>(clk::now() - t0).count());
        }
      } catch (const std::exception& e) {
        if (errors++ == 0) std::fprintf(stderr, "client error: %s\n", e.what());
      }
    }));
  greenring::joinall(clients);
  const double wall = std::chrono::duration<double>(clk::now() - start).count();
  std::vector<float> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&all](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))]; };
  std::printf("%zu requests in %.2f s: %.0f requests/s; latency us p50 %.1f  p90 %.1f  p99 %.1f  max %.1f; %zu errors\n",
              all.size(), wall, static_cast<double>(all.size()) / wall, pct(0.50), pct(0.90), pct(0.99),
              all.empty() ? 0.0 : all.back(), errors);
  if (own) own->stop();
  return errors == 0 ? 0 : 1;
}
