// echo_bench: closed-loop 64-byte request/response over loopback, the same
// load generator against three servers, each in its own process:
//   greenring  one task per connection (stream_server)
//   threads    one std::thread per connection, blocking recv/send
//   uring      hand-written callback-style liburing loop, batched
//              submissions, no coroutines: the physical reference
// The load generator is a callback-style liburing client (run_load_uring;
// ECHO_BENCH_LOAD=greenring uses greenring client tasks instead). The
// server is pinned to CPU 0 and the load generator to CPU 1. Each run
// warms up for 2 s, then measures for ECHO_BENCH_SECONDS (default 10).
// Counters: requests/s, p50/p99 latency (us), server CPU us per request
// (from /proc/<pid>/stat: all server threads, exited ones included).
// Peers in the same run: ECHO_BENCH_PEERS="go=bench/peers/echo_go;gevent=
// python3 bench/peers/echo_gevent.py" adds a run per entry, the command
// started with a free port as its last argument (bench/peers/README.md).
#include "server_support.hpp"

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>
#include <liburing.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

using bench::cpu_ns;
using bench::listen_socket;
using bench::pin;
using bench::port_of;

constexpr std::size_t msg_size = 64;


// ---- servers (run in the child; never return) ----

[[noreturn]] void serve_greenring(std::uint16_t at = 0) {
  greenring::stream_server srv(greenring::address::ip("127.0.0.1", at), [](greenring::tcp_stream& s) {
    char buf[4096];
    std::error_code ec;
    while (std::size_t n = s.read_some(buf, ec)) {
      s.write_all(greenring::const_buffer(buf, n), ec);
      if (ec) break;
    }
  });
  std::uint16_t port = srv.local().port();
  if (::write(1, &port, sizeof port) != sizeof port) std::_Exit(4);
  srv.serve_forever();
  std::_Exit(0);
}

[[noreturn]] void serve_threads(int lfd) {
  std::uint16_t port = port_of(lfd);
  if (::write(1, &port, sizeof port) != sizeof port) std::_Exit(4);
  for (;;) {
    int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([c] {
      char buf[4096];
      for (;;) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        for (ssize_t off = 0; off < n;) {
          ssize_t w = ::send(c, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
          if (w <= 0) goto done;
          off += w;
        }
      }
    done:
      ::close(c);
    }).detach();
  }
}

// Callback-style io_uring echo: one state per connection, the op kind in
// the low bits of user_data; one submit_and_wait per loop turn.
[[noreturn]] void serve_uring(int lfd) {
  struct conn {
    int fd;
    char buf[4096];
    std::size_t len = 0, off = 0;
  };
  io_uring ring;
  io_uring_params p{};
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
  if (io_uring_queue_init_params(4096, &ring, &p) < 0) std::_Exit(5);
  enum : std::uintptr_t { op_accept = 0, op_recv = 1, op_send = 2 };
  auto get_sqe = [&ring] {
    io_uring_sqe* s;
    while (!(s = io_uring_get_sqe(&ring))) io_uring_submit(&ring);
    return s;
  };
  auto arm_accept = [&] {
    io_uring_sqe* s = get_sqe();
    io_uring_prep_accept(s, lfd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, op_accept);
  };
  auto arm_recv = [&](conn* c) {
    io_uring_sqe* s = get_sqe();
    io_uring_prep_recv(s, c->fd, c->buf, sizeof c->buf, 0);
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uintptr_t>(c) | op_recv);
  };
  auto arm_send = [&](conn* c) {
    io_uring_sqe* s = get_sqe();
    io_uring_prep_send(s, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uintptr_t>(c) | op_send);
  };
  std::uint16_t port = port_of(lfd);
  if (::write(1, &port, sizeof port) != sizeof port) std::_Exit(4);
  arm_accept();
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++n;
      const std::uintptr_t ud = cqe->user_data;
      const int res = cqe->res;
      auto* c = reinterpret_cast<conn*>(ud & ~std::uintptr_t{3});
      switch (ud & 3) {
        case op_accept:
          if (res >= 0) {
            int one = 1;
            ::setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            arm_recv(new conn{res, {}, 0, 0});
          }
          arm_accept();
          break;
        case op_recv:
          if (res <= 0) {
            ::close(c->fd);
            delete c;
          } else {
            c->len = static_cast<std::size_t>(res);
            c->off = 0;
            arm_send(c);
          }
          break;
        case op_send:
          if (res <= 0) {
            ::close(c->fd);
            delete c;
          } else if ((c->off += static_cast<std::size_t>(res)) < c->len) {
            arm_send(c);
          } else {
            arm_recv(c);
          }
          break;
      }
    }
    io_uring_cq_advance(&ring, n);
  }
}

// ---- measurement ----

struct server_proc {
  pid_t pid = -1;
  std::uint16_t port = 0;
};

// A peer's echo server: `cmd PORT`, pinned to CPU 0 like ours; ready once
// it accepts a connection (up to 10 s).
server_proc start_peer(const std::string& cmd) {
  const std::uint16_t port = bench::free_port();
  const pid_t pid = bench::start_peer_server(cmd, std::to_string(port));
  if (bench::wait_listening(port, pid)) return server_proc{pid, port};
  std::fprintf(stderr, "echo_bench: peer '%s' did not start listening on port %u\n", cmd.c_str(), port);
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return server_proc{-1, 0};
}

server_proc start_server(int kind) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) std::abort();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::close(pipefd[0]);
    pin(0);
    if (kind == 0) serve_greenring();
    int lfd = listen_socket();
    if (kind == 1) serve_threads(lfd);
    serve_uring(lfd);
  }
  ::close(pipefd[1]);
  server_proc s;
  s.pid = pid;
  if (::read(pipefd[0], &s.port, sizeof s.port) != sizeof s.port) std::abort();
  ::close(pipefd[0]);
  return s;
}

struct load_result {
  double requests = 0, seconds = 0, p50 = 0, p99 = 0, server_cpu_ns = 0;
  std::size_t errors = 0;
};

// Requests/s and latency percentiles from the measured requests' latencies.
void summarize(load_result& r, std::vector<float>& lat_us, double measure_s) {
  std::sort(lat_us.begin(), lat_us.end());
  r.requests = static_cast<double>(lat_us.size());
  r.seconds = measure_s;
  if (!lat_us.empty()) {
    r.p50 = lat_us[lat_us.size() / 2];
    r.p99 = lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)];
  }
}

load_result run_load(pid_t server, std::uint16_t port, int conns, double warm_s, double measure_s) {
  const auto to = greenring::address::ip("127.0.0.1", port);
  const auto t0 = clk::now();
  const auto warm_end = t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(warm_s));
  const auto end = warm_end + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(measure_s));
  std::vector<std::vector<float>> lat(static_cast<std::size_t>(conns));
  load_result r;
  double cpu_at_warm_end = -1;
  std::vector<greenring::task<void>> clients;
  for (int c = 0; c < conns; ++c)
    clients.push_back(greenring::spawn([&, c] {
      try {
        auto s = greenring::tcp_stream::connect(to, 10s);
        char msg[msg_size], back[msg_size];
        std::memset(msg, 'e', sizeof msg);
        auto& mine = lat[static_cast<std::size_t>(c)];
        for (;;) {
          const auto a = clk::now();
          if (a >= end) break;
          s.write_all(greenring::const_buffer(msg, sizeof msg));
          s.read_exact(back);
          if (a >= warm_end) mine.push_back(std::chrono::duration<float, std::micro>(clk::now() - a).count());
        }
      } catch (const std::exception&) {
        ++r.errors;
      }
    }));
  auto sampler = greenring::spawn([&] {
    greenring::sleep_until(warm_end);
    cpu_at_warm_end = cpu_ns(server);
    greenring::sleep_until(end);
    r.server_cpu_ns = cpu_ns(server) - cpu_at_warm_end;
  });
  greenring::joinall(clients);
  sampler.join();
  std::vector<float> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  summarize(r, all, measure_s);
  return r;
}

// The default load generator: callback-style liburing like the reference
// server, each request a send linked to its recv (one CQE per request), one
// submit_and_wait per turn. It spends as little client CPU per request as
// we know how to, so that the server, not the generator, sets the pace
// (with greenring's own client tasks the fast servers sat 8-15% idle at
// 1,000 connections: the generator's core was the limit).
// `conns` connections to each of `servers` at once, each server's figures
// apart (a head-to-head run: see BM_echo_duel).
std::vector<load_result> run_load_uring(const std::vector<server_proc>& servers, int conns, double warm_s,
                                        double measure_s) {
  struct conn {
    int fd = -1;
    std::size_t server = 0;
    clk::time_point start;
    std::size_t got = 0;
    char back[msg_size];
  };
  const auto t0 = clk::now();
  const auto warm_end = t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(warm_s));
  const auto end = warm_end + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(measure_s));
  const std::size_t ns = servers.size();
  std::vector<load_result> r(ns);
  std::vector<std::vector<float>> lat(ns);
  // Interleaved, so that neither server's connections all come first.
  std::vector<conn> cs(static_cast<std::size_t>(conns) * ns);
  for (std::size_t i = 0; i < cs.size(); ++i) {
    conn& c = cs[i];
    c.server = i % ns;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(servers[c.server].port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) ++r[c.server].errors;
  }
  io_uring ring;
  io_uring_params p{};
  p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(4096, &ring, &p) < 0) std::abort();
  auto get_sqe = [&ring] {
    io_uring_sqe* q;
    while (!(q = io_uring_get_sqe(&ring))) io_uring_submit(&ring);
    return q;
  };
  static const std::string msg(msg_size, 'e');
  auto arm_recv = [&](std::size_t i) {
    io_uring_sqe* q = get_sqe();
    io_uring_prep_recv(q, cs[i].fd, cs[i].back + cs[i].got, msg_size - cs[i].got, 0);
    io_uring_sqe_set_data64(q, i << 1 | 1);
  };
  auto start = [&](std::size_t i, clk::time_point now) {
    cs[i].start = now;
    cs[i].got = 0;
    io_uring_sqe* q = get_sqe();
    io_uring_prep_send(q, cs[i].fd, msg.data(), msg_size, MSG_NOSIGNAL);
    q->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;  // only a failed send posts
    io_uring_sqe_set_data64(q, i << 1);
    arm_recv(i);
  };
  for (auto& l : lat) l.reserve((4u << 20) / ns);
  std::size_t active = 0;
  for (std::size_t i = 0; i < cs.size(); ++i)
    if (cs[i].fd >= 0) {
      start(i, clk::now());
      ++active;
    }
  std::vector<double> cpu_at_warm_end(ns, -1);
  bool warmed = false, measured = false;
  auto server_cpu = [&](std::size_t k) { return cpu_ns(servers[k].pid); };
  while (active > 0) {
    io_uring_submit_and_wait(&ring, 1);
    const auto now = clk::now();
    if (!warmed && now >= warm_end) {
      for (std::size_t k = 0; k < ns; ++k) cpu_at_warm_end[k] = server_cpu(k);
      warmed = true;
    }
    if (!measured && now >= end) {
      for (std::size_t k = 0; k < ns; ++k) r[k].server_cpu_ns = server_cpu(k) - cpu_at_warm_end[k];
      measured = true;
    }
    io_uring_cqe* cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++n;
      const std::size_t i = cqe->user_data >> 1;
      conn& c = cs[i];
      const int res = cqe->res;
      if (!(cqe->user_data & 1) || res <= 0) {  // a failed send, or a recv that failed or saw EOF
        if (cqe->user_data & 1) {
          ++r[c.server].errors;
          ::close(c.fd);
          c.fd = -1;
          --active;
        }
        continue;  // the recv linked to a failed send reports (cancelled) next
      }
      c.got += static_cast<std::size_t>(res);
      if (c.got < msg_size) {
        arm_recv(i);
        continue;
      }
      if (c.start >= warm_end && c.start < end)
        lat[c.server].push_back(std::chrono::duration<float, std::micro>(now - c.start).count());
      if (now >= end) {
        ::close(c.fd);
        c.fd = -1;
        --active;
      } else {
        start(i, now);
      }
    }
    io_uring_cq_advance(&ring, n);
  }
  io_uring_queue_exit(&ring);
  for (std::size_t k = 0; k < ns; ++k) {
    if (!measured) r[k].server_cpu_ns = server_cpu(k) - cpu_at_warm_end[k];
    summarize(r[k], lat[k], measure_s);
  }
  return r;
}

double measure_seconds() {
  const char* e = std::getenv("ECHO_BENCH_SECONDS");
  double s = e ? std::atof(e) : 10;
  return s > 0 ? s : 10;
}

void BM_echo(benchmark::State& state, int kind, const std::string& peer_cmd = {}) {
  const int conns = static_cast<int>(state.range(0));
  pin(1);
  for (auto _ : state) {
    server_proc s = peer_cmd.empty() ? start_server(kind) : start_peer(peer_cmd);
    if (s.pid < 0) {
      state.SkipWithError("peer did not start");
      break;
    }
    const char* gen = std::getenv("ECHO_BENCH_LOAD");  // "greenring": greenring client tasks instead
    load_result r = gen && std::string(gen) == "greenring" ? run_load(s.pid, s.port, conns, 2.0, measure_seconds())
                                                            : run_load_uring({s}, conns, 2.0, measure_seconds())[0];
    if (!peer_cmd.empty()) ::kill(-s.pid, SIGKILL);
    ::kill(s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
    state.counters["req_per_s"] = r.requests / r.seconds;
    state.counters["p50_us"] = r.p50;
    state.counters["p99_us"] = r.p99;
    state.counters["server_cpu_us_per_req"] = r.requests > 0 ? r.server_cpu_ns / 1000.0 / r.requests : 0;
    state.counters["errors"] = static_cast<double>(r.errors);
    if (r.errors) state.SkipWithError("client errors");
  }
}

// Head to head: two servers on CPU 0 at the same time, `conns` connections
// each from one generator. Each gets about half the core, so whichever
// spends less CPU per request serves more; and whatever the host does to
// the core (other tenants, frequency) it does to both at once, which
// back-to-back runs cannot promise on a shared machine. `a_vs_b` =
// a's requests/s over b's.
struct contender {
  std::string name;
  int kind = -1;  // 0 greenring, 1 threads, 2 uring; -1: `command` (a peer)
  std::string command;
};

server_proc start(const contender& c) { return c.kind >= 0 ? start_server(c.kind) : start_peer(c.command); }

void stop(const contender& c, const server_proc& s) {
  if (c.kind < 0) ::kill(-s.pid, SIGKILL);
  ::kill(s.pid, SIGKILL);
  ::waitpid(s.pid, nullptr, 0);
}

void BM_echo_duel(benchmark::State& state, const contender& a, const contender& b) {
  const int conns = static_cast<int>(state.range(0));
  pin(1);
  for (auto _ : state) {
    const server_proc sa = start(a);
    const server_proc sb = sa.pid < 0 ? server_proc{} : start(b);
    if (sa.pid < 0 || sb.pid < 0) {
      if (sa.pid > 0) stop(a, sa);
      if (sb.pid > 0) stop(b, sb);
      state.SkipWithError("a server did not start");
      break;
    }
    const std::vector<load_result> r = run_load_uring({sa, sb}, conns, 2.0, measure_seconds());
    stop(a, sa);
    stop(b, sb);
    const double ra = r[0].requests / r[0].seconds, rb = r[1].requests / r[1].seconds;
    state.counters[a.name + "_req_per_s"] = ra;
    state.counters[b.name + "_req_per_s"] = rb;
    state.counters[a.name + "_vs_" + b.name] = rb > 0 ? ra / rb : 0;
    state.counters[a.name + "_cpu_us_per_req"] = r[0].requests > 0 ? r[0].server_cpu_ns / 1000.0 / r[0].requests : 0;
    state.counters[b.name + "_cpu_us_per_req"] = r[1].requests > 0 ? r[1].server_cpu_ns / 1000.0 / r[1].requests : 0;
    state.counters[a.name + "_p99_us"] = r[0].p99;
    state.counters[b.name + "_p99_us"] = r[1].p99;
    if (r[0].errors || r[1].errors) state.SkipWithError("client errors");
  }
}

}  // namespace

// Runs for one connection count sit next to each other, greenring between
// its two baselines: the host's load drifts over a minute, and comparing
// runs made seconds apart keeps that drift out of the ratios.
#define GREENRING_ECHO_RUNS(conns)                                                                              \
  BENCHMARK_CAPTURE(BM_echo, uring, 2)->Arg(conns)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();     \
  BENCHMARK_CAPTURE(BM_echo, greenring, 0)->Arg(conns)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime(); \
  BENCHMARK_CAPTURE(BM_echo, threads, 1)->Arg(conns)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime()
GREENRING_ECHO_RUNS(100);
GREENRING_ECHO_RUNS(1000);

int main(int argc, char** argv) {
  // `echo_bench --serve=greenring|threads|uring PORT`: just that server, in
  // the foreground, as a peer for another build's echo_bench (an A/B of a
  // change: ECHO_BENCH_PEERS="old=OLD/echo_bench --serve=greenring;new=..."
  // ECHO_BENCH_DUEL=new:old).
  if (argc == 3 && std::strncmp(argv[1], "--serve=", 8) == 0) {
    const std::string kind = argv[1] + 8;
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);  // the servers report their port on fd 1
    if (null < 0 || ::dup2(null, 1) < 0) return 1;
    if (kind == "greenring") serve_greenring(port);
    if (kind == "threads") serve_threads(listen_socket(port));
    if (kind == "uring") serve_uring(listen_socket(port));
    std::fprintf(stderr, "echo_bench: --serve= takes greenring, threads or uring\n");
    return 2;
  }
  // ECHO_BENCH_PEERS="name=command;name=command": BM_echo/peer_NAME/100, /1000.
  std::vector<bench::peer> peers;
  if (!bench::peers_from_env("ECHO_BENCH_PEERS", peers)) return 2;
  for (const auto& p : peers)
    for (int conns : {100, 1000})
      benchmark::RegisterBenchmark(("BM_echo/peer_" + p.name).c_str(),
                                   [cmd = p.command](benchmark::State& st) { BM_echo(st, -1, cmd); })
          ->Arg(conns)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
  // ECHO_BENCH_DUEL="a:b;...": BM_echo_duel/a_vs_b/100, /1000, where a and
  // b are greenring, uring, threads or a peer's name; greenring:uring when
  // unset.
  std::vector<contender> known = {{"greenring", 0, {}}, {"threads", 1, {}}, {"uring", 2, {}}};
  for (const auto& p : peers) known.push_back({p.name, -1, p.command});
  const char* duels = std::getenv("ECHO_BENCH_DUEL");
  const std::string duel_list = duels ? duels : "greenring:uring";
  for (std::size_t at = 0; at < duel_list.size();) {
    std::size_t end = duel_list.find(';', at);
    if (end == std::string::npos) end = duel_list.size();
    const std::string entry = duel_list.substr(at, end - at);
    at = end + 1;
    const std::size_t colon = entry.find(':');
    auto find = [&](const std::string& name) -> const contender* {
      for (const auto& c : known)
        if (c.name == name) return &c;
      return nullptr;
    };
    const contender* a = colon == std::string::npos ? nullptr : find(entry.substr(0, colon));
    const contender* b = colon == std::string::npos ? nullptr : find(entry.substr(colon + 1));
    if (!a || !b || a == b) {
      std::fprintf(stderr, "ECHO_BENCH_DUEL entry '%s' is not a:b of two different servers\n", entry.c_str());
      return 2;
    }
    for (int conns : {100, 1000})
      benchmark::RegisterBenchmark(("BM_echo_duel/" + a->name + "_vs_" + b->name).c_str(),
                                   [a = *a, b = *b](benchmark::State& st) { BM_echo_duel(st, a, b); })
          ->Arg(conns)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
