/* RISC-V 64: ecall, number in a7, arguments a0..a2, result in a0 (generic table). */
#define SMOKE_NR_write 64
#define SMOKE_NR_uname 160
#define SMOKE_NR_exit_group 94

__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
	"\tli ra, 0\n\tandi sp, sp, -16\n\tcall smoke_main\n\tunimp\n");

static inline long smoke_syscall1(long nr, long a)
{
	register long a7 __asm__("a7") = nr;
	register long a0 __asm__("a0") = a;
	__asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
	return a0;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	register long a7 __asm__("a7") = nr;
	register long a0 __asm__("a0") = a;
	register long a1 __asm__("a1") = b;
	register long a2 __asm__("a2") = c;
	__asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
	return a0;
}
