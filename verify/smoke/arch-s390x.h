/* s390x: svc 0 with the number in r1, arguments r2..r4, result in r2. */
#define SMOKE_NR_write 4
#define SMOKE_NR_uname 122
#define SMOKE_NR_exit_group 248

/* The ABI wants sp 8-aligned with a 160-byte register save area below it, back chain 0. */
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
	"\tnill %r15, 0xfff0\n\taghi %r15, -160\n\txc 0(8,%r15), 0(%r15)\n"
	"\tbrasl %r14, smoke_main\n\t.word 0\n");

static inline long smoke_syscall1(long nr, long a)
{
	register long r1 __asm__("r1") = nr;
	register long r2 __asm__("r2") = a;
	__asm__ volatile("svc 0" : "+r"(r2) : "r"(r1) : "memory");
	return r2;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	register long r1 __asm__("r1") = nr;
	register long r2 __asm__("r2") = a;
	register long r3 __asm__("r3") = b;
	register long r4 __asm__("r4") = c;
	__asm__ volatile("svc 0" : "+r"(r2) : "r"(r1), "r"(r3), "r"(r4) : "memory");
	return r2;
}
