// greenring — where new contexts start (see detail/context.hpp).
#include <greenring/detail/context.hpp>

#ifdef GREENRING_CONTEXT_ASM
// Entered by a context's first swap with rsp at the entry function's slot
// and the swap's `arg` in rdi. rip is marked undefined so unwinders and
// debuggers stop here: the stack has no caller.
asm(R"(
    .text
    .p2align 4
    .globl greenring_context_start
    .hidden greenring_context_start
    .type greenring_context_start, @function
greenring_context_start:
    .cfi_startproc
    .cfi_undefined rip
)"
#if defined(__CET__) && (__CET__ & 1)
    "    endbr64\n"
#endif
    R"(
    movq (%rsp), %rax
    xorl %ebp, %ebp
    andq $-16, %rsp
    callq *%rax
    ud2
    .cfi_endproc
    .size greenring_context_start, .-greenring_context_start
)");
#endif
