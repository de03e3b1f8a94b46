/* MIPS64 n64: syscall, number in v0 ($2), arguments a0..a2 ($4..$6), result in v0, and
 * a3 ($7) nonzero on error (v0 is then a positive errno, so we fold it to -errno). */
#define SMOKE_NR_write 5001
#define SMOKE_NR_uname 5061
#define SMOKE_NR_exit_group 5205

__asm__(".text\n.set noreorder\n.globl _start\n.globl __start\n.type "
	"_start,@function\n_start:\n__start:\n"
	"\tmove $fp, $0\n\tmove $ra, $0\n\tli $8, -16\n\tand $sp, $sp, $8\n"
	"\tjal smoke_main\n\tnop\n\tbreak\n.set reorder\n");

#define SMOKE_MIPS_CLOBBERS                                                                        \
	"$1", "$3", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15", "$24", "$25", "hi",      \
	    "lo", "memory"

static inline long smoke_syscall1(long nr, long a)
{
	register long v0 __asm__("$2") = nr;
	register long a0 __asm__("$4") = a;
	register long a3 __asm__("$7");
	__asm__ volatile("syscall"
			 : "+r"(v0), "=r"(a3)
			 : "r"(a0)
			 : "$5", "$6", SMOKE_MIPS_CLOBBERS);
	return a3 ? -v0 : v0;
}

static inline long smoke_syscall3(long nr, long a, long b, long c)
{
	register long v0 __asm__("$2") = nr;
	register long a0 __asm__("$4") = a;
	register long a1 __asm__("$5") = b;
	register long a2 __asm__("$6") = c;
	register long a3 __asm__("$7");
	__asm__ volatile("syscall"
			 : "+r"(v0), "=r"(a3)
			 : "r"(a0), "r"(a1), "r"(a2)
			 : SMOKE_MIPS_CLOBBERS);
	return a3 ? -v0 : v0;
}
