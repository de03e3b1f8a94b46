/* Every field of struct ak_elf_facts, in order, numbers as LEB128 (signed ones offset
 * so -1 and INT64_MAX fit), strings with their length. A field added to the struct is
 * a field to add here, with the version bumped: the size check below says when. */
#include "probe/elf-facts-codec.h"

#include <stdlib.h>
#include <string.h>

#include "elf/classify.h"

/* 1: the first encoding. Bump it too when capture or classify would make other facts
 * of the same bytes: cached facts are then made again, not judged stale. */
#define ELF_CODEC_VERSION 1u

#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(struct ak_elf_facts) == 128,
	       "struct ak_elf_facts changed: encode the new field and bump ELF_CODEC_VERSION");
#endif

enum {
	F_HAS_INTERP = 1 << 0,
	F_STATIC = 1 << 1,
	F_PARTIAL = 1 << 2,
	F_HEADER_OK = 1 << 3,
	F_MALFORMED = 1 << 4,
	F_GO = 1 << 5,
	F_GO_OLD = 1 << 6,
	F_ALL = (1 << 7) - 1,
};

void ak_elf_facts_free(void *facts)
{
	if (facts) {
		ak_elf_facts_clear(facts);
		free(facts);
	}
}

static int elf_encode(const void *p, char **buf, size_t *len, size_t *cap)
{
	const struct ak_elf_facts *f = p;
	unsigned flags = (f->has_interp ? F_HAS_INTERP : 0) | (f->is_static ? F_STATIC : 0) |
			 (f->partial ? F_PARTIAL : 0) | (f->header_ok ? F_HEADER_OK : 0) |
			 (f->malformed ? F_MALFORMED : 0) | (f->is_go ? F_GO : 0) |
			 (f->go_old_format ? F_GO_OLD : 0);
	const uint64_t nums[] = {
		f->elf_class,
		f->elf_data,
		f->osabi,
		f->e_machine,
		f->e_type,
		f->e_flags,
		(uint64_t)f->kind,
		flags,
		f->arm_eabi,
		(uint64_t)f->arm_float,
		(uint64_t)f->arm_cpu_arch + 1, /* -1 .. INT64_MAX */
		(uint64_t)(int64_t)f->arm_vfp_args + 1,
		f->x86_isa_needed,
		f->x86_isa_level,
		(uint64_t)f->riscv_float,
		(uint64_t)f->mips_abi,
		f->ppc64_abi,
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (ak_facts_put_uint(buf, len, cap, nums[i]) < 0)
			return -1;
	const char *strs[] = {f->malformed_reason, f->exec_refused, f->interp, f->go_version,
			      f->goarch,	   f->goarm,	    f->goamd64};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (ak_facts_put_str(buf, len, cap, strs[i]) < 0)
			return -1;
	return 0;
}

/* A malloc'd string (NULL stays NULL); -1 when malformed or out of memory. */
static int get_dup(struct ak_facts_reader *r, char **out)
{
	const char *s;
	size_t n;
	if (ak_facts_get_str(r, 1u << 20, &s, &n) < 0)
		return -1;
	if (s && !(*out = strndup(s, n)))
		return -1;
	return 0;
}

/* Into a fixed array, NUL-terminated; the string must fit as classify wrote it. */
static int get_fixed(struct ak_facts_reader *r, char *out, size_t size)
{
	const char *s;
	size_t n;
	if (ak_facts_get_str(r, size - 1, &s, &n) < 0 || !s)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

static void *elf_decode(const void *data, size_t len)
{
	struct ak_facts_reader r = {.p = data, .left = len};
	struct ak_elf_facts *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->elf_class = (uint8_t)ak_facts_get_uint(&r, UINT8_MAX);
	f->elf_data = (uint8_t)ak_facts_get_uint(&r, UINT8_MAX);
	f->osabi = (uint8_t)ak_facts_get_uint(&r, UINT8_MAX);
	f->e_machine = (uint16_t)ak_facts_get_uint(&r, UINT16_MAX);
	f->e_type = (uint16_t)ak_facts_get_uint(&r, UINT16_MAX);
	f->e_flags = (uint32_t)ak_facts_get_uint(&r, UINT32_MAX);
	f->kind = (enum ak_elf_kind)ak_facts_get_uint(&r, AK_ELF_KIND_CORE);
	unsigned flags = (unsigned)ak_facts_get_uint(&r, F_ALL);
	f->has_interp = flags & F_HAS_INTERP;
	f->is_static = flags & F_STATIC;
	f->partial = flags & F_PARTIAL;
	f->header_ok = flags & F_HEADER_OK;
	f->malformed = flags & F_MALFORMED;
	f->is_go = flags & F_GO;
	f->go_old_format = flags & F_GO_OLD;
	f->arm_eabi = (uint8_t)ak_facts_get_uint(&r, UINT8_MAX);
	f->arm_float = (enum ak_arm_float_abi)ak_facts_get_uint(&r, AK_ARM_FLOAT_HARD);
	uint64_t cpu_arch = ak_facts_get_uint(&r, (uint64_t)INT64_MAX + 1);
	f->arm_cpu_arch = cpu_arch ? (int64_t)(cpu_arch - 1) : -1;
	f->arm_vfp_args = (int8_t)((int)ak_facts_get_uint(&r, (uint64_t)INT8_MAX + 1) - 1);
	f->x86_isa_needed = (uint32_t)ak_facts_get_uint(&r, UINT32_MAX);
	f->x86_isa_level = (uint8_t)ak_facts_get_uint(&r, UINT8_MAX);
	f->riscv_float = (enum ak_riscv_float_abi)ak_facts_get_uint(&r, AK_RISCV_FLOAT_QUAD);
	f->mips_abi = (enum ak_mips_abi)ak_facts_get_uint(&r, AK_MIPS_ABI_N64);
	f->ppc64_abi = (uint8_t)ak_facts_get_uint(&r, UINT8_MAX);
	if (r.bad || get_dup(&r, &f->malformed_reason) < 0 || get_dup(&r, &f->exec_refused) < 0 ||
	    get_dup(&r, &f->interp) < 0 ||
	    get_fixed(&r, f->go_version, sizeof(f->go_version)) < 0 ||
	    get_fixed(&r, f->goarch, sizeof(f->goarch)) < 0 ||
	    get_fixed(&r, f->goarm, sizeof(f->goarm)) < 0 ||
	    get_fixed(&r, f->goamd64, sizeof(f->goamd64)) < 0 || r.left != 0) {
		ak_elf_facts_free(f);
		return NULL;
	}
	return f;
}

const struct ak_facts_codec ak_elf_facts_codec = {
	.name = "elf",
	.version = ELF_CODEC_VERSION,
	.encode = elf_encode,
	.decode = elf_decode,
	.free_facts = ak_elf_facts_free,
};
