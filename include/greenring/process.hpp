// greenring — child processes whose pipes and exit park the calling task
// (Python's subprocess, gevent.subprocess, Go's os/exec).
//
//   int rc = greenring::call({"nslookup", "www.python.org"});
//
//   greenring::process_options o;
//   o.in = o.out = greenring::stdio::pipe;
//   auto p = greenring::process::spawn({"sort"}, o);
//   auto [out, err] = p.communicate("b\na\n");   // writes, reads and reaps
//   int code = p.wait();                         // 0
//
// The child is started with posix_spawn (no fork of a large parent), with an
// empty signal mask and default signal dispositions whatever the spawning
// thread blocked or ignored. Its exit is awaited through a pidfd polled on
// the hub's ring: waiting parks the task, never the thread, and no SIGCHLD
// handler is installed (where pidfds are refused, as under Valgrind or an
// old seccomp profile, waiting polls with waitid every 1-20 ms instead).
// Pipe reads go through the ring; pipe writes to a
// child that has exited fail with EPIPE, never raise SIGPIPE.
//
// Return codes follow Python: the exit status, or minus the signal number
// that killed the child (-9 for SIGKILL).
//
// Lifetime: a process object that is destroyed while its child still runs
// kills the child (SIGKILL) and reaps it, as Boost.Process does, unless
// detach() was called. Errors name the operation, the program and its pid
// ("spawn nosuchprog: No such file or directory", "write stdin of sort
// (pid 4242): Broken pipe").
#pragma once

#include <greenring/buffer.hpp>
#include <greenring/detail/duration.hpp>
#include <greenring/detail/io_counter.hpp>

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace greenring {

/// Where a child's standard stream goes.
enum class stdio {
  inherit,    // the parent's own descriptor
  pipe,       // a pipe the parent reads or writes (process::in/out/err)
  null,       // /dev/null
  to_stdout,  // only for `err`: wherever stdout goes (2>&1)
};

struct process_options {
  stdio in = stdio::inherit;
  stdio out = stdio::inherit;
  stdio err = stdio::inherit;
  /// Working directory of the child; empty: the parent's.
  std::string cwd;
  /// The child's whole environment ("NAME=value" entries); unset: the parent's.
  std::optional<std::vector<std::string>> env;
  /// Look argv[0] up in PATH when it has no '/' (execvp); false: run it as a path.
  bool search_path = true;
};

/// The parent's end of one pipe to a child: stdin (write) or stdout/stderr
/// (read). Errors name the stream and the child.
class pipe_stream {
 public:
  pipe_stream() = default;
  pipe_stream(pipe_stream&& o) noexcept;
  pipe_stream& operator=(pipe_stream&& o) noexcept;
  ~pipe_stream() { close(); }

  /// Up to buf.size bytes; 0 at EOF (the child closed its end or exited).
  std::size_t read_some(mutable_buffer buf, duration timeout = forever);
  std::size_t read_some(mutable_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Everything up to EOF.
  std::string read_all(duration timeout = forever);
  /// All of `buf`; EPIPE (an error, never a signal) when the child stopped reading.
  void write_all(const_buffer buf, duration timeout = forever);
  std::size_t write_all(const_buffer buf, std::error_code& ec, duration timeout = forever);
  /// Closes the parent's end (the child sees EOF on its stdin), cancelling
  /// and awaiting this stream's requests in flight first.
  void close() noexcept;

  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }
  /// "stdout of sort (pid 4242)".
  const std::string& name() const noexcept { return name_; }

 private:
  friend class process;
  int fd_ = -1;
  std::string name_;
  detail::io_counter counter_;
};

class process {
 public:
  process() = default;
  process(process&& o) noexcept;
  process& operator=(process&& o) noexcept;
  /// A child still running is killed (SIGKILL) and reaped, unless detached.
  ~process();

  /// Starts argv[0] with arguments argv. Throws std::system_error when the
  /// program cannot be started (not found, not executable, bad cwd), and
  /// std::invalid_argument for an empty argv or a NUL inside an argument.
  static process spawn(const std::vector<std::string>& argv, const process_options& o = {});
  static process spawn(const std::vector<std::string>& argv, const process_options& o, std::error_code& ec);
  /// Takes over a child this process made itself (say with fork()), to wait
  /// for it without blocking the thread.
  static process adopt(pid_t pid);
  /// multiprocessing's Process(target=fn).start(): forks a child that runs
  /// fn() as the main task of a fresh hub on a new thread of its own and
  /// then exits (_exit) with fn's int result (0 when it returns void; 1,
  /// with a line on stderr, when it throws). Nothing else of this process
  /// runs in the child: not the parent's other tasks, not their
  /// destructors, not atexit handlers. stdio is flushed first, so buffered
  /// output is not written twice. The child shares nothing with the parent
  /// afterwards but what fork() copies (memory, open descriptors).
  /// Throws std::system_error when fork() fails.
  static process fork(std::function<int()> fn);
  template <class F>
    requires std::is_void_v<std::invoke_result_t<F&>>
  static process fork(F fn) {
    return fork(std::function<int()>([fn = std::move(fn)]() mutable {
      fn();
      return 0;
    }));
  }

  pid_t pid() const noexcept { return pid_; }
  const std::vector<std::string>& args() const noexcept { return args_; }
  /// The pipes asked for with stdio::pipe; closed streams otherwise.
  pipe_stream& in() noexcept { return in_; }
  pipe_stream& out() noexcept { return out_; }
  pipe_stream& err() noexcept { return err_; }

  /// Parks until the child exits; its return code. Several tasks may wait.
  int wait();
  /// The return code, or nothing if the child still runs after `timeout`.
  std::optional<int> wait(duration timeout);
  /// The return code if the child has exited (reaping it), without waiting.
  std::optional<int> poll();
  /// Known once the child was reaped.
  std::optional<int> returncode() const noexcept { return rc_; }

  /// Sends `sig` (through the pidfd: never to a recycled pid). Does nothing
  /// once the child was reaped.
  void send_signal(int sig);
  void terminate() { send_signal(15); }
  void kill() { send_signal(9); }

  struct output {
    std::string out, err;
  };
  /// Writes `input` to stdin and closes it, reads stdout and stderr to EOF
  /// (concurrently: a child that fills one pipe while waiting on another
  /// does not deadlock), then waits for the child. Pipes not asked for stay
  /// empty. On timeout: std::system_error(timed_out); the child keeps
  /// running (kill() it, or let the destructor).
  output communicate(std::string_view input = {}, duration timeout = forever);

  /// The destructor leaves the child running (and unreaped).
  void detach() noexcept { detached_ = true; }

 private:
  std::optional<int> reap(bool block);
  void take(process& o) noexcept;
  void finish() noexcept;
  std::string what(const char* op) const;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> rc_;
  bool detached_ = false;
  std::vector<std::string> args_;
  pipe_stream in_, out_, err_;
  detail::io_counter counter_;  // the pidfd's
};

/// A child that exited with a status other than 0 under check_output / run(check).
class process_error : public std::runtime_error {
 public:
  process_error(std::string what, int returncode, std::string out, std::string err)
      : std::runtime_error(std::move(what)), returncode(returncode), out(std::move(out)), err(std::move(err)) {}
  int returncode;
  std::string out, err;
};

struct run_options {
  process_options process;  // in/out/err are set by run() when capturing or giving input
  std::string input;        // written to the child's stdin (then closed); empty: stdin inherited
  bool capture = true;      // stdout and stderr into the result; false: inherited
  duration timeout = forever;  // then the child is killed, reaped, and run throws timed_out
  bool check = false;       // a non-zero return code throws process_error
};

struct run_result {
  int returncode = 0;
  std::string out, err;
};

/// Python's subprocess.run: starts argv, feeds input, collects output, waits.
run_result run(const std::vector<std::string>& argv, const run_options& o = {});
/// subprocess.call: runs argv with inherited stdio; its return code.
int call(const std::vector<std::string>& argv, duration timeout = forever);
/// subprocess.check_output: argv's stdout; process_error on a non-zero code.
std::string check_output(const std::vector<std::string>& argv, duration timeout = forever);

}  // namespace greenring
