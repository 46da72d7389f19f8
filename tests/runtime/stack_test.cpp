#include "../support/fixture.hpp"

#include "detail/stack.hpp"

#include <greenring/greenring.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

using greenring::greenlet;
using greenring::spawn;
using Stack = greenring_test::Runtime;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers report faults themselves (our handler stays out of their
// way): the process must still die, but with their message, not ours.
constexpr bool k_sanitized = true;
#else
constexpr bool k_sanitized = false;
#endif

namespace {

void no_core_dump() {
  rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

// Defeats tail-call and inlining so each level really takes stack.
__attribute__((noinline)) int recurse(int depth) {
  volatile char pad[256];
  pad[0] = static_cast<char>(depth);
  if (depth < 0) return 0;  // never: keeps the compiler from calling this infinite
  return recurse(depth + 1) + pad[0];
}

__attribute__((noinline)) int big_frame() {
  // The array escapes (the asm may read all of it), so the whole 64 KiB
  // frame is laid out; a volatile array alone, clang 14 shrank to the
  // sixteen bytes it touches.
  char buf[64 * 1024];
  for (std::size_t i = 0; i < sizeof buf; i += 4096) buf[i] = 1;
  asm volatile("" : : "r"(buf) : "memory");
  return buf[100];
}

std::size_t map_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  std::string line;
  while (std::getline(maps, line)) ++n;
  return n;
}

testing::KilledBySignal segv() { return testing::KilledBySignal(SIGSEGV); }

}  // namespace

TEST(StackDeathTest, WritingBelowTheStackHitsTheGuard) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        no_core_dump();
        greenlet g([] {
          volatile char probe = 0;
          volatile char* p = &probe;
          // Walk down to the stack's lowest byte and one past it.
          while (reinterpret_cast<std::uintptr_t>(p) % 4096 != 0) --p;
          p -= greenlet::current().stack_size();
          *p = 1;
        });
        g.switch_to();
      },
      "");
}

TEST(StackDeathTest, UnboundedRecursionReportsTheOverflowingTask) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto body = [] {
    no_core_dump();
    auto t = spawn(greenring::task_options{.name = "deep", .stack_size = 64 * 1024}, [] { recurse(0); });
    t.join();
  };
  if (k_sanitized)
    EXPECT_DEATH(body(), "");
  else
    EXPECT_EXIT(body(), segv(), "greenring: stack overflow in task [0-9]+ \"deep\" \\(stack 65536 bytes\\)");
}

TEST(StackDeathTest, LargeFrameOnASmallStackIsCaught) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto body = [] {
    no_core_dump();
    auto t = spawn(greenring::task_options{.name = "wide", .stack_size = 16 * 1024}, [] { big_frame(); });
    t.join();
  };
  if (k_sanitized)
    EXPECT_DEATH(body(), "");
  else
    EXPECT_EXIT(body(), segv(), "greenring: stack overflow in task [0-9]+ \"wide\" \\(stack 16384 bytes\\)");
}

TEST(StackDeathTest, NullDereferenceIsNotReportedAsOverflow) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // gtest cannot assert that stderr lacks a pattern, so the (fresh) death
  // test process forks the crashing child itself and inspects its stderr.
  EXPECT_EXIT(
      {
        int fds[2];
        if (::pipe(fds) != 0) std::exit(10);
        pid_t pid = ::fork();
        if (pid == 0) {
          ::dup2(fds[1], 2);
          ::close(fds[0]);
          no_core_dump();
          spawn([] {
            volatile int* p = nullptr;
            *p = 1;
          }).join();
          ::_exit(0);
        }
        ::close(fds[1]);
        std::string err;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<std::size_t>(n));
        int status = 0;
        ::waitpid(pid, &status, 0);
        const bool died = k_sanitized ? (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0))
                                      : (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
        if (!died) {
          std::fprintf(stderr, "the child did not die of its fault (status %d)\n", status);
          std::exit(1);
        }
        if (err.find("stack overflow in") != std::string::npos) {
          std::fprintf(stderr, "a null dereference was reported as overflow: %s\n", err.c_str());
          std::exit(2);
        }
        std::exit(0);
      },
      testing::ExitedWithCode(0), "");
}

TEST(StackDeathTest, PlainGreenletOverflowIsNamedToo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  if (k_sanitized) GTEST_SKIP() << "the sanitizer's handler reports overflows under sanitizers";
  EXPECT_EXIT(
      {
        no_core_dump();
        greenlet g([] { recurse(0); }, 32 * 1024);
        g.set_name("raw");
        g.switch_to();
      },
      segv(), "greenring: stack overflow in greenlet [0-9]+ \"raw\" \\(stack 32768 bytes\\)");
}

TEST(StackDeathTest, ReusedStacksKeepTheirGuard) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto body = [] {
    no_core_dump();
    for (int i = 0; i < 10; ++i) spawn(greenring::task_options{.stack_size = 64 * 1024}, [] {}).join();
    if (greenring::stats().stacks_pooled == 0) std::exit(3);  // the pool must be what we test
    auto t = spawn(greenring::task_options{.name = "reused", .stack_size = 64 * 1024}, [] { recurse(0); });
    t.join();
  };
  if (k_sanitized)
    EXPECT_DEATH(body(), "");
  else
    EXPECT_EXIT(body(), segv(), "stack overflow in task [0-9]+ \"reused\"");
}

// A task that starts right after another died runs on that task's stack
// (no switch); the guard and the overflow report must follow the new owner.
TEST(StackDeathTest, OverflowOnAStackHandedOverInPlaceNamesTheNewTask) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto body = [] {
    no_core_dump();
    auto first = spawn(greenring::task_options{.name = "first", .stack_size = 64 * 1024}, [] {});
    auto second = spawn(greenring::task_options{.name = "second", .stack_size = 64 * 1024}, [] { recurse(0); });
    greenring::joinall({first, second});
  };
  if (k_sanitized)
    EXPECT_DEATH(body(), "");
  else
    EXPECT_EXIT(body(), segv(), "stack overflow in task [0-9]+ \"second\" \\(stack 65536 bytes\\)");
}

TEST_F(Stack, MappingFailureFailsThatTaskAndEverythingElseGoesOn) {
  auto ok1 = spawn(greenring::task_options{.stack_size = 1 << 20}, [] { return 1; });
  EXPECT_EQ(ok1.get(), 1);
  greenring::detail::stack_fail_after(0);  // the next fresh mapping fails
  auto doomed = spawn(greenring::task_options{.stack_size = 3 << 20}, [] { return 2; });
  auto ok2 = spawn([] { return 3; });
  try {
    doomed.get();
    FAIL() << "the task ran without a stack";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOMEM);
    EXPECT_NE(std::string(e.what()).find("vm.max_map_count"), std::string::npos) << e.what();
  }
  greenring::detail::stack_fail_after(-1);
  EXPECT_FALSE(doomed.started());
  EXPECT_EQ(ok2.get(), 3);
  EXPECT_EQ(spawn(greenring::task_options{.stack_size = 3 << 20}, [] { return 4; }).get(), 4);
}

TEST_F(Stack, SwitchToAGreenletWithoutAStackThrowsAndLeavesItFresh) {
  greenlet g([] { return 1; }, 5 << 20);
  greenring::detail::stack_fail_after(0);
  EXPECT_THROW(g.switch_to(), std::system_error);
  greenring::detail::stack_fail_after(-1);
  EXPECT_FALSE(g.started());
  EXPECT_EQ(g.switch_to().get<int>(), 1);
}

// How many distinct mappings hold these addresses.
static std::size_t mappings_holding(const std::vector<std::uintptr_t>& addrs) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::size_t n = 0;
  while (std::getline(maps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
    for (auto a : addrs)
      if (a >= lo && a < hi) {
        ++n;
        break;
      }
  }
  return n;
}

TEST_F(Stack, ManyGuardedStacksShareFewMappings) {
  constexpr int n = 5000;
  std::vector<std::uintptr_t> frames(n);
  std::vector<greenring::task<void>> ts;
  for (int i = 0; i < n; ++i)
    ts.push_back(spawn(greenring::task_options{.stack_size = 16 * 1024}, [&frames, i] {
      frames[i] = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
      greenring::sleep(0);
    }));
  greenring::yield();  // every task has started and is suspended on its stack
  const std::size_t maps = mappings_holding(frames);
  greenring::joinall(ts);
  if (std::string(greenring::detail::guard_mode()) == "madvise")
    EXPECT_LT(maps, static_cast<std::size_t>(n / 10)) << "guards must not cost a mapping each (vm.max_map_count)";
  else
    EXPECT_EQ(maps, static_cast<std::size_t>(n));  // mprotect fallback splits every stack
}

TEST_F(Stack, PooledStacksAreReusedNotRemapped) {
  spawn([] {}).join();
  const auto pooled = greenring::stats().stacks_pooled;
  const std::size_t maps = map_count();
  for (int i = 0; i < 1000; ++i) spawn([] {}).join();
  EXPECT_EQ(greenring::stats().stacks_pooled, pooled);
  // (ThreadSanitizer maps memory of its own for each task's fiber.)
  if (!greenring_test::k_tsan) {
    EXPECT_EQ(map_count(), maps);
  }
}
