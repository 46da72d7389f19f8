// Shared by the benchmarks that run a server in a child process: pinning
// to a CPU, reading a process's CPU time, a loopback listening socket,
// and the peers (other runtimes' programs) named in an environment
// variable.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace bench {

/// Pins the calling thread (and what it forks later) to `cpu`.
inline void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % static_cast<int>(std::thread::hardware_concurrency()), &set);
  sched_setaffinity(0, sizeof set, &set);
}

/// CPU time (user + system) of process `pid`, threads that have exited
/// included, in nanoseconds (/proc/<pid>/stat, clock-tick resolution).
/// With `pgrp`, only when the process is in that process group; else 0.
inline double cpu_ns(pid_t pid, pid_t pgrp = 0) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command name, which may hold spaces: state is field 3,
  // pgrp 5, utime 14, stime 15.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 5 && pgrp != 0 && std::atol(field.c_str()) != pgrp) return 0;
    if (i == 14) utime = std::atof(field.c_str());
    if (i == 15) stime = std::atof(field.c_str());
  }
  return (utime + stime) * 1e9 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// CPU time of every process now in process group `pgrp` (a server's
/// master and its workers), in nanoseconds.
inline double group_cpu_ns(pid_t pgrp) {
  double ns = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") == std::string::npos) ns += cpu_ns(std::atoi(name.c_str()), pgrp);
  }
  return ns;
}

/// A TCP socket listening on 127.0.0.1 at a port of the kernel's choice
/// (SO_REUSEADDR, backlog 4096); exits the process if it cannot.
inline int listen_socket(std::uint16_t port = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4096) != 0) std::_Exit(3);
  return fd;
}

/// The local port of socket `fd`.
inline std::uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

/// A port nobody listens on now (for a server that picks no port itself).
inline std::uint16_t free_port() {
  const int fd = listen_socket();
  const std::uint16_t port = port_of(fd);
  ::close(fd);  // the server binds it again (SO_REUSEADDR)
  return port;
}

/// Waits, 10 ms at a time for up to `tries` times, until something accepts
/// connections on 127.0.0.1:`port`; gives up early when `pid` (if not -1)
/// has exited.
inline bool wait_listening(std::uint16_t port, pid_t pid = -1, int tries = 1000) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  for (int i = 0; i < tries; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return true;
    if (pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == pid) return false;
    ::usleep(10000);
  }
  return false;
}

/// A peer program from an environment variable's "name=command;...".
struct peer {
  std::string name, command;
};

/// The peers `var` names (none when it is unset); false, after saying so
/// on stderr, when an entry is not name=command.
inline bool peers_from_env(const char* var, std::vector<peer>& out) {
  const char* v = std::getenv(var);
  if (!v) return true;
  const std::string list = v;
  for (std::size_t at = 0; at < list.size();) {
    std::size_t end = list.find(';', at);
    if (end == std::string::npos) end = list.size();
    const std::string entry = list.substr(at, end - at);
    at = end + 1;
    const std::size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
      std::fprintf(stderr, "%s entry '%s' is not name=command\n", var, entry.c_str());
      return false;
    }
    out.push_back({entry.substr(0, eq), entry.substr(eq + 1)});
  }
  return true;
}

/// In a forked child: runs `exec COMMAND ARGS` through sh; never returns.
[[noreturn]] inline void exec_shell(const std::string& command, const std::string& args) {
  const std::string line = "exec " + command + " " + args;
  ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
  std::_Exit(127);
}

/// Forks a peer server, pinned to CPU 0 like the benchmarks' own, in a
/// process group of its own (kill(-pid) ends what sh started too).
inline pid_t start_peer_server(const std::string& command, const std::string& args, bool pinned = true) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (pinned) pin(0);
    ::setpgid(0, 0);
    exec_shell(command, args);
  }
  return pid;
}

}  // namespace bench
