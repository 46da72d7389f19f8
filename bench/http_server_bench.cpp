// http_server_bench: wrk (Debian's package) against three HTTP/1.1 servers
// serving the same bytes, each in its own process pinned to CPU 0, with wrk
// pinned to CPU 1: 100 keep-alive connections, one wrk thread.
//   greenring  http::server, a task per connection
//   threads    one std::thread per connection, blocking recv/send, the
//              smallest correct keep-alive loop (the threads baseline)
//   nginx      one worker process (master_process off), the config in
//              bench/nginx.conf, the body inlined with `return 200`
// BM_http_cores/*: the same servers on every core, unpinned, with wrk's
// two threads on the same cores: greenring with a hub per core (run_hubs,
// SO_REUSEPORT), nginx with a worker per core, the threads server and the
// peers as they come (Go's runtime uses every core by itself).
// BM_http_duel/greenring_vs_nginx: greenring and nginx at once, both on
// CPU 0, each under its own wrk on CPU 1 (a head-to-head run: counters
// named after each server, and their ratio).
// Bodies of 1 KiB (the issue's case) and 64 bytes (PhotonLibOS's figure on
// this machine was measured with 64). Each run: 2 s of warm-up, then
// HTTP_BENCH_SECONDS (default 10) measured. Counters: requests/s, p50/p99
// latency (us, from wrk --latency), server CPU us per request.
// Peers in the same run: HTTP_BENCH_PEERS="go=bench/peers/http_go;gevent=
// python3 bench/peers/http_gevent.py" adds runs started as `COMMAND PORT
// BODY_BYTES` (bench/peers/README.md).
#include "server_support.hpp"

#include <greenring/greenring.hpp>

#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using bench::cpu_ns;
using bench::listen_socket;
using bench::pin;
using bench::port_of;
using bench::free_port;
using bench::wait_listening;

std::string body_of(std::size_t n) { return std::string(n, 'x'); }

// ---- servers (in the child; never return) ----

// all_cores: a hub per core, each with its own SO_REUSEPORT listener of the
// one port.
[[noreturn]] void serve_greenring(std::size_t body_size, int out, bool all_cores) {
  const std::string body = body_of(body_size);
  auto handler = [&](const greenring::http::request&) {
    return greenring::http::reply{200, {{"Content-Type", "text/plain"}}, body};
  };
  greenring::http::server_options so;
  so.reuse_port = all_cores;
  greenring::http::server first(greenring::address::parse("127.0.0.1:0"), handler, so);
  const greenring::address at = first.local();
  std::uint16_t port = at.port();
  if (::write(out, &port, sizeof port) != sizeof port) std::_Exit(4);
  if (!all_cores) {
    first.serve_forever();
  } else {
    greenring::run_hubs(0, [&](std::size_t i) {
      if (i == 0) return first.serve_forever();
      greenring::http::server(at, handler, so).serve_forever();
    });
  }
  std::_Exit(0);
}

[[noreturn]] void serve_threads(std::size_t body_size, int out) {
  const int lfd = listen_socket();
  const std::uint16_t port = port_of(lfd);
  if (::write(out, &port, sizeof port) != sizeof port) std::_Exit(4);
  const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body_size) +
                            "\r\n\r\n" + body_of(body_size);
  const int one = 1;
  for (;;) {
    int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([c, &reply] {
      std::string in;
      char buf[4096];
      for (;;) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        // One reply per complete request head (GET only: no bodies).
        for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
          in.erase(0, end + 4);
          for (std::size_t off = 0; off < reply.size();) {
            ssize_t w = ::send(c, reply.data() + off, reply.size() - off, MSG_NOSIGNAL);
            if (w <= 0) goto done;
            off += static_cast<std::size_t>(w);
          }
        }
      }
    done:
      ::close(c);
    }).detach();
  }
}

std::string nginx_conf_template() {
  for (const char* p : {"bench/nginx.conf", "../bench/nginx.conf", "../../bench/nginx.conf"})
    if (std::ifstream f(p); f) {
      std::stringstream s;
      s << f.rdbuf();
      return s.str();
    }
  return {};
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, from.size(), to);
}

// Writes a prefix directory with the config; returns it.
std::string nginx_prefix(std::size_t body_size, std::uint16_t port, bool all_cores) {
  std::string conf = nginx_conf_template();
  if (conf.empty()) return {};
  if (all_cores) {  // a master and a worker per core
    replace_all(conf, "master_process off;", "master_process on;");
    replace_all(conf, "worker_processes 1;", "worker_processes auto;");
  }
  char tmpl[] = "/tmp/greenring-nginx-XXXXXX";
  if (!::mkdtemp(tmpl)) return {};
  const std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/logs");
  replace_all(conf, "@PORT@", std::to_string(port));
  replace_all(conf, "@BODY@", body_of(body_size));
  std::ofstream(dir + "/nginx.conf") << conf;
  return dir;
}

// ---- measurement ----

struct server_proc {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::string cleanup;  // a directory to remove
};

bool have(const char* program) {
  const std::string cmd = std::string("command -v ") + program + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// A peer's server: `cmd PORT BODY_BYTES`, pinned to CPU 0 unless on all
// cores, in a process group of its own (killed whole); ready once it
// accepts a connection.
server_proc start_peer(const std::string& cmd, std::size_t body_size, bool all_cores) {
  server_proc s;
  s.port = free_port();
  s.pid = bench::start_peer_server(cmd, std::to_string(s.port) + " " + std::to_string(body_size), !all_cores);
  if (!wait_listening(s.port, s.pid)) {
    ::kill(-s.pid, SIGKILL);
    ::kill(s.pid, SIGKILL);
    ::waitpid(s.pid, nullptr, 0);
    s.pid = -1;
  }
  return s;
}

// kind 0 greenring, 1 threads, 2 nginx; all_cores: unpinned, and a hub or
// worker per core where the server is told how many.
server_proc start_server(int kind, std::size_t body_size, bool all_cores = false) {
  server_proc s;
  if (kind == 2) {
    s.port = free_port();
    s.cleanup = nginx_prefix(body_size, s.port, all_cores);
    if (s.cleanup.empty()) return s;
    s.pid = ::fork();
    if (s.pid == 0) {
      if (!all_cores) pin(0);
      ::setpgid(0, 0);  // the master and its workers, killed whole
      ::execlp("nginx", "nginx", "-p", s.cleanup.c_str(), "-c", (s.cleanup + "/nginx.conf").c_str(), nullptr);
      std::_Exit(127);
    }
    if (!wait_listening(s.port, s.pid, 500)) {  // nginx says nothing: up to 5 s
      ::kill(s.pid, SIGKILL);
      ::waitpid(s.pid, nullptr, 0);
      s.pid = -1;
    }
    return s;
  }
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  s.pid = ::fork();
  if (s.pid == 0) {
    ::close(fds[0]);
    if (!all_cores) pin(0);
    if (kind == 0) serve_greenring(body_size, fds[1], all_cores);
    serve_threads(body_size, fds[1]);
  }
  ::close(fds[1]);
  if (::read(fds[0], &s.port, sizeof s.port) != sizeof s.port) std::abort();
  ::close(fds[0]);
  return s;
}

// Runs the commands at once; returns each one's stdout.
std::vector<std::string> run_all(const std::vector<std::string>& cmds) {
  std::vector<FILE*> ps;
  for (const auto& c : cmds) ps.push_back(::popen(c.c_str(), "r"));
  std::vector<std::string> outs(cmds.size());
  for (std::size_t i = 0; i < ps.size(); ++i) {
    if (!ps[i]) continue;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, ps[i])) outs[i].append(buf, n);
    ::pclose(ps[i]);
  }
  return outs;
}
std::string run(const std::string& cmd) { return run_all({cmd})[0]; }

// wrk prints latencies as 812.00us, 1.20ms, 2.00s.
double to_us(const std::string& v, const std::string& unit) {
  const double x = std::atof(v.c_str());
  if (unit == "us") return x;
  if (unit == "ms") return x * 1e3;
  if (unit == "s") return x * 1e6;
  return x;
}

double seconds() {
  const char* e = std::getenv("HTTP_BENCH_SECONDS");
  const double s = e ? std::atof(e) : 10;
  return s > 0 ? s : 10;
}

struct wrk_result {
  double rps = 0, requests = 0, p50_us = 0, p99_us = 0;
  std::string error;  // empty when wrk measured cleanly
};

wrk_result parse_wrk(const std::string& out) {
  wrk_result r;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) r.rps = std::atof(m[1].str().c_str());
  if (std::regex_search(out, m, std::regex(R"(([0-9]+) requests in)"))) r.requests = std::atof(m[1].str().c_str());
  if (std::regex_search(out, m, std::regex(R"(50%\s+([0-9.]+)(us|ms|s))"))) r.p50_us = to_us(m[1], m[2]);
  if (std::regex_search(out, m, std::regex(R"(99%\s+([0-9.]+)(us|ms|s))"))) r.p99_us = to_us(m[1], m[2]);
  if (r.rps <= 0) r.error = "wrk reported nothing: " + out;
  else if (out.find("Non-2xx") != std::string::npos || out.find("Socket errors") != std::string::npos)
    r.error = "wrk saw errors: " + out;
  return r;
}

void stop_server(const server_proc& s, bool group) {
  if (group) ::kill(-s.pid, SIGKILL);
  ::kill(s.pid, SIGKILL);
  ::waitpid(s.pid, nullptr, 0);
  if (!s.cleanup.empty()) std::filesystem::remove_all(s.cleanup);
}

const std::string wrk_cmd = "taskset -c 1 wrk -t1 -c100 ";
const std::string wrk_all_cores_cmd = "wrk -t2 -c100 ";
std::string url_of(const server_proc& s) { return "http://127.0.0.1:" + std::to_string(s.port) + "/"; }
std::string measured_run() { return "--latency -d" + std::to_string(static_cast<int>(seconds())) + "s "; }

void BM_http(benchmark::State& state, int kind, const std::string& peer_cmd = {}, bool all_cores = false) {
  const auto body_size = static_cast<std::size_t>(state.range(0));
  if (!have("wrk")) return state.SkipWithError("wrk is not installed (apt-get install wrk)");
  if (kind == 2 && !have("nginx")) return state.SkipWithError("nginx is not installed (apt-get install nginx-light)");
  const std::string wrk = all_cores ? wrk_all_cores_cmd : wrk_cmd;
  for (auto _ : state) {
    server_proc s = peer_cmd.empty() ? start_server(kind, body_size, all_cores) : start_peer(peer_cmd, body_size, all_cores);
    if (s.pid < 0) return state.SkipWithError("the server did not start");
    run(wrk + "-d2s " + url_of(s));  // warm-up
    // A peer's or nginx's processes are a process group: all of them count.
    const bool group = !peer_cmd.empty() || kind == 2;
    auto server_cpu = [&] { return group ? bench::group_cpu_ns(s.pid) : cpu_ns(s.pid); };
    const double cpu0 = server_cpu();
    const std::string out = run(wrk + measured_run() + url_of(s));
    const double cpu = server_cpu() - cpu0;
    stop_server(s, group);
    const wrk_result r = parse_wrk(out);
    state.counters["p50_us"] = r.p50_us;
    state.counters["p99_us"] = r.p99_us;
    state.counters["req_per_s"] = r.rps;
    state.counters["server_cpu_us_per_req"] = r.requests > 0 ? cpu / 1000.0 / r.requests : 0;
    if (!r.error.empty()) return state.SkipWithError(r.error.c_str());
  }
}

// Head to head: greenring and nginx both on CPU 0 at once, each under its
// own wrk (both on CPU 1), so that they share the cores under the same load
// at the same time; the ratio is then free of the host's drift between
// back-to-back runs (see echo_bench's BM_echo_duel).
void BM_http_duel(benchmark::State& state) {
  const auto body_size = static_cast<std::size_t>(state.range(0));
  if (!have("wrk")) return state.SkipWithError("wrk is not installed (apt-get install wrk)");
  if (!have("nginx")) return state.SkipWithError("nginx is not installed (apt-get install nginx-light)");
  for (auto _ : state) {
    const server_proc g = start_server(0, body_size);
    const server_proc n = start_server(2, body_size);
    if (g.pid < 0 || n.pid < 0) {
      if (g.pid > 0) stop_server(g, false);
      if (n.pid > 0) stop_server(n, true);
      return state.SkipWithError("a server did not start");
    }
    auto both = [&](const std::string& args) {
      return run_all({wrk_cmd + args + url_of(g), wrk_cmd + args + url_of(n)});
    };
    both("-d2s ");  // warm-up
    const double cg0 = cpu_ns(g.pid), cn0 = cpu_ns(n.pid);
    const std::vector<std::string> out = both(measured_run());
    const double cg = cpu_ns(g.pid) - cg0, cn = cpu_ns(n.pid) - cn0;
    stop_server(g, false);
    stop_server(n, true);
    const wrk_result rg = parse_wrk(out[0]), rn = parse_wrk(out[1]);
    state.counters["greenring_req_per_s"] = rg.rps;
    state.counters["nginx_req_per_s"] = rn.rps;
    state.counters["greenring_vs_nginx"] = rn.rps > 0 ? rg.rps / rn.rps : 0;
    state.counters["greenring_cpu_us_per_req"] = rg.requests > 0 ? cg / 1000.0 / rg.requests : 0;
    state.counters["nginx_cpu_us_per_req"] = rn.requests > 0 ? cn / 1000.0 / rn.requests : 0;
    state.counters["greenring_p99_us"] = rg.p99_us;
    state.counters["nginx_p99_us"] = rn.p99_us;
    if (!rg.error.empty()) return state.SkipWithError(("greenring: " + rg.error).c_str());
    if (!rn.error.empty()) return state.SkipWithError(("nginx: " + rn.error).c_str());
  }
}

}  // namespace

BENCHMARK_CAPTURE(BM_http, greenring, 0)->Arg(1024)->Arg(64)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_http, threads, 1)->Arg(1024)->Arg(64)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_http, nginx, 2)->Arg(1024)->Arg(64)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_http, cores_greenring, 0, std::string(), true)->Name("BM_http_cores/greenring")->Arg(1024)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_http, cores_threads, 1, std::string(), true)->Name("BM_http_cores/threads")->Arg(1024)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_http, cores_nginx, 2, std::string(), true)->Name("BM_http_cores/nginx")->Arg(1024)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_http_duel)->Name("BM_http_duel/greenring_vs_nginx")->Arg(1024)->Arg(64)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

int main(int argc, char** argv) {
  // HTTP_BENCH_PEERS="name=command;name=command": BM_http/peer_NAME/1024, /64.
  std::vector<bench::peer> peers;
  if (!bench::peers_from_env("HTTP_BENCH_PEERS", peers)) return 2;
  for (const auto& p : peers)
    benchmark::RegisterBenchmark(("BM_http/peer_" + p.name).c_str(),
                                 [cmd = p.command](benchmark::State& st) { BM_http(st, -1, cmd); })
        ->Arg(1024)->Arg(64)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
  for (const auto& p : peers)
    benchmark::RegisterBenchmark(("BM_http_cores/peer_" + p.name).c_str(),
                                 [cmd = p.command](benchmark::State& st) { BM_http(st, -1, cmd, true); })
        ->Arg(1024)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
