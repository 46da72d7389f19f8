// fetch_bench: 10,000 GETs of 16 KiB pages from a local greenring HTTP
// server that waits 10 ms before each response (simulated internet
// latency), by three clients, each in its own process (so peak RSS and CPU
// time are its own):
//   greenring        http::client, 1,000 tasks at once, keep-alive, each
//                    body in memory (response.body, as fetch_urls does)
//   greenring_streamed  the same, counting each body as it arrives
//                    (options.on_body), as the thread clients do
//   thread_pool_64   64 std::threads with blocking sockets, keep-alive
//   thread_per_req   one std::thread per URL, in batches of 1,000
// Peers: FETCH_BENCH_PEERS="go=bench/peers/fetch_go" adds a client per
// entry, run as `COMMAND URL 10000 1000` (bench/peers/README.md).
// The server runs in another process. Counters: wall time (the benchmark
// time), peak RSS (MiB), peak private memory (MiB: RssAnon sampled every
// ms, without the shared library pages RSS counts) and CPU time (ms) of the
// client process.
#include "server_support.hpp"

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr int total_urls = 10000;
constexpr std::size_t body_size = 16 * 1024;

pid_t server_pid = -1;
std::uint16_t server_port = 0;

void start_server() {
  if (server_pid > 0) return;
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  server_pid = ::fork();
  if (server_pid == 0) {
    ::close(fds[0]);
    greenring::http::server_options o;
    o.delay = 10ms;
    greenring::http::server srv(greenring::address::parse("127.0.0.1:0"),
                                [](const greenring::http::request&) {
                                  return greenring::http::reply{200, {}, std::string(body_size, 'b')};
                                },
                                o);
    std::uint16_t port = srv.local().port();
    if (::write(fds[1], &port, sizeof port) != sizeof port) std::_Exit(1);
    srv.serve_forever();
    std::_Exit(0);
  }
  ::close(fds[1]);
  if (::read(fds[0], &server_port, sizeof server_port) != sizeof server_port) std::abort();
  ::close(fds[0]);
  std::atexit([] {
    ::kill(server_pid, SIGKILL);
    ::waitpid(server_pid, nullptr, 0);
  });
}

// ---- a minimal blocking HTTP/1.1 client for the thread baselines ----

int blocking_connect() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// One GET on `fd` (keep-alive); returns the body size. The server is ours
// and trusted: Content-Length framing only.
std::size_t blocking_get(int fd) {
  static const std::string req = "GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) std::abort();
  std::string buf;
  char tmp[65536];
  std::size_t head_end = std::string::npos;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) std::abort();
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  auto cl = buf.find("Content-Length: ");
  std::size_t len = std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
  std::size_t have = buf.size() - head_end - 4;
  while (have < len) {
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) std::abort();
    have += static_cast<std::size_t>(n);
  }
  return len;
}

// 1,000 tasks share one client and take URLs until all are fetched. With
// `streamed`, each body is counted as it arrives (options.on_body) instead
// of held: the work the thread baselines do, which read each body into a
// buffer on their stack and drop it.
void fetch_with_greenring(bool streamed) {
  greenring::http::options o;
  std::size_t bytes = 0;
  if (streamed)
    o.on_body = [&](const char*, std::size_t n) {
      bytes += n;
      return true;
    };
  greenring::http::client c(o);
  const std::string url = "http://127.0.0.1:" + std::to_string(server_port) + "/page";
  int next = 0;
  std::vector<greenring::task<void>> workers;
  for (int w = 0; w < 1000; ++w)
    workers.push_back(greenring::spawn([&] {
      while (next < total_urls) {
        ++next;
        bytes += c.get(url).body.size();  // 0 when streamed
      }
    }));
  greenring::joinall(workers);
  if (bytes != total_urls * body_size) std::abort();
}

void client_greenring() { fetch_with_greenring(false); }
void client_greenring_streamed() { fetch_with_greenring(true); }

void client_thread_pool() {
  std::atomic<int> next{0};
  std::atomic<std::size_t> bytes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t)
    threads.emplace_back([&] {
      int fd = blocking_connect();
      while (next.fetch_add(1) < total_urls) bytes += blocking_get(fd);
      ::close(fd);
    });
  for (auto& t : threads) t.join();
  if (bytes != total_urls * body_size) std::abort();
}

void client_thread_per_request() {
  std::atomic<std::size_t> bytes{0};
  for (int batch = 0; batch < total_urls / 1000; ++batch) {
    std::vector<std::thread> threads;
    threads.reserve(1000);
    for (int t = 0; t < 1000; ++t)
      threads.emplace_back([&] {
        int fd = blocking_connect();
        bytes += blocking_get(fd);
        ::close(fd);
      });
    for (auto& t : threads) t.join();
  }
  if (bytes != total_urls * body_size) std::abort();
}

// The client's private memory now (RssAnon: heap, stacks, anonymous
// mappings; not the shared library pages RSS also counts), in KiB.
long anon_kib(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "RssAnon:", 8) == 0) kib = std::strtol(line + 8, nullptr, 10);
  std::fclose(f);
  return kib;
}

void run_client(benchmark::State& state, void (*client)(), const std::string& peer_cmd = {}) {
  start_server();
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (!peer_cmd.empty())
        bench::exec_shell(peer_cmd, "http://127.0.0.1:" + std::to_string(server_port) + "/ " +
                                        std::to_string(total_urls) + " 1000");
      client();
      std::_Exit(0);
    }
    int status = 0;
    rusage ru{};
    // Peak private memory, sampled every millisecond (the clients' phases
    // last 10 ms or more: each response waits that long).
    long peak_anon = 0;
    while (::wait4(pid, &status, WNOHANG, &ru) == 0) {
      peak_anon = std::max(peak_anon, anon_kib(pid));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("the client failed");
    state.counters["peak_rss_mib"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
    state.counters["peak_anon_mib"] = static_cast<double>(peak_anon) / 1024.0;
    state.counters["cpu_ms"] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  }
}

// The floor: a forked client that fetches nothing (what every client's
// peak RSS includes before its first request).
void client_nothing() {}

void BM_fetch_greenring(benchmark::State& s) { run_client(s, client_greenring); }
void BM_fetch_nothing(benchmark::State& s) { run_client(s, client_nothing); }
void BM_fetch_greenring_streamed(benchmark::State& s) { run_client(s, client_greenring_streamed); }
void BM_fetch_thread_pool_64(benchmark::State& s) { run_client(s, client_thread_pool); }
void BM_fetch_thread_per_request(benchmark::State& s) { run_client(s, client_thread_per_request); }

}  // namespace

BENCHMARK(BM_fetch_greenring)->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fetch_greenring_streamed)->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fetch_thread_pool_64)->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fetch_thread_per_request)->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_fetch_nothing)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) {
  // FETCH_BENCH_PEERS="name=command;...": BM_fetch_peer_NAME.
  std::vector<bench::peer> peers;
  if (!bench::peers_from_env("FETCH_BENCH_PEERS", peers)) return 2;
  for (const auto& p : peers)
    benchmark::RegisterBenchmark(("BM_fetch_peer_" + p.name).c_str(),
                                 [cmd = p.command](benchmark::State& st) { run_client(st, nullptr, cmd); })
        ->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
