/* mkelf: write a minimal static ELF executable (one PT_LOAD, R+X) for a smoke program
 * where ld.lld 14 cannot link one.
 *   mkelf obj IN.o OUT      wrap the .text of a relocation-free 64-bit object (s390x:
 *                           lld 14 has no SystemZ backend); machine, byte order and
 *                           e_flags come from the object, the entry from its _start
 *   mkelf loongarch64 OUT   hand-assembled LoongArch64 smoke code (clang 14 has no
 *                           LoongArch backend)
 * A build-time host tool: it prints and exits, unlike library code. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_BASE 0x400000ULL
#define CODE_OFF 0x80 /* past the 64-byte header and one 56-byte program header */

static int big_endian;

static uint64_t get(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[big_endian ? i : n - 1 - i] << (8 * (n - 1 - i));
	return v;
}

static void put(unsigned char *p, int n, uint64_t v)
{
	for (int i = 0; i < n; i++)
		p[big_endian ? n - 1 - i : i] = (unsigned char)(v >> (8 * i));
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "mkelf: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static int write_exe(const char *out, uint16_t machine, int data, uint32_t flags,
		     const unsigned char *code, size_t code_len, uint64_t entry_off)
{
	size_t total = CODE_OFF + code_len;
	unsigned char *img = calloc(1, total);
	if (!img)
		die("%s", "out of memory");
	big_endian = data == 2;
	memcpy(img,
	       "\x7f"
	       "ELF",
	       4);
	img[4] = 2; /* ELFCLASS64 */
	img[5] = (unsigned char)data;
	img[6] = 1;	     /* EV_CURRENT */
	put(img + 16, 2, 2); /* ET_EXEC */
	put(img + 18, 2, machine);
	put(img + 20, 4, 1);
	put(img + 24, 8, LOAD_BASE + CODE_OFF + entry_off);
	put(img + 32, 8, 64); /* e_phoff */
	put(img + 48, 4, flags);
	put(img + 52, 2, 64); /* e_ehsize */
	put(img + 54, 2, 56); /* e_phentsize */
	put(img + 56, 2, 1);  /* e_phnum */
	put(img + 58, 2, 64); /* e_shentsize; no section headers */
	unsigned char *ph = img + 64;
	put(ph, 4, 1);	   /* PT_LOAD */
	put(ph + 4, 4, 5); /* PF_R | PF_X */
	put(ph + 16, 8, LOAD_BASE);
	put(ph + 24, 8, LOAD_BASE);
	put(ph + 32, 8, total);
	put(ph + 40, 8, total);
	put(ph + 48, 8, 0x10000); /* covers 4K, 16K and 64K pages */
	memcpy(img + CODE_OFF, code, code_len);

	FILE *f = fopen(out, "wb");
	if (!f || fwrite(img, 1, total, f) != total || fclose(f) != 0)
		die("cannot write '%s'", out);
	free(img);
	return 0;
}

/* Wrap the .text of a relocatable ELF64 object that needs no relocations. */
static int from_object(const char *in, const char *out)
{
	FILE *f = fopen(in, "rb");
	if (!f)
		die("cannot open '%s'", in);
	static unsigned char buf[1 << 20];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (len < 64 ||
	    memcmp(buf,
		   "\x7f"
		   "ELF",
		   4) != 0 ||
	    buf[4] != 2)
		die("'%s' is not a 64-bit ELF object", in);
	big_endian = buf[5] == 2;
	if (get(buf + 16, 2) != 1)
		die("'%s' is not a relocatable object", in);
	uint16_t machine = (uint16_t)get(buf + 18, 2);
	uint32_t flags = (uint32_t)get(buf + 48, 4);
	uint64_t shoff = get(buf + 40, 8);
	uint64_t shentsize = get(buf + 58, 2), shnum = get(buf + 60, 2),
		 shstrndx = get(buf + 62, 2);
	if (shentsize != 64 || shoff > len || shnum > (len - shoff) / 64 || shstrndx >= shnum)
		die("'%s' has a malformed section table", in);
	const unsigned char *sh = buf + shoff;
	uint64_t stroff = get(sh + shstrndx * 64 + 24, 8);
	const unsigned char *text = NULL, *symtab = NULL;
	uint64_t text_len = 0, text_idx = 0, sym_len = 0, sym_strtab = 0;
	for (uint64_t i = 1; i < shnum; i++) {
		const unsigned char *s = sh + i * 64;
		uint32_t type = (uint32_t)get(s + 4, 4);
		uint64_t sflags = get(s + 8, 8), off = get(s + 24, 8), size = get(s + 32, 8);
		uint64_t name = get(s + 0, 4);
		if (stroff + name >= len || off > len || (type != 8 && size > len - off))
			die("'%s' has a section outside the file", in);
		const char *nm = (const char *)buf + stroff + name;
		if (type == 4 || type == 9) /* SHT_RELA, SHT_REL */
			die("'%s' needs relocations; mkelf cannot link it", in);
		if (type == 2) { /* SHT_SYMTAB */
			symtab = buf + off;
			sym_len = size;
			sym_strtab = get(sh + get(s + 40, 4) * 64 + 24, 8);
		} else if (strcmp(nm, ".text") == 0) {
			text = buf + off;
			text_len = size;
			text_idx = i;
		} else if ((sflags & 2) && size > 0) { /* SHF_ALLOC data mkelf would drop */
			die("'%s' has allocated data outside .text", nm);
		}
	}
	if (!text || !symtab)
		die("'%s' has no .text or no symbol table", in);
	for (uint64_t o = 0; o + 24 <= sym_len; o += 24) {
		const unsigned char *sym = symtab + o;
		uint64_t name = get(sym, 4);
		if (sym_strtab + name < len &&
		    strcmp((const char *)buf + sym_strtab + name, "_start") == 0) {
			if (get(sym + 6, 2) != text_idx)
				die("'%s': _start is not in .text", in);
			return write_exe(out, machine, buf[5], flags, text, text_len,
					 get(sym + 8, 8));
		}
	}
	die("'%s' defines no _start", in);
	return 1;
}

/* LoongArch64 instruction encodings (LoongArch Reference Manual, volume 1). */
enum { ZERO = 0, SP = 3, A0 = 4, A1 = 5, A2 = 6, A7 = 11, T0 = 12 };
#define LA_ADDI_D(rd, rj, si) (0x02c00000u | ((uint32_t)(si)&0xfff) << 10 | (rj) << 5 | (rd))
#define LA_ORI(rd, rj, ui) (0x03800000u | ((uint32_t)(ui)&0xfff) << 10 | (rj) << 5 | (rd))
#define LA_OR(rd, rj, rk) (0x00150000u | (rk) << 10 | (rj) << 5 | (rd))
#define LA_LDX_BU(rd, rj, rk) (0x38200000u | (rk) << 10 | (rj) << 5 | (rd))
#define LA_STX_B(rd, rj, rk) (0x38100000u | (rk) << 10 | (rj) << 5 | (rd))
/* offsets in instructions (4 bytes), relative to the branch itself */
#define LA_BEQZ(rj, off)                                                                           \
	(0x40000000u | ((uint32_t)(off)&0xffff) << 10 | (rj) << 5 |                                \
	 (((uint32_t)(off) >> 16) & 0x1f))
#define LA_BNEZ(rj, off)                                                                           \
	(0x44000000u | ((uint32_t)(off)&0xffff) << 10 | (rj) << 5 |                                \
	 (((uint32_t)(off) >> 16) & 0x1f))
#define LA_B(off) (0x50000000u | ((uint32_t)(off)&0xffff) << 10 | (((uint32_t)(off) >> 16) & 0x3ff))
#define LA_SYSCALL 0x002b0000u

/* The same program as smoke.c: uname(160), write(64) the machine and "\n", exit_group(94). */
static int loongarch64(const char *out)
{
	static const uint32_t code[] = {
		LA_ADDI_D(SP, SP, -400), /* struct utsname: 6 x 65 bytes */
		LA_OR(A0, SP, ZERO),
		LA_ORI(A7, ZERO, 160), /* uname */
		LA_SYSCALL,
		LA_BNEZ(A0, 16),	   /* -> fail */
		LA_ADDI_D(A1, SP, 4 * 65), /* machine */
		LA_ORI(A2, ZERO, 0),
		LA_LDX_BU(T0, A1, A2), /* loop: */
		LA_BEQZ(T0, 3),	       /* -> newline */
		LA_ADDI_D(A2, A2, 1),
		LA_B(-3),		/* -> loop */
		LA_ORI(T0, ZERO, '\n'), /* newline: */
		LA_STX_B(T0, A1, A2),
		LA_ADDI_D(A2, A2, 1),
		LA_ORI(A0, ZERO, 1),
		LA_ORI(A7, ZERO, 64), /* write */
		LA_SYSCALL,
		LA_ORI(A0, ZERO, 0),
		LA_ORI(A7, ZERO, 94), /* exit_group */
		LA_SYSCALL,
		LA_ORI(A0, ZERO, 3), /* fail: */
		LA_ORI(A7, ZERO, 94),
		LA_SYSCALL,
	};
	unsigned char bytes[sizeof(code)];
	big_endian = 0;
	for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
		put(bytes + 4 * i, 4, code[i]);
	/* e_flags: LP64D base ABI (0x3), object ABI v1 (0x40), as current toolchains write */
	return write_exe(out, 258, 1, 0x43, bytes, sizeof(bytes), 0);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "obj") == 0)
		return from_object(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "loongarch64") == 0)
		return loongarch64(argv[2]);
	fprintf(stderr, "usage: mkelf obj IN.o OUT | mkelf loongarch64 OUT\n");
	return 64;
}
