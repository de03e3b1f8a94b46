/* i386: int $0x80, number in eax, arguments ebx ecx edx. 122 is newuname (65-byte fields). */
#define SMOKE_NR_write 4
#define SMOKE_NR_uname 122
#define SMOKE_NR_exit_group 252

__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
	"\txor %ebp, %ebp\n\tand $-16, %esp\n\tcall smoke_main\n\tud2\n");

static inline long smoke_syscall1(long nr, long a)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a) : "memory");
	return ret;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}
