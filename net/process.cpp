// greenring — child processes: posix_spawn, a pidfd polled on the ring for
// the exit, pipes read through the ring and written without SIGPIPE.
#include "../runtime/detail/io.hpp"
#include "../runtime/detail/assert.hpp"

#include <greenring/detail/wait_list.hpp>
#include <greenring/process.hpp>
#include <greenring/hub.hpp>
#include <greenring/task.hpp>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>
#include <cstring>
#include <utility>

extern char** environ;

namespace greenring {
namespace {

using detail::clock;

// Debian 12's glibc declares these without C linkage (<sys/pidfd.h>,
// fixed in 2.37): the system calls themselves.
int pidfd_open(pid_t pid, unsigned flags) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags)); }
int pidfd_send_signal(int pidfd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

std::system_error sys_error(int err, const std::string& what) { return {err, std::system_category(), what}; }

// A pipe end the child gets, moved to fd 3 or above, so that installing it
// as 0, 1 or 2 never overwrites another one.
struct fd_pair {
  int parent = -1, child = -1;
  ~fd_pair() {
    if (parent >= 0) ::close(parent);
    if (child >= 0) ::close(child);
  }
};

int above_stdio(int fd) {
  if (fd >= 3) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int e = errno;
  ::close(fd);
  errno = e;
  return moved;
}

// `child_reads`: the child's end is the read end (its stdin).
int make_pipe(fd_pair& p, bool child_reads) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  const int r = above_stdio(fds[0]);
  const int w = r < 0 ? -1 : above_stdio(fds[1]);
  if (r < 0 || w < 0) {
    int e = errno;
    if (r >= 0) ::close(r);
    else ::close(fds[1]);
    return e;
  }
  p.child = child_reads ? r : w;
  p.parent = child_reads ? w : r;
  // The parent writes the child's stdin without blocking (see write_some).
  if (child_reads && ::fcntl(p.parent, F_SETFL, O_NONBLOCK) != 0) return errno;
  return 0;
}

// write(2) with SIGPIPE blocked in this thread: a reader that went away is
// EPIPE, and the SIGPIPE the kernel queued for it is taken back (unless one
// was already pending before, which is the program's own).
ssize_t write_no_sigpipe(int fd, const void* p, std::size_t n) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  ssize_t r = ::write(fd, p, n);
  const int e = errno;
  if (r < 0 && e == EPIPE && !was_pending) {
    const timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return r;
}

std::string describe_status(int rc) {
  if (rc >= 0) return "exited with status " + std::to_string(rc);
  return "killed by signal " + std::to_string(-rc) + " (" + ::strsignal(-rc) + ")";
}

}  // namespace

// ---- pipe_stream ----

pipe_stream::pipe_stream(pipe_stream&& o) noexcept : fd_(std::exchange(o.fd_, -1)), name_(std::move(o.name_)) {
  GREENRING_ASSERT(o.counter_.in_flight == 0, "a pipe was moved while a task was using it");
}

pipe_stream& pipe_stream::operator=(pipe_stream&& o) noexcept {
  if (this != &o) {
    close();
    GREENRING_ASSERT(o.counter_.in_flight == 0, "a pipe was moved while a task was using it");
    fd_ = std::exchange(o.fd_, -1);
    name_ = std::move(o.name_);
  }
  return *this;
}

void pipe_stream::close() noexcept {
  if (fd_ < 0 && !counter_.closing) return;
  detail::close_fd(fd_, counter_);
}

std::size_t pipe_stream::read_some(mutable_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  const auto deadline = detail::deadline_in(timeout);
  for (;;) {
    if (fd_ < 0 || counter_.closing) {
      ec = make_error_code(std::errc::bad_file_descriptor);
      return 0;
    }
    detail::io_op op(detail::hub::get(), fd_, &counter_);
    // Offset -1: the descriptor's own position (a pipe has none).
    io_uring_prep_read(op.sqe(deadline), fd_, buf.data, static_cast<unsigned>(std::min<std::size_t>(buf.size, 1u << 30)),
                       static_cast<std::uint64_t>(-1));
    int r = op.wait("read");
    if (r >= 0) return static_cast<std::size_t>(r);
    if (r == -EINTR) continue;
    if (r == -EAGAIN) {
      if (detail::poll_once(detail::hub::get(), fd_, &counter_, POLLIN, deadline, "read") == -ETIMEDOUT) r = -ETIMEDOUT;
      else continue;
    }
    if (r == -ECANCELED && (fd_ < 0 || counter_.closing)) r = -EBADF;
    ec = {-r, std::system_category()};
    return 0;
  }
}

std::size_t pipe_stream::read_some(mutable_buffer buf, duration timeout) {
  std::error_code ec;
  std::size_t n = read_some(buf, ec, timeout);
  if (ec) throw sys_error(ec.value(), "read " + name_);
  return n;
}

std::string pipe_stream::read_all(duration timeout) {
  const auto deadline = detail::deadline_in(timeout);
  std::string out;
  std::size_t have = 0;
  for (;;) {
    if (out.size() - have < 16 * 1024) out.resize(std::max<std::size_t>(64 * 1024, out.size() * 2));
    std::size_t n = read_some(mutable_buffer(out.data() + have, out.size() - have), detail::time_left(deadline));
    if (n == 0) break;
    have += n;
  }
  out.resize(have);
  return out;
}

std::size_t pipe_stream::write_all(const_buffer buf, std::error_code& ec, duration timeout) {
  ec.clear();
  const auto deadline = detail::deadline_in(timeout);
  const auto* p = static_cast<const char*>(buf.data);
  std::size_t done = 0;
  while (done < buf.size) {
    if (fd_ < 0 || counter_.closing) {
      ec = make_error_code(std::errc::bad_file_descriptor);
      return done;
    }
    ssize_t n = write_no_sigpipe(fd_, p + done, buf.size - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      ec = {errno, std::system_category()};
      return done;
    }
    int r = detail::poll_once(detail::hub::get(), fd_, &counter_, POLLOUT, deadline, "write");
    if (r == -ETIMEDOUT) {
      ec = make_error_code(std::errc::timed_out);
      return done;
    }
    if (r < 0 && r != -EINTR && r != -EAGAIN) {
      ec = r == -ECANCELED ? make_error_code(std::errc::bad_file_descriptor) : std::error_code(-r, std::system_category());
      return done;
    }
  }
  return done;
}

void pipe_stream::write_all(const_buffer buf, duration timeout) {
  std::error_code ec;
  write_all(buf, ec, timeout);
  if (ec) throw sys_error(ec.value(), "write " + name_);
}

// ---- process ----

process::process(process&& o) noexcept { take(o); }

process& process::operator=(process&& o) noexcept {
  if (this != &o) {
    finish();
    take(o);
  }
  return *this;
}

void process::take(process& o) noexcept {
  GREENRING_ASSERT(o.counter_.in_flight == 0, "a process was moved while a task was waiting for it");
  pid_ = std::exchange(o.pid_, -1);
  pidfd_ = std::exchange(o.pidfd_, -1);
  rc_ = std::exchange(o.rc_, std::nullopt);
  detached_ = std::exchange(o.detached_, false);
  args_ = std::move(o.args_);
  in_ = std::move(o.in_);
  out_ = std::move(o.out_);
  err_ = std::move(o.err_);
}

process::~process() { finish(); }

void process::finish() noexcept {
  in_.close();
  out_.close();
  err_.close();
  if (pid_ > 0 && !rc_ && !detached_) {
    try {
      send_signal(SIGKILL);
      reap(true);
    } catch (const std::system_error&) {
    }
  }
  if (pidfd_ >= 0) detail::close_fd(pidfd_, counter_);
  pid_ = -1;
  rc_.reset();
  detached_ = false;
}

std::string process::what(const char* op) const {
  std::string s = op;
  s += ' ';
  s += args_.empty() ? std::string("child") : args_[0];
  s += " (pid " + std::to_string(pid_) + ")";
  return s;
}

process process::spawn(const std::vector<std::string>& argv, const process_options& o, std::error_code& ec) {
  ec.clear();
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  for (std::size_t i = 0; i < argv.size(); ++i)
    if (argv[i].find('\0') != std::string::npos)
      throw std::invalid_argument("spawn " + argv[0].substr(0, argv[0].find('\0')) + ": argument " + std::to_string(i) +
                                  " contains a NUL byte");
  if (o.in == stdio::to_stdout || o.out == stdio::to_stdout)
    throw std::invalid_argument("spawn " + argv[0] + ": stdio::to_stdout is only for err");
  if (o.env)
    for (const auto& e : *o.env)
      if (e.find('\0') != std::string::npos)
        throw std::invalid_argument("spawn " + argv[0] + ": an environment entry contains a NUL byte");

  fd_pair in, out, err;
  int e = 0;
  if (o.in == stdio::pipe) e = make_pipe(in, true);
  if (!e && o.out == stdio::pipe) e = make_pipe(out, false);
  if (!e && o.err == stdio::pipe) e = make_pipe(err, false);
  if (e) {
    ec = {e, std::system_category()};
    return {};
  }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  auto stream = [&](stdio how, fd_pair& p, int target, int null_flags) {
    if (how == stdio::pipe) posix_spawn_file_actions_adddup2(&fa, p.child, target);
    else if (how == stdio::null) posix_spawn_file_actions_addopen(&fa, target, "/dev/null", null_flags, 0);
  };
  stream(o.in, in, 0, O_RDONLY);
  stream(o.out, out, 1, O_WRONLY);
  if (o.err == stdio::to_stdout) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else stream(o.err, err, 2, O_WRONLY);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
  // Whatever this thread blocks (worker threads and wait_signal block
  // signals) or the program ignores, the child starts clean.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  if (o.env) {
    for (const auto& v : *o.env) envp.push_back(const_cast<char*>(v.c_str()));
    envp.push_back(nullptr);
  }
  pid_t pid = -1;
  char** env = o.env ? envp.data() : environ;
  e = o.search_path ? ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), env)
                    : ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, args.data(), env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (e) {
    ec = {e, std::system_category()};
    return {};
  }

  process p;
  p.pid_ = pid;
  p.args_ = argv;
  // Fails for a child already reaped (SIGCHLD ignored: the kernel reaps at
  // once; wait() then reports ECHILD), and where pidfds are missing
  // (Valgrind, old seccomp profiles): then wait() polls.
  p.pidfd_ = pidfd_open(pid, 0);
  auto adopt_end = [&](pipe_stream& s, fd_pair& f, const char* which) {
    if (f.parent < 0) return;
    s.fd_ = std::exchange(f.parent, -1);
    s.name_ = std::string(which) + " of " + argv[0] + " (pid " + std::to_string(pid) + ")";
  };
  adopt_end(p.in_, in, "stdin");
  adopt_end(p.out_, out, "stdout");
  adopt_end(p.err_, err, "stderr");
  return p;  // fd_pair closes the child's ends here
}

process process::spawn(const std::vector<std::string>& argv, const process_options& o) {
  std::error_code ec;
  process p = spawn(argv, o, ec);
  if (ec) {
    std::string w = "spawn " + argv[0];
    if (!o.cwd.empty()) w += " (in " + o.cwd + ")";
    throw sys_error(ec.value(), w);
  }
  return p;
}

process process::adopt(pid_t pid) {
  process p;
  p.pid_ = pid;
  p.args_ = {"child"};
  siginfo_t si{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
    p.pid_ = -1;
    throw sys_error(errno, "adopt pid " + std::to_string(pid) + ": not a child of this process");
  }
  p.pidfd_ = pidfd_open(pid, 0);  // as in spawn; the pid stays ours until reaped
  return p;
}

process process::fork(std::function<int()> fn) {
  std::fflush(nullptr);  // or the child would write the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid < 0) throw sys_error(errno, "fork");
  if (pid == 0) {
    // The child: the forking thread's hub still holds the parent's tasks,
    // frozen here; fn gets a thread, and so a hub, of its own.
    int code = 1;
    auto report = [](const char* what) {
      std::fprintf(stderr, "greenring: process::fork child %d: %s\n", static_cast<int>(::getpid()), what);
    };
    try {
      std::thread t([&] {
        try {
          code = run(fn);
        } catch (const std::exception& e) {
          report(e.what());
        } catch (...) {
          report("an exception");
        }
      });
      t.join();
    } catch (const std::exception& e) {  // no thread for it
      report(e.what());
    }
    std::fflush(nullptr);
    std::_Exit(code & 0xff);
  }
  process p = adopt(pid);
  p.args_ = {"forked child"};
  return p;
}

std::optional<int> process::reap(bool block) {
  if (rc_) return rc_;
  if (pid_ <= 0) throw std::logic_error("wait: no child process");
  for (;;) {
    siginfo_t si{};
    const int opts = WEXITED | (block ? 0 : WNOHANG);
    if ((pidfd_ >= 0 ? ::waitid(P_PIDFD, static_cast<id_t>(pidfd_), &si, opts)
                     : ::waitid(P_PID, static_cast<id_t>(pid_), &si, opts)) != 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) throw sys_error(ECHILD, what("wait") + " (reaped elsewhere: SIGCHLD ignored?)");
      throw sys_error(errno, what("wait"));
    }
    if (si.si_pid == 0) return std::nullopt;  // WNOHANG: still running
    rc_ = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    return rc_;
  }
}

std::optional<int> process::poll() { return reap(false); }

std::optional<int> process::wait(duration timeout) {
  const auto deadline = detail::deadline_in(timeout);
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    if (auto rc = reap(false)) return rc;
    if (pidfd_ < 0) {
      // No pidfd: look again after a pause that grows to 20 ms.
      if (clock::now() >= deadline) return std::nullopt;
      greenring::sleep(std::min<duration>(backoff, detail::time_left(deadline)));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(20));
      continue;
    }
    // The pidfd turns readable when the child exits.
    int r = detail::poll_once(detail::hub::get(), pidfd_, &counter_, POLLIN, deadline, "wait");
    if (r == -ETIMEDOUT) return reap(false);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -ECANCELED) throw sys_error(-r, what("wait"));
  }
}

int process::wait() { return *wait(forever); }

void process::send_signal(int sig) {
  if (rc_ || pid_ <= 0) return;
  // Without a pidfd the pid is still safe to use: it stays ours, a zombie
  // at worst, until this object reaps it.
  if ((pidfd_ >= 0 ? pidfd_send_signal(pidfd_, sig) : ::kill(pid_, sig)) != 0 && errno != ESRCH)
    throw sys_error(errno, what("signal") + " " + std::to_string(sig));
}

process::output process::communicate(std::string_view input, duration timeout) {
  const auto deadline = detail::deadline_in(timeout);
  output res;
  std::error_code write_ec;
  // The helpers use this frame: they are finished or killed before it goes.
  struct helpers {
    std::optional<task<void>> writer, err_reader;
    ~helpers() {
      // After an error in this frame the helpers' own failure (the same
      // timeout, say) is not news: collect it so it is not reported.
      for (auto* t : {&writer, &err_reader})
        if (*t) {
          (*t)->kill();
          (void)(*t)->exception();
        }
    }
  } h;
  if (in_.is_open())
    h.writer = greenring::spawn([this, input, deadline, &write_ec] {
      if (!input.empty()) in_.write_all(input, write_ec, detail::time_left(deadline));
      in_.close();
    });
  if (err_.is_open()) h.err_reader = greenring::spawn([this, deadline, &res] { res.err = err_.read_all(detail::time_left(deadline)); });
  try {
    if (out_.is_open()) res.out = out_.read_all(detail::time_left(deadline));
    if (h.err_reader) h.err_reader->get();
    if (h.writer) h.writer->get();
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::timed_out) throw sys_error(ETIMEDOUT, what("communicate"));
    throw;
  }
  out_.close();
  err_.close();
  // A child that stopped reading its input is not an error here (Python
  // ignores the broken pipe too); running out of time is.
  if (write_ec == std::errc::timed_out) throw sys_error(ETIMEDOUT, what("communicate"));
  if (!wait(detail::time_left(deadline))) throw sys_error(ETIMEDOUT, what("communicate"));
  return res;
}

// ---- helpers ----

run_result run(const std::vector<std::string>& argv, const run_options& o) {
  process_options po = o.process;
  if (!o.input.empty()) po.in = stdio::pipe;
  if (o.capture) {
    po.out = stdio::pipe;
    if (po.err == stdio::inherit) po.err = stdio::pipe;
  }
  process p = process::spawn(argv, po);
  run_result r;
  try {
    auto out = p.communicate(o.input, o.timeout);
    r.out = std::move(out.out);
    r.err = std::move(out.err);
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::timed_out) throw;
    p.kill();
    p.wait();
    throw sys_error(ETIMEDOUT, "run " + argv[0] + " (pid " + std::to_string(p.pid()) + ")");
  }
  r.returncode = p.wait();
  if (o.check && r.returncode != 0)
    throw process_error("run " + argv[0] + ": " + describe_status(r.returncode), r.returncode, std::move(r.out),
                        std::move(r.err));
  return r;
}

int call(const std::vector<std::string>& argv, duration timeout) {
  run_options o;
  o.capture = false;
  o.timeout = timeout;
  return run(argv, o).returncode;
}

std::string check_output(const std::vector<std::string>& argv, duration timeout) {
  run_options o;
  o.capture = false;
  o.process.out = stdio::pipe;  // stderr stays the parent's, as in Python
  o.timeout = timeout;
  run_result r = run(argv, o);
  if (r.returncode != 0)
    throw process_error("check_output " + argv[0] + ": " + describe_status(r.returncode), r.returncode,
                        std::move(r.out), std::move(r.err));
  return std::move(r.out);
}

}  // namespace greenring
