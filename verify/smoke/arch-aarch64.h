/* AArch64: svc #0, number in x8, arguments x0..x2, result in x0 (generic syscall table). */
#define SMOKE_NR_write 64
#define SMOKE_NR_uname 160
#define SMOKE_NR_exit_group 94

__asm__(".text\n.globl _start\n.type _start,%function\n_start:\n"
	"\tmov x29, #0\n\tmov x30, #0\n\tbl smoke_main\n\tbrk #0\n");

static inline long smoke_syscall1(long nr, long a)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8) : "memory");
	return x0;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
