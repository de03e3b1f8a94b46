#include "elf/classify.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "elf/capture.h"

/* More sections than this is no real file: libelf would allocate per section, so a
 * hostile header could make it allocate gigabytes; analyse without sections instead. */
#define AK_ELF_SECTIONS_MAX (1u << 20)
/* The kernel refuses a PT_INTERP longer than PATH_MAX (fs/binfmt_elf.c). */
#define AK_ELF_INTERP_MAX PATH_MAX

#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258
#endif

/* Everything the structural pass learnt from the ELF header, in host order. */
struct elf_header {
	bool le, is64;
	bool loadable; /* ET_EXEC or ET_DYN: binfmt_elf's checks apply */
	uint64_t phoff, shoff;
	/* usable counts: 0 when the table is absent or broken (then libelf must not see it) */
	uint64_t phnum, shnum, shstrndx;
	uint16_t raw_phnum, raw_shnum; /* as written in the header */
	uint16_t phentsize, shentsize;
};

static uint16_t rd16(const unsigned char *p, bool le)
{
	return le ? (uint16_t)(p[0] | p[1] << 8) : (uint16_t)(p[1] | p[0] << 8);
}

static uint32_t rd32(const unsigned char *p, bool le)
{
	return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			       (uint32_t)p[3] << 24
		  : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
			       (uint32_t)p[0] << 24;
}

static uint64_t rd64(const unsigned char *p, bool le)
{
	uint64_t lo = rd32(p + (le ? 0 : 4), le), hi = rd32(p + (le ? 4 : 0), le);
	return hi << 32 | lo;
}

/* Read an address-sized field of the ELF header. */
static uint64_t rdaddr(const unsigned char *p, const struct elf_header *h)
{
	return h->is64 ? rd64(p, h->le) : rd32(p, h->le);
}

/* Record a structural problem in *slot unless one is there already (later ones are often
 * consequences). Returns 0: the int (and err) keep the callers' error chains, which stay
 * for the failures that are not this one's. */
static int note_problem(char **slot, struct ak_error **err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static int note_problem(char **slot, struct ak_error **err, const char *fmt, va_list ap)
{
	if (!*slot)
		*slot = ak_xvasprintf(fmt, ap);
	return 0;
}

/* Damage the kernel's loader does not read, or any damage in a file it never loads. */
static int set_malformed(struct ak_elf_facts *f, struct ak_error **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int set_malformed(struct ak_elf_facts *f, struct ak_error **err, const char *fmt, ...)
{
	f->malformed = true;
	va_list ap;
	va_start(ap, fmt);
	int r = note_problem(&f->malformed_reason, err, fmt, ap);
	va_end(ap);
	return r;
}

/* Damage in what binfmt_elf reads: when the kernel loads files of this type (loadable),
 * execve fails, and the reason should say with which errno; otherwise it is malformed. */
static int set_load_problem(struct ak_elf_facts *f, bool loadable, struct ak_error **err,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int set_load_problem(struct ak_elf_facts *f, bool loadable, struct ak_error **err,
			    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!loadable)
		f->malformed = true;
	int r = note_problem(loadable ? &f->exec_refused : &f->malformed_reason, err, fmt, ap);
	va_end(ap);
	return r;
}

/* Does [off, off+size) lie inside [0, limit)? Written so it cannot overflow. */
static bool range_ok(uint64_t off, uint64_t size, uint64_t limit)
{
	return off <= limit && size <= limit - off;
}

const char *ak_elf_machine_name(uint16_t m, char *buf, size_t size)
{
	switch (m) {
	case EM_NONE:
		return "no machine";
	case EM_386:
		return "i386";
	case EM_X86_64:
		return "x86-64";
	case EM_AARCH64:
		return "aarch64";
	case EM_ARM:
		return "arm";
	case EM_PPC:
		return "ppc";
	case EM_PPC64:
		return "ppc64";
	case EM_S390:
		return "s390";
	case EM_RISCV:
		return "riscv";
	case EM_MIPS:
		return "mips";
	case EM_LOONGARCH:
		return "loongarch";
	case EM_SPARC:
		return "sparc";
	case EM_SPARCV9:
		return "sparc64";
	case EM_68K:
		return "m68k";
	case EM_SH:
		return "sh";
	case EM_PARISC:
		return "hppa";
	case EM_ALPHA:
		return "alpha";
	case EM_IA_64:
		return "ia64";
	case EM_BPF:
		return "eBPF";
	case EM_CUDA:
		return "cuda";
	case EM_AMDGPU:
		return "amdgpu";
	}
	snprintf(buf, size, "machine %u", m);
	return buf;
}

const char *ak_elf_kind_name(enum ak_elf_kind kind)
{
	switch (kind) {
	case AK_ELF_KIND_EXECUTABLE:
		return "executable";
	case AK_ELF_KIND_SHARED:
		return "shared object";
	case AK_ELF_KIND_RELOCATABLE:
		return "relocatable object";
	case AK_ELF_KIND_CORE:
		return "core dump";
	default:
		return "elf file";
	}
}

void ak_elf_facts_clear(struct ak_elf_facts *f)
{
	free(f->interp);
	free(f->malformed_reason);
	free(f->exec_refused);
	memset(f, 0, sizeof(*f));
	f->arm_cpu_arch = -1;
	f->arm_vfp_args = -1;
}

static pthread_once_t libelf_once = PTHREAD_ONCE_INIT;
static bool libelf_ok;
static void libelf_init(void)
{
	libelf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

/* ---- the header, checked before libelf sees it ---- */

/* binfmt_elf reads at most this much of program headers (load_elf_phdrs). */
#define AK_ELF_KERNEL_PHDRS_MAX 65536u

static int read_header(const unsigned char *buf, size_t len, uint64_t real_size,
		       struct ak_elf_facts *f, struct elf_header *h, struct ak_error **err)
{
	/* The kernel reads the header into a zeroed buffer: a short file has e_type 0 (or
	 * e_phentsize 0) there, and execve fails with ENOEXEC. */
	if (len < EI_NIDENT)
		return set_load_problem(f, true, err,
					"the file (%zu bytes) ends inside the elf identification "
					"(16 bytes): execve fails with ENOEXEC",
					len);
	f->elf_class = buf[EI_CLASS];
	f->elf_data = buf[EI_DATA];
	f->osabi = buf[EI_OSABI];
	if (f->elf_class != ELFCLASS32 && f->elf_class != ELFCLASS64)
		return set_malformed(f, err, "invalid elf class %u", f->elf_class);
	if (f->elf_data != ELFDATA2LSB && f->elf_data != ELFDATA2MSB)
		return set_malformed(f, err, "invalid elf data encoding %u", f->elf_data);
	h->is64 = f->elf_class == ELFCLASS64;
	h->le = f->elf_data == ELFDATA2LSB;
	size_t ehsize = h->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (len >= 18)
		f->e_type = rd16(buf + 16, h->le);
	h->loadable = f->e_type == ET_EXEC || f->e_type == ET_DYN;
	if (len < ehsize)
		return set_load_problem(f, len < 18 || h->loadable, err,
					"truncated elf header (%zu bytes, ELF%d needs %zu): execve "
					"fails with ENOEXEC",
					len, h->is64 ? 64 : 32, ehsize);
	f->e_machine = rd16(buf + 18, h->le);
	/* offsets of e_phoff..e_shstrndx differ between the classes */
	const unsigned char *p = buf + 24 + (h->is64 ? 8 : 4); /* past e_version, e_entry */
	h->phoff = rdaddr(p, h);
	p += h->is64 ? 8 : 4;
	h->shoff = rdaddr(p, h);
	p += h->is64 ? 8 : 4;
	f->e_flags = rd32(p, h->le);
	p += 4 + 2; /* e_flags, e_ehsize */
	h->phentsize = rd16(p, h->le);
	h->phnum = h->raw_phnum = rd16(p + 2, h->le);
	h->shentsize = rd16(p + 4, h->le);
	h->shnum = h->raw_shnum = rd16(p + 6, h->le);
	h->shstrndx = rd16(p + 8, h->le);
	f->header_ok = true;

	size_t shdr_size = h->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	size_t phdr_size = h->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	bool sections_ok = true;

	/* What load_elf_phdrs() refuses, with the counts as written: the kernel knows no
	 * extended numbering. */
	int r = 0; /* -1 once memory ran out describing a problem */
	if (h->loadable) {
		if (h->phentsize != phdr_size)
			r = set_load_problem(f, true, err,
					     "e_phentsize %u, ELF%d needs %zu: execve fails with "
					     "ENOEXEC",
					     h->phentsize, h->is64 ? 64 : 32, phdr_size);
		else if (h->raw_phnum == 0)
			r = set_load_problem(f, true, err,
					     "no program headers (e_phnum 0): execve fails with "
					     "ENOEXEC");
		else if (h->raw_phnum * phdr_size > AK_ELF_KERNEL_PHDRS_MAX)
			r = set_load_problem(f, true, err,
					     "e_phnum %u%s: more than the kernel's 65536 bytes of "
					     "program headers, execve fails with ENOEXEC",
					     h->raw_phnum,
					     h->raw_phnum == PN_XNUM ? " (PN_XNUM)" : "");
		if (f->exec_refused)
			h->phnum = 0;
	}

	/* Extended numbering keeps the real counts in section header 0. */
	bool need_sh0 = (h->shnum == 0 && h->shoff != 0) || h->phnum == PN_XNUM ||
			h->shstrndx == SHN_XINDEX;
	if (need_sh0) {
		if (h->shoff == 0 || h->shentsize != shdr_size ||
		    !range_ok(h->shoff, shdr_size, real_size)) {
			if (h->phnum == PN_XNUM) {
				r |= set_malformed(
					f, err,
					"e_phnum 65535 (PN_XNUM) but no section header 0 "
					"holds the count");
				h->phnum = 0;
			} else {
				r |= set_malformed(
					f, err,
					"section header table at offset %#llx beyond the "
					"end of the file (%llu bytes)",
					(unsigned long long)h->shoff,
					(unsigned long long)real_size);
			}
			sections_ok = false;
		} else if (!range_ok(h->shoff, shdr_size, len)) {
			f->partial = true;
			sections_ok = false;
			if (h->phnum == PN_XNUM)
				h->phnum = 0;
		} else {
			const unsigned char *s0 = buf + h->shoff;
			if (h->shnum == 0)
				h->shnum = h->is64 ? rd64(s0 + 32, h->le) : rd32(s0 + 20, h->le);
			if (h->shstrndx == SHN_XINDEX)
				h->shstrndx = rd32(s0 + (h->is64 ? 40 : 24), h->le);
			if (h->phnum == PN_XNUM)
				h->phnum = rd32(s0 + (h->is64 ? 44 : 28), h->le);
		}
	}

	if (h->phnum > 0) {
		if (h->phentsize != phdr_size) {
			r |= set_malformed(f, err, "e_phentsize %u, ELF%d needs %zu", h->phentsize,
					   h->is64 ? 64 : 32, phdr_size);
			h->phnum = 0;
		} else if (h->phnum > real_size / phdr_size ||
			   !range_ok(h->phoff, h->phnum * phdr_size, real_size)) {
			/* the kernel's read comes up short: EIO */
			r |= set_load_problem(
				f, h->loadable, err,
				"program header table (offset %#llx, %llu entries) beyond "
				"the end of the file (%llu bytes)%s",
				(unsigned long long)h->phoff, (unsigned long long)h->phnum,
				(unsigned long long)real_size,
				h->loadable ? ": execve fails with EIO" : "");
			h->phnum = 0;
		}
	}
	if (sections_ok && h->shnum > 0) {
		if (h->shentsize != shdr_size) {
			r |= set_malformed(f, err, "e_shentsize %u, ELF%d needs %zu", h->shentsize,
					   h->is64 ? 64 : 32, shdr_size);
			sections_ok = false;
		} else if (h->shnum > real_size / shdr_size ||
			   !range_ok(h->shoff, h->shnum * shdr_size, real_size)) {
			r |= set_malformed(
				f, err,
				"section header table (offset %#llx, %llu entries) beyond "
				"the end of the file (%llu bytes)",
				(unsigned long long)h->shoff, (unsigned long long)h->shnum,
				(unsigned long long)real_size);
			sections_ok = false;
		} else if (h->shstrndx != SHN_UNDEF && h->shstrndx >= h->shnum) {
			r |= set_malformed(f, err, "e_shstrndx %llu out of range (%llu sections)",
					   (unsigned long long)h->shstrndx,
					   (unsigned long long)h->shnum);
			sections_ok = false;
		}
	}
	if (!sections_ok)
		h->shnum = 0;
	return r < 0 ? -1 : 0;
}

static void classify_flags(struct ak_elf_facts *f)
{
	uint32_t fl = f->e_flags;
	switch (f->e_machine) {
	case EM_ARM:
		f->arm_eabi = (uint8_t)(fl >> 24);
		if (fl & EF_ARM_ABI_FLOAT_HARD)
			f->arm_float = AK_ARM_FLOAT_HARD;
		else if (fl & EF_ARM_ABI_FLOAT_SOFT)
			f->arm_float = AK_ARM_FLOAT_SOFT;
		break;
	case EM_RISCV:
		f->riscv_float = (enum ak_riscv_float_abi)(((fl >> 1) & 3) + 1);
		break;
	case EM_MIPS:
		if (f->elf_class == ELFCLASS64)
			f->mips_abi = AK_MIPS_ABI_N64;
		else if (fl & EF_MIPS_ABI2)
			f->mips_abi = AK_MIPS_ABI_N32;
		else if ((fl & 0xf000) == 0 || (fl & 0xf000) == 0x1000)
			f->mips_abi = AK_MIPS_ABI_O32;
		break;
	case EM_PPC64:
		f->ppc64_abi = (uint8_t)(fl & 3);
		break;
	}
}

/* ---- notes: x86 ISA level ---- */

/* Walk the notes in data[0..size) for NT_GNU_PROPERTY_TYPE_0 and read the x86 ISA
 * needed bits. Notes are 4-aligned, GNU property notes 8-aligned in ELF64. */
static int parse_property_notes(const unsigned char *data, uint64_t size,
				const struct elf_header *h, struct ak_elf_facts *f,
				struct ak_error **err)
{
	uint64_t align = h->is64 ? 8 : 4;
	uint64_t off = 0;
	while (size - off >= 12) {
		uint32_t namesz = rd32(data + off, h->le), descsz = rd32(data + off + 4, h->le);
		uint32_t type = rd32(data + off + 8, h->le);
		uint64_t name_off = off + 12;
		uint64_t desc_off = (name_off + namesz + 3) & ~(uint64_t)3;
		if (type == NT_GNU_PROPERTY_TYPE_0)
			desc_off = (name_off + namesz + align - 1) & ~(align - 1);
		if (desc_off > size || descsz > size - desc_off)
			return set_malformed(f, err, "note of %u bytes beyond its segment", descsz);
		if (type == NT_GNU_PROPERTY_TYPE_0 && namesz == 4 &&
		    memcmp(data + name_off, "GNU", 4) == 0) {
			const unsigned char *d = data + desc_off;
			uint64_t p = 0;
			while (descsz - p >= 8) {
				uint32_t pr_type = rd32(d + p, h->le),
					 pr_datasz = rd32(d + p + 4, h->le);
				if (pr_datasz > descsz - p - 8)
					return set_malformed(
						f, err, "gnu property of %u bytes beyond its note",
						pr_datasz);
				if (pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED && pr_datasz >= 4)
					f->x86_isa_needed |= rd32(d + p + 8, h->le);
				p += 8 + ((pr_datasz + align - 1) & ~(align - 1));
			}
		}
		uint64_t next = (desc_off + descsz + 3) & ~(uint64_t)3;
		if (type == NT_GNU_PROPERTY_TYPE_0)
			next = (desc_off + descsz + align - 1) & ~(align - 1);
		if (next <= off)
			break;
		off = next;
		if (off > size)
			break;
	}
	return 0;
}

static void set_isa_level(struct ak_elf_facts *f)
{
	uint32_t b = f->x86_isa_needed;
	f->x86_isa_level = b & 8 ? 4 : b & 4 ? 3 : b & 2 ? 2 : b & 1 ? 1 : 0;
}

/* ---- .ARM.attributes ---- */

/* Decode a ULEB128 at *pos below end; false when it runs off the end. */
static bool uleb(const unsigned char *d, uint64_t end, uint64_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; *pos < end; shift += 7) {
		unsigned char b = d[(*pos)++];
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Skip a NUL-terminated string at *pos below end. */
static bool skip_ntbs(const unsigned char *d, uint64_t end, uint64_t *pos)
{
	const unsigned char *nul = memchr(d + *pos, 0, end - *pos);
	if (!nul)
		return false;
	*pos = (uint64_t)(nul - d) + 1;
	return true;
}

/* Read file-scope (tag 1) attributes of the "aeabi" vendor: Tag_CPU_arch and
 * Tag_ABI_VFP_args. Format in ARM IHI 0045 ("Addenda to the ARM ELF ABI"). */
static int parse_arm_attributes(const unsigned char *d, uint64_t size, const struct elf_header *h,
				struct ak_elf_facts *f, struct ak_error **err)
{
	if (size == 0 || d[0] != 'A')
		return set_malformed(f, err, "'.ARM.attributes' has unknown format version");
	uint64_t off = 1;
	while (size - off >= 4) {
		uint32_t sublen = rd32(d + off, h->le);
		if (sublen < 4 || sublen > size - off)
			return set_malformed(f, err,
					     "'.ARM.attributes' subsection length %u exceeds the "
					     "section (%llu bytes)",
					     sublen, (unsigned long long)size);
		uint64_t end = off + sublen, pos = off + 4;
		const unsigned char *vendor = d + pos;
		if (!skip_ntbs(d, end, &pos))
			return set_malformed(f, err,
					     "'.ARM.attributes' vendor name not terminated");
		if (strcmp((const char *)vendor, "aeabi") == 0) {
			while (end - pos >= 5) {
				uint64_t tag, start = pos;
				if (!uleb(d, end, &pos, &tag) || end - pos < 4)
					return set_malformed(f, err, "'.ARM.attributes' truncated");
				uint32_t len = rd32(d + pos, h->le);
				if (len < 5 || len > end - start)
					return set_malformed(f, err,
							     "'.ARM.attributes' attribute block "
							     "length %u exceeds its subsection",
							     len);
				uint64_t block_end = start + len;
				pos += 4;
				if (tag == 1) { /* Tag_File: attributes for the whole file */
					while (pos < block_end) {
						uint64_t attr, val;
						if (!uleb(d, block_end, &pos, &attr))
							return set_malformed(
								f, err,
								"'.ARM.attributes' truncated tag");
						/* 4, 5, 67 and odd tags above 32 are strings; 32 is
						 * a number then a string; the rest are ULEB128 */
						bool str = attr == 4 || attr == 5 || attr == 67 ||
							   (attr > 32 && (attr & 1));
						if (attr == 32 && !uleb(d, block_end, &pos, &val))
							return set_malformed(f, err,
									     "'.ARM.attributes' "
									     "truncated value");
						if (str || attr == 32) {
							if (!skip_ntbs(d, block_end, &pos))
								return set_malformed(
									f, err,
									"'.ARM.attributes' string "
									"not "
									"terminated");
							continue;
						}
						if (!uleb(d, block_end, &pos, &val))
							return set_malformed(f, err,
									     "'.ARM.attributes' "
									     "truncated value");
						if (attr == 6)
							f->arm_cpu_arch = val > INT64_MAX
										  ? INT64_MAX
										  : (int64_t)val;
						else if (attr == 28)
							f->arm_vfp_args =
								val > 127 ? 127 : (int8_t)val;
					}
				}
				pos = block_end;
			}
		}
		off = end;
	}
	return 0;
}

/* ---- Go buildinfo ---- */

/* Go's varint (encoding/binary.Uvarint); false when it runs off the end. */
static bool go_uvarint(const unsigned char *d, uint64_t end, uint64_t *pos, uint64_t *out)
{
	return uleb(d, end, pos, out);
}

static void copy_setting(const char *text, size_t len, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i + klen <= len; i++) {
		if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, key, klen) == 0) {
			size_t v = i + klen, n = 0;
			while (v + n < len && text[v + n] != '\n' && n + 1 < size)
				n++;
			memcpy(out, text + v, n);
			out[n] = 0;
			return;
		}
	}
}

/* Parse buildinfo at d[0..avail): header (magic, pointer size, flags) then, from Go
 * 1.18, two varint-prefixed strings: the version and the module info text. */
static void parse_go_buildinfo(const unsigned char *d, uint64_t avail, struct ak_elf_facts *f)
{
	if (avail < 32 || memcmp(d, AK_GO_BUILDINFO_MAGIC, AK_GO_BUILDINFO_MAGIC_LEN) != 0)
		return;
	f->is_go = true;
	if (!(d[15] & 2)) {
		f->go_old_format = true;
		return;
	}
	uint64_t pos = 32, n;
	if (!go_uvarint(d, avail, &pos, &n) || n > avail - pos)
		return;
	size_t vn = n < sizeof(f->go_version) - 1 ? (size_t)n : sizeof(f->go_version) - 1;
	memcpy(f->go_version, d + pos, vn);
	f->go_version[vn] = 0;
	pos += n;
	if (!go_uvarint(d, avail, &pos, &n) || n > avail - pos)
		return;
	const char *mod = (const char *)d + pos;
	copy_setting(mod, (size_t)n, "build\tGOARCH=", f->goarch, sizeof(f->goarch));
	copy_setting(mod, (size_t)n, "build\tGOARM=", f->goarm, sizeof(f->goarm));
	copy_setting(mod, (size_t)n, "build\tGOAMD64=", f->goamd64, sizeof(f->goamd64));
}

/* Without a .go.buildinfo section header, look for the magic where Go puts it: at a
 * 16-byte aligned offset. */
static void scan_go_buildinfo(const unsigned char *buf, size_t len, struct ak_elf_facts *f)
{
	for (size_t off = 0; len >= 32 && off <= len - 32; off += 16)
		if (buf[off] == 0xff &&
		    memcmp(buf + off, AK_GO_BUILDINFO_MAGIC, AK_GO_BUILDINFO_MAGIC_LEN) == 0) {
			uint64_t avail = len - off;
			parse_go_buildinfo(
				buf + off,
				avail < AK_ELF_CAPTURE_GO_WINDOW ? avail : AK_ELF_CAPTURE_GO_WINDOW,
				f);
			return;
		}
}

/* ---- the libelf pass ---- */

static void elf_endp(Elf **e)
{
	if (*e)
		elf_end(*e);
}

static int walk_segments(Elf *e, const unsigned char *buf, size_t len, uint64_t real_size,
			 const struct elf_header *h, struct ak_elf_facts *f, bool *has_dynamic,
			 bool *pie, bool *has_property, struct ak_error **err)
{
	size_t phnum;
	if (elf_getphdrnum(e, &phnum) != 0)
		return set_malformed(f, err, "program headers unreadable: %s", elf_errmsg(-1));
	bool seen_interp = false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph))
			return set_malformed(f, err, "program header %zu unreadable: %s", i,
					     elf_errmsg(-1));
		if (ph.p_type == PT_DYNAMIC)
			*has_dynamic = true;
		/* load_elf_binary(): "p_filesz must always be <= p_memsz" */
		if (ph.p_type == PT_LOAD && ph.p_filesz > ph.p_memsz && h->loadable &&
		    set_load_problem(f, true, err,
				     "PT_LOAD %zu has p_filesz %#llx above p_memsz %#llx: execve "
				     "fails with EINVAL",
				     i, (unsigned long long)ph.p_filesz,
				     (unsigned long long)ph.p_memsz) < 0)
			return -1;
		if (ph.p_type != PT_INTERP && ph.p_type != PT_GNU_PROPERTY &&
		    ph.p_type != PT_DYNAMIC)
			continue;
		bool interp = ph.p_type == PT_INTERP;
		/* the kernel reads the first PT_INTERP only */
		if (interp && seen_interp) {
			if (set_malformed(f, err,
					  "more than one PT_INTERP (the kernel uses the first)") <
			    0)
				return -1;
			continue;
		}
		seen_interp |= interp;
		f->has_interp |= interp; /* even when its path is broken: a PIE stays one */
		if (!range_ok(ph.p_offset, ph.p_filesz, real_size)) {
			if (set_load_problem(
				    f, interp && h->loadable, err,
				    "segment %zu (offset %#llx, %llu bytes) beyond the end "
				    "of the file%s",
				    i, (unsigned long long)ph.p_offset,
				    (unsigned long long)ph.p_filesz,
				    interp && h->loadable ? ": execve fails with EIO" : "") < 0)
				return -1;
			continue;
		}
		if (!range_ok(ph.p_offset, ph.p_filesz, len)) {
			f->partial = true;
			continue;
		}
		const unsigned char *d = buf + ph.p_offset;
		if (interp) {
			if (ph.p_filesz < 2 || ph.p_filesz > AK_ELF_INTERP_MAX ||
			    d[ph.p_filesz - 1] != 0) {
				if (set_load_problem(f, h->loadable, err,
						     "PT_INTERP of %llu bytes is not a terminated "
						     "path%s",
						     (unsigned long long)ph.p_filesz,
						     h->loadable ? ": execve fails with ENOEXEC"
								 : "") < 0)
					return -1;
				continue;
			}
			f->interp = ak_xstrdup((const char *)d);
			/* open_exec() of "dir/file/" or "dir/" never opens a regular file */
			size_t n = strlen(f->interp);
			if (n > 0 && f->interp[n - 1] == '/' &&
			    set_load_problem(f, h->loadable, err, "PT_INTERP '%s' ends in '/'%s",
					     f->interp,
					     h->loadable ? ": execve fails with ENOTDIR (or EACCES "
							   "for a directory)"
							 : "") < 0)
				return -1;
			if (n == 0 &&
			    set_load_problem(f, h->loadable, err, "PT_INTERP is an empty path%s",
					     h->loadable ? ": execve fails with ENOENT" : "") < 0)
				return -1;
		} else if (ph.p_type == PT_DYNAMIC) {
			/* DF_1_PIE tells a static-pie executable from a library */
			size_t entsize = h->is64 ? 16 : 8;
			for (uint64_t o = 0; ph.p_filesz - o >= entsize && ph.p_filesz >= entsize;
			     o += entsize) {
				uint64_t tag = rdaddr(d + o, h),
					 val = rdaddr(d + o + entsize / 2, h);
				if (tag == DT_NULL)
					break;
				if (tag == DT_FLAGS_1 && (val & DF_1_PIE))
					*pie = true;
			}
		} else {
			*has_property = true;
			if (parse_property_notes(d, ph.p_filesz, h, f, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int walk_sections(Elf *e, const unsigned char *buf, size_t len, uint64_t real_size,
			 const struct elf_header *h, struct ak_elf_facts *f, bool has_property,
			 struct ak_error **err)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		shstrndx = 0;
	for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			return set_malformed(f, err, "section header unreadable: %s",
					     elf_errmsg(-1));
		bool arm_attr = sh.sh_type == SHT_ARM_ATTRIBUTES && f->e_machine == EM_ARM;
		bool note = sh.sh_type == SHT_NOTE && !has_property;
		bool maybe_go = sh.sh_type == SHT_PROGBITS && !f->is_go;
		if (!arm_attr && !note && !maybe_go)
			continue;
		const char *name = shstrndx ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
		if (!name)
			name = "";
		if (note && strcmp(name, ".note.gnu.property") != 0)
			continue;
		if (maybe_go && strcmp(name, ".go.buildinfo") != 0)
			continue;
		if (!range_ok(sh.sh_offset, sh.sh_size, real_size)) {
			if (set_malformed(
				    f, err,
				    "section '%s' (offset %#llx, %llu bytes) beyond the end of "
				    "the file",
				    name, (unsigned long long)sh.sh_offset,
				    (unsigned long long)sh.sh_size) < 0)
				return -1;
			continue;
		}
		if (!range_ok(sh.sh_offset, sh.sh_size, len)) {
			f->partial = true;
			continue;
		}
		const unsigned char *d = buf + sh.sh_offset;
		int r = 0;
		if (arm_attr)
			r = parse_arm_attributes(d, sh.sh_size, h, f, err);
		else if (note)
			r = parse_property_notes(d, sh.sh_size, h, f, err);
		else
			parse_go_buildinfo(d, sh.sh_size, f);
		if (r < 0)
			return -1;
	}
	return 0;
}

int ak_elf_classify(const unsigned char *buf, size_t len, uint64_t real_size,
		    struct ak_elf_facts *f, struct ak_error **err)
{
	memset(f, 0, sizeof(*f));
	f->arm_cpu_arch = -1;
	f->arm_vfp_args = -1;
	if (len > real_size)
		len = (size_t)real_size;
	f->partial = len < real_size;

	struct elf_header h = {0};
	if (read_header(buf, len, real_size, f, &h, err) < 0)
		return -1;
	switch (f->e_type) {
	case ET_REL:
		f->kind = AK_ELF_KIND_RELOCATABLE;
		break;
	case ET_EXEC:
		f->kind = AK_ELF_KIND_EXECUTABLE;
		break;
	case ET_DYN:
		f->kind = AK_ELF_KIND_SHARED;
		break;
	case ET_CORE:
		f->kind = AK_ELF_KIND_CORE;
		break;
	default:
		f->kind = AK_ELF_KIND_OTHER;
		break;
	}
	if (!f->header_ok)
		return 0;
	classify_flags(f);

	/* libelf must see only the tables that were checked and captured: when one is broken
	 * or not in the buffer (head only, or absurdly many sections), hand it a copy of the
	 * header that hides it. A file too large for the heap is cut to its head then. */
	cleanup_free unsigned char *copy = NULL;
	const unsigned char *image = buf;
	size_t image_len = len;
	size_t shsize = h.is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
	size_t phsize = h.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	bool sections = h.shnum > 0 && h.shnum <= AK_ELF_SECTIONS_MAX &&
			range_ok(h.shoff, h.shnum * shsize, len);
	bool phdrs = h.phnum > 0 && range_ok(h.phoff, h.phnum * phsize, len);
	if (h.shnum > 0 && !sections)
		f->partial = true;
	if (h.phnum > 0 && !phdrs)
		f->partial = true;
	bool hide_sections = !sections && (h.raw_shnum != 0 || h.shoff != 0);
	bool hide_phdrs = !phdrs && h.raw_phnum != 0;
	/* libelf finds a PN_XNUM count in section 0 only */
	if (phdrs && !sections && h.raw_phnum == PN_XNUM) {
		hide_phdrs = true;
		phdrs = false;
		f->partial = true;
	}
	if (hide_sections || hide_phdrs) {
		if (len > AK_ELF_CAPTURE_WHOLE_MAX) {
			image_len = AK_ELF_CAPTURE_HEAD;
			if (sections && !range_ok(h.shoff, h.shnum * shsize, image_len))
				sections = false, hide_sections = true, f->partial = true;
			if (phdrs && !range_ok(h.phoff, h.phnum * phsize, image_len))
				phdrs = false, hide_phdrs = true, f->partial = true;
		}
		copy = ak_xmalloc(image_len);
		memcpy(copy, buf, image_len);
		if (hide_sections) {
			memset(copy + (h.is64 ? 40 : 32), 0, h.is64 ? 8 : 4); /* e_shoff */
			memset(copy + (h.is64 ? 60 : 48), 0, 4); /* e_shnum, e_shstrndx */
		}
		if (hide_phdrs) {
			memset(copy + (h.is64 ? 32 : 28), 0, h.is64 ? 8 : 4); /* e_phoff */
			memset(copy + (h.is64 ? 56 : 44), 0, 2);	      /* e_phnum */
		}
		image = copy;
	}

	pthread_once(&libelf_once, libelf_init);
	if (!libelf_ok)
		return ak_error_set(err, AK_EXIT_ENV, "libelf is older than this program");
	/* libelf reads a memory image without writing to it (ELF_C_READ_MMAP_PRIVATE
	 * converts into buffers of its own); tests/check_elf.c proves it on read-only pages */
	__attribute__((cleanup(elf_endp))) Elf *e = elf_memory((char *)image, image_len);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		if (set_malformed(f, err, "libelf cannot read it: %s", elf_errmsg(-1)) < 0)
			return -1;
		phdrs = sections = false;
	}

	bool has_dynamic = false, pie = false, has_property = false;
	if (phdrs && walk_segments(e, image, image_len, real_size, &h, f, &has_dynamic, &pie,
				   &has_property, err) < 0)
		return -1;
	if (sections && walk_sections(e, image, image_len, real_size, &h, f, has_property, err) < 0)
		return -1;
	/* the section can be stripped (sstrip, objcopy); scanning is cheap below the cap */
	if (!f->is_go && (!sections || f->partial || len <= AK_ELF_CAPTURE_WHOLE_MAX))
		scan_go_buildinfo(buf, len, f);

	set_isa_level(f);
	/* Tag_ABI_VFP_args: 0 base AAPCS (soft), 1 VFP registers (hard); 2 (toolchain-specific)
	 * and 3 (no float arguments: compatible with both) say nothing */
	if (f->e_machine == EM_ARM && f->arm_float == AK_ARM_FLOAT_UNKNOWN &&
	    (f->arm_vfp_args == 0 || f->arm_vfp_args == 1))
		f->arm_float = f->arm_vfp_args == 1 ? AK_ARM_FLOAT_HARD : AK_ARM_FLOAT_SOFT;
	if (f->e_type == ET_DYN && (f->has_interp || pie))
		f->kind = AK_ELF_KIND_EXECUTABLE;
	/* static-pie carries PT_DYNAMIC for its self-relocation; DF_1_PIE marks it */
	f->is_static = !f->has_interp &&
		       (f->e_type == ET_EXEC || (f->e_type == ET_DYN && (pie || !has_dynamic)));
	return 0;
}
