/* Pick the syscall layer for the architecture clang is compiling for. */
#ifndef SMOKE_ARCH_H
#define SMOKE_ARCH_H

#if defined(__x86_64__)
#include "arch-x86_64.h"
#elif defined(__i386__)
#include "arch-i386.h"
#elif defined(__aarch64__)
#include "arch-aarch64.h"
#elif defined(__arm__)
#include "arch-arm.h"
#elif defined(__powerpc64__)
#include "arch-ppc64.h"
#elif defined(__s390x__)
#include "arch-s390x.h"
#elif defined(__riscv) && __riscv_xlen == 64
#include "arch-riscv64.h"
#elif defined(__mips64)
#include "arch-mips64.h"
#else
#error "no smoke syscall layer for this architecture"
#endif

static inline __attribute__((noreturn)) void smoke_exit(long code)
{
	for (;;)
		smoke_syscall1(SMOKE_NR_exit_group, code);
}

#endif
