// Child processes: return codes, pipes both ways without deadlock, waits
// that park the task (not the thread), kills, timeouts, clean signal state.
#include "../support/fixture.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using Process = greenring_test::Runtime;
using greenring::process;
using greenring::process_options;
using greenring::stdio;

TEST_F(Process, CallReturnsTheExitStatus) {
  EXPECT_EQ(greenring::call({"true"}), 0);
  EXPECT_EQ(greenring::call({"sh", "-c", "exit 3"}), 3);
}

TEST_F(Process, ASignalDeathIsMinusTheSignal) {
  auto p = process::spawn({"sh", "-c", "kill -9 $$"});
  EXPECT_EQ(p.wait(), -9);
  EXPECT_EQ(p.returncode(), -9);
}

TEST_F(Process, RunFeedsInputAndCollectsOutput) {
  greenring::run_options o;
  o.input = "pear\napple\nfig\n";
  auto r = greenring::run({"sort"}, o);
  EXPECT_EQ(r.returncode, 0);
  EXPECT_EQ(r.out, "apple\nfig\npear\n");
  EXPECT_EQ(r.err, "");
}

// The child fills stderr before it reads stdin and writes stdout: a parent
// that wrote all input first, or read stdout first, would wait forever.
TEST_F(Process, CommunicateMovesMegabytesEveryWayAtOnce) {
  std::string input(4u << 20, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>(i * 31 + (i >> 12));
  process_options o;
  o.in = o.out = o.err = stdio::pipe;
  auto p = process::spawn({"sh", "-c", "head -c 1000000 /dev/zero >&2; cat"}, o);
  auto [out, err] = p.communicate(input);
  EXPECT_EQ(p.wait(), 0);
  EXPECT_EQ(out.size(), input.size());
  EXPECT_TRUE(out == input) << "stdout differs from the input";
  EXPECT_EQ(err, std::string(1000000, '\0'));
}

TEST_F(Process, AMissingProgramIsAnErrorNamingIt) {
  try {
    process::spawn({"/nonexistent/greenring-prog", "x"});
    FAIL() << "spawned a missing program";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("spawn /nonexistent/greenring-prog"), std::string::npos) << e.what();
  }
  std::error_code ec;
  auto p = process::spawn({"greenring-no-such-program-on-path"}, {}, ec);
  EXPECT_EQ(ec.value(), ENOENT);
  EXPECT_EQ(p.pid(), -1);
  process_options o;
  o.cwd = "/nonexistent-dir";
  try {
    process::spawn({"true"}, o);
    FAIL() << "spawned in a missing directory";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir"), std::string::npos) << e.what();
  }
}

TEST_F(Process, BadArgumentsAreRefusedBeforeSpawning) {
  EXPECT_THROW(process::spawn({}), std::invalid_argument);
  EXPECT_THROW(process::spawn({"echo", std::string("a\0b", 3)}), std::invalid_argument);
  process_options o;
  o.out = stdio::to_stdout;
  EXPECT_THROW(process::spawn({"true"}, o), std::invalid_argument);
}

// wait() parks the waiting task: the rest of the thread goes on, and the
// child (blocked on its stdin) exits only when this task lets it.
TEST_F(Process, WaitingParksTheTaskNotTheThread) {
  process_options o;
  o.in = stdio::pipe;
  auto p = process::spawn({"sh", "-c", "read line; exit 5"}, o);
  auto waiter = greenring::spawn([&] { return p.wait(); });
  for (int i = 0; i < 100; ++i) greenring::yield();
  EXPECT_FALSE(waiter.ready());
  EXPECT_FALSE(p.poll().has_value());
  p.in().write_all("go\n");
  EXPECT_EQ(waiter.get(), 5);
  EXPECT_EQ(p.poll(), 5);
}

TEST_F(Process, SeveralTasksWaitForOneChild) {
  process_options o;
  o.in = stdio::pipe;
  auto p = process::spawn({"cat"}, o);
  std::vector<greenring::task<int>> waiters;
  for (int i = 0; i < 3; ++i) waiters.push_back(greenring::spawn([&] { return p.wait(); }));
  greenring::yield();
  p.in().close();  // cat sees EOF and exits 0
  for (auto& w : waiters) EXPECT_EQ(w.get(), 0);
}

TEST_F(Process, WaitWithATimeoutThenKill) {
  auto p = process::spawn({"sleep", "1000"});
  EXPECT_FALSE(p.wait(5ms).has_value());
  p.kill();
  EXPECT_EQ(p.wait(), -9);
  p.kill();  // reaped: nothing to signal, no error
}

TEST_F(Process, ATimeoutScopeEndsAWait) {
  auto p = process::spawn({"sleep", "1000"});
  EXPECT_THROW(
      {
        greenring::timeout t(5ms);
        p.wait();
      },
      greenring::timeout_error);
  p.terminate();
  EXPECT_EQ(p.wait(), -15);
}

TEST_F(Process, RunWithATimeoutKillsTheChild) {
  greenring::run_options o;
  o.timeout = 5ms;
  testing::internal::CaptureStderr();
  try {
    greenring::run({"sh", "-c", "echo started; exec sleep 1000"}, o);
    ADD_FAILURE() << "run returned";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
    EXPECT_NE(std::string(e.what()).find("run sh"), std::string::npos) << e.what();
  }
  // The readers' own timeouts are part of the one error, not reported apart.
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(Process, CheckOutputThrowsOnFailureWithTheOutput) {
  EXPECT_EQ(greenring::check_output({"printf", "%s-%s", "a", "b"}), "a-b");
  try {
    greenring::check_output({"sh", "-c", "echo partial; exit 2"});
    FAIL() << "no error";
  } catch (const greenring::process_error& e) {
    EXPECT_EQ(e.returncode, 2);
    EXPECT_EQ(e.out, "partial\n");
    EXPECT_NE(std::string(e.what()).find("exited with status 2"), std::string::npos) << e.what();
  }
}

TEST_F(Process, EnvironmentWorkingDirectoryAndStderrToStdout) {
  greenring::run_options o;
  o.process.env = std::vector<std::string>{"GREENRING_X=from-env", "PATH=/usr/bin:/bin"};
  o.process.cwd = "/tmp";
  o.process.err = stdio::to_stdout;
  auto r = greenring::run({"sh", "-c", "echo $GREENRING_X; pwd; echo oops >&2; echo ${HOME:-no-home}"}, o);
  EXPECT_EQ(r.out, "from-env\n/tmp\noops\nno-home\n");
  EXPECT_EQ(r.err, "");
  greenring::run_options n;
  n.process.out = stdio::null;
  n.capture = false;
  EXPECT_EQ(greenring::run({"echo", "into /dev/null"}, n).returncode, 0);
}

// Writing to a child that is gone is EPIPE: the test process would die of
// SIGPIPE otherwise, and no SIGPIPE is left pending.
TEST_F(Process, WritingToAnExitedChildIsBrokenPipeNotASignal) {
  process_options o;
  o.in = stdio::pipe;
  auto p = process::spawn({"true"}, o);
  EXPECT_EQ(p.wait(), 0);
  std::string big(1u << 20, 'x');
  std::error_code ec;
  EXPECT_EQ(p.in().write_all(big, ec), 0u);
  EXPECT_EQ(ec.value(), EPIPE);
  try {
    p.in().write_all("more");
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("write stdin of true (pid "), std::string::npos) << e.what();
  }
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST_F(Process, DestroyingARunningChildKillsAndReapsIt) {
  pid_t pid;
  {
    auto p = process::spawn({"sleep", "1000"});
    pid = p.pid();
  }
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "still our child: not reaped";
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(Process, ADetachedChildIsLeftRunning) {
  pid_t pid;
  {
    auto p = process::spawn({"sleep", "1000"});
    pid = p.pid();
    p.detach();
  }
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), 0) << "running, and still ours";
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
}

// The spawning thread's blocked and ignored signals do not reach the child.
TEST_F(Process, TheChildStartsWithDefaultSignals) {
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  auto old_int = ::signal(SIGINT, SIG_IGN);
  auto a = process::spawn({"sleep", "1000"});
  auto b = process::spawn({"sleep", "1000"});
  a.terminate();
  b.send_signal(SIGINT);
  EXPECT_EQ(a.wait(), -SIGTERM);
  EXPECT_EQ(b.wait(), -SIGINT);
  ::signal(SIGINT, old_int);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST_F(Process, KillingATaskInCommunicateLeavesNothingBehind) {
  process_options o;
  o.out = o.err = stdio::pipe;
  auto p = process::spawn({"sh", "-c", "echo hi; exec sleep 1000"}, o);
  auto t = greenring::spawn([&] { return p.communicate().out; });
  for (int i = 0; i < 1000 && greenring::stats().io_in_flight < 2; ++i) greenring::yield();
  ASSERT_EQ(greenring::stats().io_in_flight, 2u) << "both readers parked";
  t.kill();
  EXPECT_THROW(t.get(), greenring::task_killed);
  p.kill();
  EXPECT_EQ(p.wait(), -9);
}

TEST_F(Process, ManyChildrenAtOnce) {
  std::vector<greenring::task<std::string>> tasks;
  for (int i = 0; i < 32; ++i)
    tasks.push_back(greenring::spawn([i] {
      return greenring::check_output({"sh", "-c", "echo $0", std::to_string(i)});
    }));
  for (int i = 0; i < 32; ++i) EXPECT_EQ(tasks[static_cast<std::size_t>(i)].get(), std::to_string(i) + "\n");
}

TEST_F(Process, AdoptAForkedChild) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(7);
  auto p = process::adopt(pid);
  EXPECT_EQ(p.wait(), 7);
  EXPECT_THROW(process::adopt(::getppid()), std::system_error) << "not our child";
}

// multiprocessing's Process(target=...): the child runs fn on a hub of its
// own (tasks, timers and IO work there) and exits with its result.
TEST_F(Process, ForkRunsAFunctionInAChildWithAHubOfItsOwn) {
  if (greenring_test::k_tsan)
    GTEST_SKIP() << "ThreadSanitizer refuses to start the child's thread after a fork of a threaded process";
  auto p = process::fork([] {
    int sum = 0;
    std::vector<greenring::task<void>> ts;
    for (int k = 1; k <= 4; ++k)
      ts.push_back(greenring::spawn([&sum, k] {
        greenring::sleep(std::chrono::milliseconds(k));
        sum += k;
      }));
    greenring::joinall(ts);
    return sum;  // 10
  });
  EXPECT_GT(p.pid(), 0);
  EXPECT_NE(p.pid(), ::getpid());
  EXPECT_EQ(p.wait(), 10);
  auto v = process::fork([] {});  // void: exit 0
  EXPECT_EQ(v.wait(), 0);
  auto f = process::fork([]() -> int { throw std::runtime_error("child failed on purpose"); });
  EXPECT_EQ(f.wait(), 1);
}

// The parent's tasks never run in the child: a task that is ready when the
// parent forks writes to a pipe once, from the parent only.
TEST_F(Process, ForkDoesNotRunTheParentsTasksInTheChild) {
  if (greenring_test::k_tsan)
    GTEST_SKIP() << "ThreadSanitizer refuses to start the child's thread after a fork of a threaded process";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto ready = greenring::spawn([w = fds[1]] { EXPECT_EQ(::write(w, "T", 1), 1); });  // not started yet
  auto p = process::fork([w = fds[1]] {
    greenring::yield();  // the child's hub runs what it has: only this task
    return ::write(w, "C", 1) == 1 ? 0 : 2;
  });
  EXPECT_EQ(p.wait(), 0);
  ready.join();
  ::close(fds[1]);
  std::string got;
  char buf[16];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, "CT");
}

TEST_F(Process, ReadingStreamsByHand) {
  process_options o;
  o.out = stdio::pipe;
  auto p = process::spawn({"sh", "-c", "printf one; printf two"}, o);
  std::string got;
  char buf[2];
  while (std::size_t n = p.out().read_some(buf)) got.append(buf, n);
  EXPECT_EQ(got, "onetwo");
  EXPECT_EQ(p.wait(), 0);
  std::error_code ec;
  p.out().close();
  p.out().read_some(buf, ec);
  EXPECT_EQ(ec, std::errc::bad_file_descriptor);
}

}  // namespace
