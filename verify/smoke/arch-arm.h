/* 32-bit ARM EABI (built in ARM state): svc #0, number in r7, arguments r0..r2. */
#define SMOKE_NR_write 4
#define SMOKE_NR_uname 122
#define SMOKE_NR_exit_group 248

__asm__(".text\n.arm\n.globl _start\n.type _start,%function\n_start:\n"
	"\tmov fp, #0\n\tmov lr, #0\n\tbic sp, sp, #7\n\tbl smoke_main\n\t.word 0xe7f000f0\n");

static inline long smoke_syscall1(long nr, long a)
{
	register long r7 __asm__("r7") = nr;
	register long r0 __asm__("r0") = a;
	__asm__ volatile("svc #0" : "+r"(r0) : "r"(r7) : "memory");
	return r0;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	register long r7 __asm__("r7") = nr;
	register long r0 __asm__("r0") = a;
	register long r1 __asm__("r1") = b;
	register long r2 __asm__("r2") = c;
	__asm__ volatile("svc #0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
	return r0;
}
