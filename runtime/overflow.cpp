// greenring — reporting stack overflows.
//
// A greenlet that runs off the end of its stack faults in the guard region
// below it. The SIGSEGV handler runs on a per-thread alternate stack (the
// faulting one is exhausted), checks whether the fault address lies in the
// running greenlet's guard, and if so writes one line naming it, using only
// write(2). It then restores the default action and returns: the faulting
// instruction runs again and the process dies of SIGSEGV with a core dump,
// as it would have. Any other fault goes to the handler that was installed
// before ours. Not installed under ASan/TSan, whose own handlers report.
#include "detail/assert.hpp"
#include "detail/hub.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace greenring::detail {
namespace {
#if !defined(GREENRING_ASAN) && !defined(GREENRING_TSAN)

struct sigaction g_previous {};

void put(char*& p, const char* s) noexcept {
  while (*s) *p++ = *s++;
}

void put_u64(char*& p, unsigned long long v) noexcept {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
}

void reset_to_default() noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGSEGV, &dfl, nullptr);
}

void on_segv(int sig, siginfo_t* info, void* uctx) noexcept {
  thread_state* ts = tls_state();
  greenlet* g = ts ? ts->current : nullptr;
  const char* addr = static_cast<const char*>(info->si_addr);
  const char* lo = g ? switch_access::stack_lo(*g) : nullptr;
  if (lo && addr < lo && addr >= lo - guard_size) {
    char buf[512];
    char* p = buf;
    put(p, "greenring: stack overflow in ");
    put(p, switch_access::kind_name(*g));
    put(p, " ");
    put_u64(p, g->id());
    const std::string& name = g->name();
    if (!name.empty()) {
      put(p, " \"");
      std::size_t n = name.size() < 200 ? name.size() : 200;
      std::memcpy(p, name.data(), n);
      p += n;
      put(p, "\"");
    }
    put(p, " (stack ");
    put_u64(p, g->stack_size());
    put(p, " bytes)\n");
    ssize_t w = ::write(STDERR_FILENO, buf, static_cast<std::size_t>(p - buf));
    (void)w;
    reset_to_default();
    return;  // re-executes the faulting access: default action, core dump
  }
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) {
      g_previous.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  reset_to_default();
}
#endif
constexpr std::size_t altstack_size = 64 * 1024;

}  // namespace

void install_overflow_handler(thread_state& ts) {
#if defined(GREENRING_ASAN) || defined(GREENRING_TSAN)
  (void)ts;
#else
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &g_previous);
  });
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // the thread has one
  void* mem = ::mmap(nullptr, altstack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;  // overflows will still crash, just without the message
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = altstack_size;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, altstack_size);
    return;
  }
  ts.altstack = mem;
#endif
}

void remove_overflow_altstack(thread_state& ts) noexcept {
  if (!ts.altstack) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  ::sigaltstack(&ss, nullptr);
  ::munmap(ts.altstack, altstack_size);
  ts.altstack = nullptr;
}

}  // namespace greenring::detail
