/* x86-64: syscall, number in rax, arguments rdi rsi rdx; rcx and r11 clobbered. */
#define SMOKE_NR_write 1
#define SMOKE_NR_uname 63
#define SMOKE_NR_exit_group 231

/* The kernel enters with rsp 16-byte aligned; a call pushes the return address as the
 * ABI expects. */
__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
	"\txor %ebp, %ebp\n\tand $-16, %rsp\n\tcall smoke_main\n\tud2\n");

#if defined(SMOKE_X86_64_V2)
#define SMOKE_ISA_CHECK __asm__ volatile("popcnt %%eax, %%eax" ::: "eax", "cc")
#elif defined(SMOKE_X86_64_V3)
#define SMOKE_ISA_CHECK                                                                            \
	__asm__ volatile("vpaddd %%ymm0, %%ymm0, %%ymm0\n\tandn %%eax, %%eax, %%eax" ::            \
			     : "xmm0", "eax", "cc")
#elif defined(SMOKE_X86_64_V4)
#define SMOKE_ISA_CHECK __asm__ volatile("vpaddd %%zmm0, %%zmm0, %%zmm0" ::: "xmm0")
#endif

static inline long smoke_syscall1(long nr, long a)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a) : "rcx", "r11", "memory");
	return ret;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}
