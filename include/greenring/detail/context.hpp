// greenring — machine contexts: the one place that changes stacks (internal;
// public only because greenlet::switch_to inlines the switch).
//
// A context is a suspended side of a switch: a stack pointer, with what is
// needed to resume it saved on that stack. `swap(save, to, arg)` stores the
// running side's context in `*save`, resumes `to`, and hands it `arg`; it
// returns the `arg` of whichever swap later resumes this side.
//
// Two back ends:
//
// - x86-64 (the default there): the swap is a few instructions of inline
//   assembly, inlined at each call site. It saves only what the compiler
//   cannot keep elsewhere: every other register is declared clobbered, so
//   the compiler saves exactly the values that are live across the switch
//   and no more. It resumes the other side with an indirect `jmp`, never a
//   `ret`, and makes no call: the CPU's return-stack predictor is left as
//   the suspending side had it, so when both sides block through the same
//   code every later `ret` is predicted. It does not save the MXCSR and
//   x87 control words (nor does Go, or PhotonLibOS): the floating-point
//   environment belongs to the thread, not to a greenlet. 2 ns per switch
//   here against 7.5 ns for Boost 1.74's jump_fcontext, which also costs a
//   mispredicted return after each switch when called (see docs/design.md).
//
// - Boost.Context's fcontext (every other architecture, or with
//   -Dcontext=boost): the portable reference, same contract.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) && defined(__linux__) && !defined(GREENRING_CONTEXT_BOOST)
#define GREENRING_CONTEXT_ASM 1
#else
#include <boost/context/detail/fcontext.hpp>
#endif

namespace greenring::detail::context {

/// A suspended context (nullptr: none).
using handle = void*;
/// What a context runs when first resumed, with the first swap's `arg`.
/// Must never return.
using entry_fn = void (*)(void* arg) noexcept;

#ifdef GREENRING_CONTEXT_ASM

#if defined(__CET__) && (__CET__ & 1)
#define GREENRING_ENDBR "endbr64\n\t"
#else
#define GREENRING_ENDBR ""
#endif

/// Suspends the running side into `*save` and resumes `to` with `arg`.
/// The x86-64 layout of a suspended side, from its stack pointer up: the
/// address to resume at, then the saved rbp (the frame pointer cannot be
/// declared clobbered), then the 128-byte red zone the swap stepped over.
[[gnu::always_inline]] inline void* swap(handle* save, handle to, void* arg) noexcept {
  register void* a asm("rdi") = arg;
  register handle* s asm("rsi") = save;
  register handle t asm("rdx") = to;
  asm volatile(
      "leaq -128(%%rsp), %%rsp\n\t"  // leave the red zone alone
      "pushq %%rbp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "movq %%rsp, (%%rsi)\n\t"
      "movq %%rdx, %%rsp\n\t"
      "popq %%rax\n\t"
      "jmpq *%%rax\n\t"
      "1:\n\t" GREENRING_ENDBR
      "popq %%rbp\n\t"
      "leaq 128(%%rsp), %%rsp\n\t"
      : "+r"(a), "+r"(s), "+r"(t)
      :
      : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc",
        "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15",
#ifdef __AVX512F__
        "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26",
        "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7",
#endif
        "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1", "mm2", "mm3", "mm4",
        "mm5", "mm6", "mm7");
  return a;
}

}  // namespace greenring::detail::context

/// Where every new context starts (runtime/context.cpp): calls the entry
/// function stored above it on the stack with the first swap's `arg`, and
/// ends the unwinder's walk (no caller).
extern "C" void greenring_context_start() noexcept;

namespace greenring::detail::context {

/// Makes a context on the stack whose highest address is `top` that calls
/// `Fn(arg)` when first resumed with `arg`.
template <entry_fn Fn>
handle make(char* top, std::size_t /*size*/) noexcept {
  auto* sp = reinterpret_cast<void**>(reinterpret_cast<std::uintptr_t>(top) & ~std::uintptr_t{15});
  *--sp = nullptr;  // padding: keeps the entry's slot 16-byte aligned
  *--sp = reinterpret_cast<void*>(Fn);
  *--sp = reinterpret_cast<void*>(&greenring_context_start);
  return sp;
}

#else  // Boost.Context

namespace detail_boost {
/// What a swap leaves on the suspending side's stack for the side it
/// resumes: where to store the suspended context, and the value.
struct message {
  handle* save;
  void* arg;
};
inline void* receive(boost::context::detail::transfer_t t) noexcept {
  auto* m = static_cast<message*>(t.data);
  *m->save = t.fctx;
  return m->arg;
}
}  // namespace detail_boost

inline void* swap(handle* save, handle to, void* arg) noexcept {
  detail_boost::message m{save, arg};
  return detail_boost::receive(boost::context::detail::jump_fcontext(to, &m));
}

template <entry_fn Fn>
handle make(char* top, std::size_t size) noexcept {
  return boost::context::detail::make_fcontext(
      top, size, [](boost::context::detail::transfer_t t) { Fn(detail_boost::receive(t)); });
}

#endif

}  // namespace greenring::detail::context
