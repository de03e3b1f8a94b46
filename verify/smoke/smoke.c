/* archkit's smoke program: uname(2), write the machine field and "\n" to stdout, exit 0.
 * Freestanding (no libc) so clang and lld alone build it for every target; one
 * arch-*.h per architecture supplies _start and the raw system calls. It touches no
 * global data, so no architecture needs a GOT, TOC or gp set up before it runs. */
#include "arch.h"

struct smoke_utsname {
	char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

#if defined(SMOKE_ISA_CHECK)
/* Variant binaries run one instruction of their ISA level first: a CPU (or emulator)
 * that lacks it kills the smoke run with SIGILL instead of passing it. */
static void smoke_isa_check(void)
{
	SMOKE_ISA_CHECK;
}
#else
static void smoke_isa_check(void)
{
}
#endif

/* static: the assembler then resolves _start's call itself, leaving an object with no
 * relocations that mkelf can wrap where lld has no backend (s390x). */
static __attribute__((noreturn, used)) void smoke_main(void)
{
	struct smoke_utsname u;
	long n = 0;

	smoke_isa_check();
	if (smoke_syscall1(SMOKE_NR_uname, (long)&u) != 0)
		smoke_exit(3);
	while (n < (long)sizeof(u.machine) - 1 && u.machine[n])
		n++;
	u.machine[n++] = '\n';
	if (smoke_syscall3(SMOKE_NR_write, 1, (long)u.machine, n) != n)
		smoke_exit(4);
	smoke_exit(0);
}
