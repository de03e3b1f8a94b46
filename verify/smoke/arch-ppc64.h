/* 64-bit PowerPC (ELFv2, either endianness): sc, number in r0, arguments r3..r5, result
 * in r3 (cr0.SO flags an error, which the callers see as a short write anyway). */
#define SMOKE_NR_write 4
#define SMOKE_NR_uname 122
#define SMOKE_NR_exit_group 234

/* ELFv2 needs a minimal 32-byte frame with a NULL back chain below the caller's sp. */
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
	"\tclrrdi 1, 1, 4\n\tli 0, 0\n\tstdu 0, -32(1)\n\tbl smoke_main\n\tnop\n\ttrap\n");

static inline long smoke_syscall1(long nr, long a)
{
	register long r0 __asm__("r0") = nr;
	register long r3 __asm__("r3") = a;
	register long r4 __asm__("r4");
	register long r5 __asm__("r5");
	__asm__ volatile("sc"
			 : "+r"(r0), "+r"(r3), "=r"(r4), "=r"(r5)
			 :
			 : "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cr0", "ctr", "xer",
			   "memory");
	return r3;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	register long r0 __asm__("r0") = nr;
	register long r3 __asm__("r3") = a;
	register long r4 __asm__("r4") = b;
	register long r5 __asm__("r5") = c;
	__asm__ volatile("sc"
			 : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5)
			 :
			 : "r6", "r7", "r8", "r9", "r10", "r11", "r12", "cr0", "ctr", "xer",
			   "memory");
	return r3;
}
