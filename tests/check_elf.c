/* ELF capture, classification and judgement. Every input is an ELF file built here in
 * memory (both classes, both byte orders), plus the binaries this machine has. */
#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/platform.h"
#include "common/util.h"
#include "elf/capture.h"
#include "elf/classify.h"
#include "elf/judge.h"
#include "verify/smoke-run.h"

/* ---- an ELF writer ---- */

struct elf_spec {
	int cls;  /* ELFCLASS32 / ELFCLASS64 */
	int data; /* ELFDATA2LSB / ELFDATA2MSB */
	uint16_t machine, type;
	uint32_t flags;
	uint8_t osabi;
	const char *interp;
	bool dynamic;		  /* add a PT_DYNAMIC */
	uint32_t isa_needed;	  /* GNU property X86_ISA_1_NEEDED, 0 for no note */
	bool property_in_section; /* only as .note.gnu.property, without PT_GNU_PROPERTY */
	const unsigned char *arm_attr;
	size_t arm_attr_len;
	const unsigned char *go; /* .go.buildinfo contents */
	size_t go_len;
	bool go_without_section; /* place the buildinfo but give it no section header */
};

struct writer {
	unsigned char *p;
	size_t len;
	bool le, is64;
};

static void put(struct writer *w, size_t off, int size, uint64_t v)
{
	ck_assert_uint_le(off + (size_t)size, w->len);
	for (int i = 0; i < size; i++) {
		int shift = 8 * (w->le ? i : size - 1 - i);
		w->p[off + (size_t)i] = (unsigned char)(v >> shift);
	}
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Build the file described by s; *len gets its size. The layout: header, program
 * headers, contents, section headers at the end (as linkers put them). */
static unsigned char *elf_build(const struct elf_spec *s, size_t *len)
{
	struct writer w = {calloc(1, 65536), 65536, s->data != ELFDATA2MSB, s->cls != ELFCLASS32};
	ck_assert_ptr_nonnull(w.p);
	size_t A = w.is64 ? 8 : 4, ehsize = w.is64 ? 64 : 52, phsize = w.is64 ? 56 : 32,
	       shsize = w.is64 ? 64 : 40;
	uint16_t type = s->type ? s->type : ET_EXEC;
	/* what the kernel loads has a PT_LOAD (binfmt_elf refuses a file without program
	 * headers), last so the other headers keep their places */
	bool load = type == ET_EXEC || type == ET_DYN;
	int nph = (s->interp ? 1 : 0) + (s->dynamic ? 1 : 0) +
		  (s->isa_needed && !s->property_in_section ? 1 : 0) + (load ? 1 : 0);
	size_t cur = ehsize + (size_t)nph * phsize;

	/* contents */
	size_t interp_off = 0, interp_len = 0, note_off = 0, note_len = 0, attr_off = 0, go_off = 0,
	       dyn_off = 0;
	if (s->interp) {
		interp_off = cur;
		interp_len = strlen(s->interp) + 1;
		memcpy(w.p + cur, s->interp, interp_len);
		cur += interp_len;
	}
	if (s->dynamic) {
		cur = align_up(cur, 8);
		dyn_off = cur;
		cur += 2 * A * 2; /* DT_NULL pair and one spare */
	}
	if (s->isa_needed) {
		cur = align_up(cur, A);
		note_off = cur;
		size_t desc = 8 + align_up(4, A);
		put(&w, cur, 4, 4);
		put(&w, cur + 4, 4, desc);
		put(&w, cur + 8, 4, NT_GNU_PROPERTY_TYPE_0);
		memcpy(w.p + cur + 12, "GNU", 4);
		size_t d = align_up(cur + 16, A);
		put(&w, d, 4, GNU_PROPERTY_X86_ISA_1_NEEDED);
		put(&w, d + 4, 4, 4);
		put(&w, d + 8, 4, s->isa_needed);
		note_len = d + desc - cur;
		cur += note_len;
	}
	if (s->arm_attr) {
		attr_off = cur;
		memcpy(w.p + cur, s->arm_attr, s->arm_attr_len);
		cur += s->arm_attr_len;
	}
	if (s->go) {
		cur = align_up(cur, 16);
		go_off = cur;
		memcpy(w.p + cur, s->go, s->go_len);
		cur += s->go_len;
	}
	static const char shstrtab[] =
		"\0.shstrtab\0.interp\0.note.gnu.property\0.ARM.attributes\0.go.buildinfo";
	size_t strtab_off = cur;
	memcpy(w.p + cur, shstrtab, sizeof(shstrtab));
	cur += sizeof(shstrtab);

	/* program headers */
	size_t ph = ehsize;
	struct {
		uint32_t type;
		size_t off, len;
	} segs[4];
	int ns = 0;
	if (s->interp)
		segs[ns++] = (typeof(segs[0])){PT_INTERP, interp_off, interp_len};
	if (s->dynamic)
		segs[ns++] = (typeof(segs[0])){PT_DYNAMIC, dyn_off, 2 * A * 2};
	if (s->isa_needed && !s->property_in_section)
		segs[ns++] = (typeof(segs[0])){PT_GNU_PROPERTY, note_off, note_len};
	if (load) /* the file's contents before the section headers */
		segs[ns++] = (typeof(segs[0])){PT_LOAD, 0, cur};
	for (int i = 0; i < ns; i++, ph += phsize) {
		put(&w, ph, 4, segs[i].type);
		if (w.is64) {
			put(&w, ph + 8, 8, segs[i].off);
			put(&w, ph + 32, 8, segs[i].len);
			put(&w, ph + 40, 8, segs[i].len);
			put(&w, ph + 48, 8, A);
		} else {
			put(&w, ph + 4, 4, segs[i].off);
			put(&w, ph + 16, 4, segs[i].len);
			put(&w, ph + 20, 4, segs[i].len);
			put(&w, ph + 28, 4, A);
		}
	}

	/* section headers: null, .shstrtab, then what exists */
	cur = align_up(cur, 8);
	size_t shoff = cur;
	struct {
		uint32_t name, type;
		size_t off, len;
	} secs[6] = {{0, SHT_NULL, 0, 0}, {1, SHT_STRTAB, strtab_off, sizeof(shstrtab)}};
	int nsec = 2;
	if (s->interp)
		secs[nsec++] = (typeof(secs[0])){11, SHT_PROGBITS, interp_off, interp_len};
	if (s->isa_needed)
		secs[nsec++] = (typeof(secs[0])){19, SHT_NOTE, note_off, note_len};
	if (s->arm_attr)
		secs[nsec++] = (typeof(secs[0])){38, SHT_ARM_ATTRIBUTES, attr_off, s->arm_attr_len};
	if (s->go && !s->go_without_section)
		secs[nsec++] = (typeof(secs[0])){54, SHT_PROGBITS, go_off, s->go_len};
	for (int i = 0; i < nsec; i++, cur += shsize) {
		put(&w, cur, 4, secs[i].name);
		put(&w, cur + 4, 4, secs[i].type);
		put(&w, cur + (w.is64 ? 24 : 16), (int)A, secs[i].off);
		put(&w, cur + (w.is64 ? 32 : 20), (int)A, secs[i].len);
		put(&w, cur + (w.is64 ? 48 : 32), (int)A, 1);
	}

	/* ELF header */
	memcpy(w.p, ELFMAG, SELFMAG);
	w.p[EI_CLASS] = (unsigned char)s->cls;
	w.p[EI_DATA] = (unsigned char)s->data;
	w.p[EI_VERSION] = EV_CURRENT;
	w.p[EI_OSABI] = s->osabi;
	put(&w, 16, 2, type);
	put(&w, 18, 2, s->machine);
	put(&w, 20, 4, EV_CURRENT);
	put(&w, 24 + A, (int)A, nph ? ehsize : 0);
	put(&w, 24 + 2 * A, (int)A, shoff);
	put(&w, 24 + 3 * A, 4, s->flags);
	put(&w, 28 + 3 * A, 2, ehsize);
	put(&w, 30 + 3 * A, 2, phsize);
	put(&w, 32 + 3 * A, 2, (uint64_t)nph);
	put(&w, 34 + 3 * A, 2, shsize);
	put(&w, 36 + 3 * A, 2, (uint64_t)nsec);
	put(&w, 38 + 3 * A, 2, 1);
	*len = cur;
	return w.p;
}

/* .ARM.attributes with Tag_CPU_name, Tag_CPU_arch and (when >= 0) Tag_ABI_VFP_args. */
static size_t arm_attributes(unsigned char *out, int cpu_arch, int vfp_args)
{
	unsigned char attrs[64];
	size_t n = 0;
	attrs[n++] = 5; /* Tag_CPU_name, a string */
	memcpy(attrs + n, "7-A", 4);
	n += 4;
	attrs[n++] = 6; /* Tag_CPU_arch, ULEB128 */
	for (unsigned v = (unsigned)cpu_arch;; v >>= 7) {
		attrs[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		if (v <= 0x7f)
			break;
	}
	attrs[n++] = 10; /* Tag_FP_arch */
	attrs[n++] = 3;
	if (vfp_args >= 0) {
		attrs[n++] = 28;
		attrs[n++] = (unsigned char)vfp_args;
	}
	attrs[n++] = 34; /* Tag_CPU_unaligned_access: even tag above 32, a number */
	attrs[n++] = 1;
	size_t file_len = 1 + 4 + n, sub_len = 4 + 6 + file_len;
	size_t o = 0;
	out[o++] = 'A';
	for (int i = 0; i < 4; i++)
		out[o++] = (unsigned char)(sub_len >> (8 * i));
	memcpy(out + o, "aeabi", 6);
	o += 6;
	out[o++] = 1;
	for (int i = 0; i < 4; i++)
		out[o++] = (unsigned char)(file_len >> (8 * i));
	memcpy(out + o, attrs, n);
	return o + n;
}

/* Go 1.18+ buildinfo: header, then varint-prefixed version and module info. */
static size_t go_buildinfo(unsigned char *out, const char *version, const char *modinfo,
			   bool inline_strings)
{
	memset(out, 0, 32);
	memcpy(out, AK_GO_BUILDINFO_MAGIC, AK_GO_BUILDINFO_MAGIC_LEN);
	out[14] = 8;
	out[15] = inline_strings ? 2 : 0;
	size_t o = 32, vl = strlen(version), ml = strlen(modinfo);
	out[o++] = (unsigned char)vl;
	memcpy(out + o, version, vl);
	o += vl;
	out[o++] = (unsigned char)(ml | 0x80); /* two-byte varint on purpose */
	out[o++] = (unsigned char)(ml >> 7);
	memcpy(out + o, modinfo, ml);
	return o + ml;
}

static void classify(const unsigned char *buf, size_t len, struct ak_elf_facts *f)
{
	cleanup_error struct ak_error *err = NULL;
	int r = ak_elf_classify(buf, len, len, f, &err);
	ck_assert_msg(r == 0, "classify failed: %s", err ? err->msg : "?");
}

static const struct ak_platform *plat(const char *name)
{
	const struct ak_platform *p = ak_platform_parse(name, NULL);
	ck_assert_ptr_nonnull(p);
	return p;
}

struct verdict {
	int n;
	struct ak_finding f[AK_ELF_FINDINGS_MAX];
};

static struct verdict judge(const struct ak_elf_facts *facts, const char *platform)
{
	struct verdict v = {0};
	cleanup_error struct ak_error *err = NULL;
	v.n = ak_elf_judge(facts, plat(platform), v.f, &err);
	ck_assert_msg(v.n >= 0, "judge failed: %s", err ? err->msg : "?");
	/* every finding comes from the code table, with a severity the table allows */
	for (int i = 0; i < v.n; i++) {
		size_t c = 0;
		while (c < AK_ELF_CODE_COUNT && strcmp(ak_elf_codes[c].code, v.f[i].code) != 0)
			c++;
		ck_assert_msg(c < AK_ELF_CODE_COUNT, "'%s' is not in ak_elf_codes", v.f[i].code);
		ck_assert_msg(ak_elf_codes[c].severities & AK_SEV_BIT(v.f[i].sev),
			      "'%s' as %s is not in ak_elf_codes", v.f[i].code,
			      ak_severity_name(v.f[i].sev));
	}
	return v;
}

static void verdict_clear(struct verdict *v)
{
	for (int i = 0; i < v->n; i++)
		ak_finding_clear(&v->f[i]);
	v->n = 0;
}

/* Assert exactly one finding with this code and severity; return it for more checks. */
static void expect_one(const struct ak_elf_facts *facts, const char *platform, const char *code,
		       enum ak_severity sev)
{
	struct verdict v = judge(facts, platform);
	ck_assert_msg(v.n == 1, "%s: %d findings, wanted one '%s' (first: %s)", platform, v.n, code,
		      v.n ? v.f[0].code : "none");
	ck_assert_str_eq(v.f[0].code, code);
	ck_assert_msg(v.f[0].sev == sev, "%s: '%s' is %s", platform, code,
		      ak_severity_name(v.f[0].sev));
	verdict_clear(&v);
}

static void expect_clean(const struct ak_elf_facts *facts, const char *platform)
{
	struct verdict v = judge(facts, platform);
	ck_assert_msg(v.n == 0, "%s: unexpected '%s': found %s, expected %s", platform,
		      v.n ? v.f[0].code : "", v.n ? v.f[0].found : "", v.n ? v.f[0].expected : "");
}

/* Assert a finding with this code, severity and (when not NULL) text in found. */
static void expect_finding(const struct ak_elf_facts *facts, const char *platform, const char *code,
			   enum ak_severity sev, const char *in_found)
{
	struct verdict v = judge(facts, platform);
	int i = 0;
	while (i < v.n && strcmp(v.f[i].code, code) != 0)
		i++;
	ck_assert_msg(i < v.n, "%s: no '%s' among %d findings (first: %s)", platform, code, v.n,
		      v.n ? v.f[0].code : "none");
	ck_assert_msg(v.f[i].sev == sev, "%s: '%s' is %s", platform, code,
		      ak_severity_name(v.f[i].sev));
	ck_assert_msg(!in_found || strstr(v.f[i].found, in_found),
		      "%s: '%s' found '%s', wanted '%s'", platform, code, v.f[i].found, in_found);
	verdict_clear(&v);
}

/* Assert exactly the codes given (in order), comma-separated, e.g. "wrong-machine,non-linux-abi".
 */
static void expect_codes(const struct ak_elf_facts *facts, const char *platform, const char *codes)
{
	struct verdict v = judge(facts, platform);
	char got[256] = "";
	for (int i = 0; i < v.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
			 v.f[i].code);
	ck_assert_msg(strcmp(got, codes) == 0, "%s: findings '%s', wanted '%s'", platform, got,
		      codes);
	verdict_clear(&v);
}

/* ---- classification ---- */

START_TEST(test_x86_64_pie_with_isa_note)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_X86_64,
			     .type = ET_DYN,
			     .interp = "/lib64/ld-linux-x86-64.so.2",
			     .dynamic = true,
			     .isa_needed = 0x1 | 0x2 | 0x4};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert(!f.malformed);
	ck_assert_int_eq(f.elf_class, ELFCLASS64);
	ck_assert_int_eq(f.elf_data, ELFDATA2LSB);
	ck_assert_int_eq(f.e_machine, EM_X86_64);
	ck_assert_int_eq(f.kind, AK_ELF_KIND_EXECUTABLE);
	ck_assert(f.has_interp && !f.is_static);
	ck_assert_str_eq(f.interp, "/lib64/ld-linux-x86-64.so.2");
	ck_assert_uint_eq(f.x86_isa_needed, 7);
	ck_assert_int_eq(f.x86_isa_level, 3);

	expect_one(&f, "linux/amd64", "x86-isa-level", AK_SEV_WARNING);
	expect_one(&f, "linux/amd64/v2", "x86-isa-level", AK_SEV_ERROR);
	expect_clean(&f, "linux/amd64/v3");
	expect_clean(&f, "linux/amd64/v4");
	struct verdict v = judge(&f, "linux/amd64");
	ck_assert_str_eq(
		v.f[0].found,
		"x86-64 (linux/amd64) ELF64 LSB needing x86-64-v3 (GNU property x86 ISA needed)");
	ck_assert_str_eq(v.f[0].expected, "x86-64 baseline (linux/amd64)");
	verdict_clear(&v);
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_isa_note_as_section_only)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_X86_64,
			     .type = ET_EXEC,
			     .isa_needed = 0x1 | 0x2};
	s.property_in_section = true;
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert(!f.malformed);
	ck_assert(f.is_static);
	ck_assert_int_eq(f.x86_isa_level, 2);
	expect_clean(&f, "linux/amd64/v2");
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_wrong_machine_named_in_platform_terms)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_AARCH64,
			     .type = ET_DYN,
			     .interp = "/lib/ld-linux-aarch64.so.1",
			     .dynamic = true};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	struct verdict v = judge(&f, "linux/amd64");
	ck_assert_int_eq(v.n, 1);
	ck_assert_str_eq(v.f[0].code, "wrong-machine");
	ck_assert_int_eq(v.f[0].sev, AK_SEV_ERROR);
	ck_assert_str_eq(v.f[0].found, "aarch64 (linux/arm64) ELF64 LSB");
	ck_assert_str_eq(v.f[0].expected, "x86-64 (linux/amd64)");
	verdict_clear(&v);
	expect_clean(&f, "linux/arm64");
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_class_and_endianness)
{
	/* x32: EM_X86_64 in ELF32 */
	struct elf_spec s = {
		.cls = ELFCLASS32, .data = ELFDATA2LSB, .machine = EM_X86_64, .type = ET_EXEC};
	size_t len;
	unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert(!f.malformed);
	expect_one(&f, "linux/amd64", "wrong-class", AK_SEV_ERROR);
	ak_elf_facts_clear(&f);
	free(elf);

	/* big-endian ppc64 (ELFv1) in ppc64le */
	s = (struct elf_spec){.cls = ELFCLASS64,
			      .data = ELFDATA2MSB,
			      .machine = EM_PPC64,
			      .type = ET_EXEC,
			      .flags = 1};
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	ck_assert(!f.malformed);
	ck_assert_int_eq(f.elf_data, ELFDATA2MSB);
	ck_assert_int_eq(f.ppc64_abi, 1);
	struct verdict v = judge(&f, "linux/ppc64le");
	ck_assert_int_eq(v.n, 1);
	ck_assert_str_eq(v.f[0].code, "wrong-endianness");
	ck_assert_str_eq(v.f[0].found, "ppc64 (linux/ppc64) ELF64 MSB");
	ck_assert_str_eq(v.f[0].expected, "ppc64 (linux/ppc64le) LSB");
	verdict_clear(&v);
	expect_clean(&f, "linux/ppc64");
	ak_elf_facts_clear(&f);
	free(elf);
}
END_TEST

START_TEST(test_ppc64le_elfv1)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_PPC64,
			     .type = ET_DYN,
			     .flags = 1,
			     .interp = "/lib64/ld64.so.2"};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert_int_eq(f.ppc64_abi, 1);
	expect_one(&f, "linux/ppc64le", "ppc64-elfv1", AK_SEV_ERROR);
	ak_elf_facts_clear(&f);
	s.flags = 2;
	cleanup_free unsigned char *v2 = elf_build(&s, &len);
	classify(v2, len, &f);
	expect_clean(&f, "linux/ppc64le");
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_arm_hard_float_v7)
{
	unsigned char attr[64];
	struct elf_spec s = {.cls = ELFCLASS32,
			     .data = ELFDATA2LSB,
			     .machine = EM_ARM,
			     .type = ET_DYN,
			     .flags = 0x05000400,
			     .interp = "/lib/ld-linux-armhf.so.3",
			     .dynamic = true};
	s.arm_attr = attr;
	s.arm_attr_len = arm_attributes(attr, 10, 1);
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert_msg(!f.malformed, "%s", f.malformed_reason);
	ck_assert_int_eq(f.arm_eabi, 5);
	ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_HARD);
	ck_assert_int_eq(f.arm_cpu_arch, 10);
	ck_assert_int_eq(f.arm_vfp_args, 1);
	expect_clean(&f, "linux/arm/v7");
	expect_one(&f, "linux/arm/v6", "arm-cpu-too-new", AK_SEV_ERROR);
	struct verdict v = judge(&f, "linux/arm/v5");
	ck_assert_int_eq(v.n, 2);
	ck_assert_str_eq(v.f[0].code, "arm-hard-float");
	ck_assert_int_eq(v.f[0].sev, AK_SEV_ERROR);
	ck_assert_str_eq(v.f[1].code, "arm-cpu-too-new");
	ck_assert_str_eq(v.f[1].found, "arm (linux/arm) ELF32 LSB ARMv7 code (Tag_CPU_arch 10)");
	ck_assert_str_eq(v.f[1].expected, "ARMv5 or older (linux/arm/v5)");
	verdict_clear(&v);
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_arm_soft_float_armel)
{
	unsigned char attr[64];
	struct elf_spec s = {.cls = ELFCLASS32,
			     .data = ELFDATA2LSB,
			     .machine = EM_ARM,
			     .type = ET_DYN,
			     .flags = 0x05000200,
			     .interp = "/lib/ld-linux.so.3",
			     .dynamic = true};
	s.arm_attr = attr;
	s.arm_attr_len = arm_attributes(attr, 4, -1); /* v5TE, no VFP args tag */
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_SOFT);
	ck_assert_int_eq(f.arm_cpu_arch, 4);
	ck_assert_int_eq(f.arm_vfp_args, -1);
	expect_one(&f, "linux/arm/v7", "arm-soft-float", AK_SEV_ERROR);
	expect_one(&f, "linux/arm/v6", "arm-soft-float", AK_SEV_WARNING);
	expect_clean(&f, "linux/arm/v5");
	ak_elf_facts_clear(&f);

	/* EABI5 without float bits: the VFP args tag decides */
	s.flags = 0x05000000;
	s.arm_attr_len = arm_attributes(attr, 10, 1);
	cleanup_free unsigned char *tagged = elf_build(&s, &len);
	classify(tagged, len, &f);
	ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_HARD);
	ak_elf_facts_clear(&f);

	/* Tag_ABI_VFP_args 3: no float arguments, compatible with both ABIs */
	s.arm_attr_len = arm_attributes(attr, 6, 3);
	cleanup_free unsigned char *both = elf_build(&s, &len);
	classify(both, len, &f);
	ck_assert_int_eq(f.arm_vfp_args, 3);
	ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_UNKNOWN);
	expect_clean(&f, "linux/arm/v7");
	expect_clean(&f, "linux/arm/v6");
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_go_arm_binary_is_not_soft_float)
{
	unsigned char go[256];
	struct elf_spec s = {.cls = ELFCLASS32,
			     .data = ELFDATA2LSB,
			     .machine = EM_ARM,
			     .type = ET_EXEC,
			     .flags = 0x5000002};
	s.go = go;
	s.go_len = go_buildinfo(
		go, "go1.22.1",
		"0w\xaf\x0c\x92t\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6path\tex.com/x\n"
		"build\t-compiler=gc\nbuild\tGOARCH=arm\nbuild\tGOARM=7\nbuild\tGOOS=linux\n",
		true);
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert(!f.malformed);
	ck_assert(f.is_static);
	ck_assert(f.is_go && !f.go_old_format);
	ck_assert_str_eq(f.go_version, "go1.22.1");
	ck_assert_str_eq(f.goarch, "arm");
	ck_assert_str_eq(f.goarm, "7");
	ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_UNKNOWN);
	expect_clean(&f, "linux/arm/v7");
	struct verdict v = judge(&f, "linux/arm/v6");
	ck_assert_int_eq(v.n, 1);
	ck_assert_str_eq(v.f[0].code, "arm-cpu-too-new");
	ck_assert_ptr_nonnull(strstr(v.f[0].found, "(GOARM=7)"));
	verdict_clear(&v);
	ak_elf_facts_clear(&f);
}
END_TEST

START_TEST(test_go_buildinfo_variants)
{
	unsigned char go[256];
	struct elf_spec s = {
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_X86_64, .type = ET_EXEC};
	s.go = go;
	s.go_len = go_buildinfo(go, "go1.21.0", "build\tGOARCH=amd64\nbuild\tGOAMD64=v3\n", true);
	s.go_without_section = true; /* found by scanning for the magic */
	size_t len;
	unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert(f.is_go);
	ck_assert_str_eq(f.goamd64, "v3");
	expect_one(&f, "linux/amd64", "x86-isa-level", AK_SEV_WARNING);
	expect_clean(&f, "linux/amd64/v3");
	ak_elf_facts_clear(&f);
	free(elf);

	s.go_len = go_buildinfo(go, "", "", false);
	s.go_without_section = false;
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	ck_assert(f.is_go && f.go_old_format);
	ck_assert_str_eq(f.goarch, "");
	ak_elf_facts_clear(&f);
	free(elf);

	/* GOARCH that disagrees with a matching machine */
	s.go_len = go_buildinfo(go, "go1.22.0", "build\tGOARCH=386\n", true);
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	expect_one(&f, "linux/amd64", "go-arch-mismatch", AK_SEV_WARNING);
	ak_elf_facts_clear(&f);
	free(elf);
}
END_TEST

START_TEST(test_riscv_mips_abis)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_RISCV,
			     .type = ET_DYN,
			     .flags = 0x5,
			     .interp = "/lib/ld-linux-riscv64-lp64d.so.1",
			     .dynamic = true};
	size_t len;
	unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert_int_eq(f.riscv_float, AK_RISCV_FLOAT_DOUBLE);
	expect_clean(&f, "linux/riscv64");
	ak_elf_facts_clear(&f);
	free(elf);

	s.flags = 0x1; /* RVC, soft-float */
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	ck_assert_int_eq(f.riscv_float, AK_RISCV_FLOAT_SOFT);
	expect_one(&f, "linux/riscv64", "riscv-float-abi", AK_SEV_WARNING);
	ak_elf_facts_clear(&f);
	free(elf);

	s = (struct elf_spec){.cls = ELFCLASS64,
			      .data = ELFDATA2LSB,
			      .machine = EM_MIPS,
			      .type = ET_EXEC,
			      .flags = 0x80000007};
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	ck_assert_int_eq(f.mips_abi, AK_MIPS_ABI_N64);
	expect_clean(&f, "linux/mips64le");
	expect_one(&f, "linux/mips64", "wrong-endianness", AK_SEV_ERROR);
	ak_elf_facts_clear(&f);
	free(elf);

	s = (struct elf_spec){.cls = ELFCLASS32,
			      .data = ELFDATA2MSB,
			      .machine = EM_MIPS,
			      .type = ET_EXEC,
			      .flags = 0x20};
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	ck_assert_int_eq(f.mips_abi, AK_MIPS_ABI_N32);
	expect_one(&f, "linux/mips64", "wrong-class", AK_SEV_ERROR);
	ak_elf_facts_clear(&f);
	free(elf);

	s.flags = 0x1000;
	elf = elf_build(&s, &len);
	classify(elf, len, &f);
	ck_assert_int_eq(f.mips_abi, AK_MIPS_ABI_O32);
	ak_elf_facts_clear(&f);
	free(elf);
}
END_TEST

START_TEST(test_not_cpu_code_is_info)
{
	const struct {
		uint16_t machine, type;
		uint8_t osabi;
		const char *code;
		int kind;
	} cases[] = {
		{EM_X86_64, ET_REL, 0, "relocatable-object", AK_ELF_KIND_RELOCATABLE},
		{EM_AARCH64, ET_REL, 0, "relocatable-object", AK_ELF_KIND_RELOCATABLE},
		{EM_BPF, ET_REL, 0, "ebpf-code", AK_ELF_KIND_RELOCATABLE},
		{EM_CUDA, ET_EXEC, 0, "gpu-code", AK_ELF_KIND_EXECUTABLE},
		{EM_AMDGPU, ET_DYN, 0, "gpu-code", AK_ELF_KIND_SHARED},
		{EM_NONE, ET_EXEC, 0, "no-machine", AK_ELF_KIND_EXECUTABLE},
		{EM_AARCH64, ET_CORE, 0, "core-dump", AK_ELF_KIND_CORE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct elf_spec s = {.cls = ELFCLASS64,
				     .data = ELFDATA2LSB,
				     .machine = cases[i].machine,
				     .type = cases[i].type,
				     .flags = 0,
				     .osabi = cases[i].osabi};
		size_t len;
		cleanup_free unsigned char *elf = elf_build(&s, &len);
		struct ak_elf_facts f;
		classify(elf, len, &f);
		ck_assert_int_eq(f.kind, cases[i].kind);
		ck_assert_int_eq(f.osabi, cases[i].osabi);
		expect_one(&f, "linux/arm64", cases[i].code, AK_SEV_INFO);
		ak_elf_facts_clear(&f);
	}
}
END_TEST

/* Linux never reads EI_OSABI (an amd64 busybox with OSABI 9 runs): a non-Linux OSABI is a
 * note beside the machine checks, never instead of them. */
START_TEST(test_osabi_does_not_hide_machine)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_X86_64,
			     .type = ET_EXEC,
			     .osabi = ELFOSABI_FREEBSD};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert_int_eq(f.osabi, ELFOSABI_FREEBSD);
	expect_codes(&f, "linux/arm64", "wrong-machine,non-linux-abi");
	expect_finding(&f, "linux/arm64", "wrong-machine", AK_SEV_ERROR,
		       "x86-64 (linux/amd64) ELF64 LSB");
	expect_finding(&f, "linux/amd64", "non-linux-abi", AK_SEV_INFO, "OSABI 9 (FreeBSD)");
	expect_codes(&f, "linux/amd64", "non-linux-abi");
	ak_elf_facts_clear(&f);

	/* class and endianness too: x32 with OSABI 255 (standalone) in amd64 */
	s = (struct elf_spec){.cls = ELFCLASS32,
			      .data = ELFDATA2LSB,
			      .machine = EM_X86_64,
			      .type = ET_EXEC,
			      .osabi = ELFOSABI_STANDALONE};
	cleanup_free unsigned char *x32 = elf_build(&s, &len);
	classify(x32, len, &f);
	expect_codes(&f, "linux/amd64", "wrong-class,non-linux-abi");
	ak_elf_facts_clear(&f);
	s = (struct elf_spec){.cls = ELFCLASS64,
			      .data = ELFDATA2MSB,
			      .machine = EM_PPC64,
			      .type = ET_DYN,
			      .flags = 2,
			      .osabi = ELFOSABI_FREEBSD};
	cleanup_free unsigned char *be = elf_build(&s, &len);
	classify(be, len, &f);
	expect_codes(&f, "linux/ppc64le", "wrong-endianness,non-linux-abi");
	/* glibc's ld.so does read it, in the libraries it loads */
	expect_finding(&f, "linux/ppc64", "non-linux-abi", AK_SEV_INFO, "glibc's ld.so refuses");
	ak_elf_facts_clear(&f);
}
END_TEST

/* libelf must not write into the buffer it reads: the capture may be shared and fuzzers
 * pass read-only data. A big-endian file makes libelf convert headers and data. */
START_TEST(test_classify_reads_read_only_big_endian)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2MSB,
			     .machine = EM_S390,
			     .type = ET_DYN,
			     .interp = "/lib/ld64.so.1",
			     .dynamic = true,
			     .isa_needed = 0x1};
	s.property_in_section = true;
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	size_t map_len = align_up(len, 4096);
	unsigned char *ro =
		mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(ro, MAP_FAILED);
	memcpy(ro, elf, len);
	ck_assert_int_eq(mprotect(ro, map_len, PROT_READ), 0);
	struct ak_elf_facts f;
	classify(ro, len, &f);
	ck_assert_msg(!f.malformed, "%s", f.malformed_reason);
	ck_assert_int_eq(f.e_machine, EM_S390);
	ck_assert_str_eq(f.interp, "/lib/ld64.so.1");
	ck_assert_int_eq(f.x86_isa_needed, 1); /* the note is read whatever the machine */
	expect_clean(&f, "linux/s390x");
	ak_elf_facts_clear(&f);
	munmap(ro, map_len);
}
END_TEST

static bool read_whole(const char *path, char **buf, size_t *len);

/* ---- malformed files ---- */

/* Classify buf, which must be damaged in a way described by reason: in exec_refused when
 * refused (then judged exec-refused with sev), in malformed_reason otherwise (then
 * malformed-elf, a warning). Against every platform the damage is reported, with the
 * reason, and never hides the machine checks when the header was whole. */
static void expect_damage(const unsigned char *buf, size_t len, uint64_t real, bool refused,
			  enum ak_severity sev, const char *reason)
{
	struct ak_elf_facts f;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_elf_classify(buf, len, real, &f, &err), 0);
	const char *got = refused ? f.exec_refused : f.malformed_reason;
	ck_assert_msg(got && strstr(got, reason), "%s '%s', wanted '%s' (%s '%s')",
		      refused ? "exec_refused" : "malformed", got, reason,
		      refused ? "malformed" : "exec_refused",
		      refused ? f.malformed_reason : f.exec_refused);
	ck_assert(refused || f.malformed);
	const char *code = refused ? "exec-refused" : "malformed-elf";
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		expect_finding(&f, p->name, code, refused ? sev : AK_SEV_WARNING, reason);
		bool runs = f.kind == AK_ELF_KIND_EXECUTABLE || f.kind == AK_ELF_KIND_SHARED;
		if (f.header_ok && runs && f.e_machine != p->e_machine)
			expect_finding(&f, p->name, "wrong-machine", AK_SEV_ERROR, NULL);
	}
	ak_elf_facts_clear(&f);
}

static void expect_malformed(const unsigned char *buf, size_t len, uint64_t real,
			     const char *reason)
{
	expect_damage(buf, len, real, false, AK_SEV_WARNING, reason);
}

static void expect_refused(const unsigned char *buf, size_t len, uint64_t real,
			   enum ak_severity sev, const char *reason)
{
	expect_damage(buf, len, real, true, sev, reason);
}

START_TEST(test_malformed_headers)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_X86_64,
			     .type = ET_DYN,
			     .interp = "/lib64/ld-linux-x86-64.so.2",
			     .dynamic = true};
	size_t len;
	cleanup_free unsigned char *good = elf_build(&s, &len);
	cleanup_free unsigned char *bad = malloc(len);
	const enum ak_severity E = AK_SEV_ERROR;

	memcpy(bad, good, len); /* e_phoff beyond the end: the kernel's read comes up short */
	memset(bad + 32, 0, 8);
	bad[33] = 0x10;
	expect_refused(bad, len, len, E,
		       "program header table (offset 0x1000, 3 entries) beyond the end of the "
		       "file");
	expect_refused(bad, len, len, E, "execve fails with EIO");

	memcpy(bad, good, len); /* e_phnum 65535: binfmt_elf knows no extended numbering */
	bad[56] = bad[57] = 0xff;
	memset(bad + 40, 0, 8);
	memset(bad + 60, 0, 4);
	expect_refused(bad, len, len, E, "e_phnum 65535 (PN_XNUM): more than the kernel's 65536");

	/* a core dump may use PN_XNUM: section 0 holds the count, here a huge one */
	memcpy(bad, good, len);
	bad[16] = ET_CORE;
	bad[56] = bad[57] = 0xff;
	uint64_t shoff;
	memcpy(&shoff, good + 40, 8);
	bad[shoff + 44] = bad[shoff + 45] = bad[shoff + 46] = 0xff;
	expect_malformed(bad, len, len, "program header table");
	memcpy(bad, good, len);
	bad[16] = ET_CORE;
	bad[56] = bad[57] = 0xff;
	memset(bad + 40, 0, 8);
	memset(bad + 60, 0, 4);
	expect_malformed(bad, len, len, "e_phnum 65535 (PN_XNUM) but no section header 0");

	memcpy(bad, good, len); /* e_shoff huge: the kernel never reads sections */
	memset(bad + 40, 0xff, 7);
	expect_malformed(bad, len, len, "section header table");

	memcpy(bad, good, len); /* shstrndx out of range */
	bad[62] = 40;
	expect_malformed(bad, len, len, "e_shstrndx 40 out of range");

	memcpy(bad, good, len); /* wrong e_phentsize */
	bad[54] = 20;
	expect_refused(bad, len, len, E,
		       "e_phentsize 20, ELF64 needs 56: execve fails with ENOEXEC");

	memcpy(bad, good, len); /* PT_INTERP not terminated */
	size_t interp_at = 64 + 3 * 56;
	bad[interp_at + strlen(s.interp)] = 'x';
	expect_refused(bad, len, len, E, "PT_INTERP of 28 bytes is not a terminated path");

	bad[EI_CLASS] = 7;
	expect_malformed(bad, len, len, "invalid elf class 7");

	/* truncated: 4 (the magic alone), 10, 52 (too short for ELF64), 63; the kernel reads
	 * zeros past the end, so e_type or e_phentsize is 0 there: ENOEXEC. The type decides
	 * the severity: unknown below 18 bytes, a shared object above. */
	expect_refused(good, 4, 4, AK_SEV_WARNING,
		       "the file (4 bytes) ends inside the elf identification");
	expect_refused(good, 10, 10, AK_SEV_WARNING, "(10 bytes) ends inside");
	expect_refused(good, 52, 52, E, "truncated elf header (52 bytes, ELF64 needs 64)");
	expect_refused(good, 63, 63, E, "truncated elf header (63 bytes, ELF64 needs 64)");
	/* the header is whole but the tables are gone */
	expect_refused(good, 64, 64, E, "program header table");
	expect_malformed(good, len - 1, len - 1, "section header table");

	/* ELF32, truncated below its 52-byte header */
	struct elf_spec s32 = {
		.cls = ELFCLASS32, .data = ELFDATA2MSB, .machine = EM_MIPS, .type = ET_EXEC};
	size_t len32;
	cleanup_free unsigned char *m32 = elf_build(&s32, &len32);
	expect_refused(m32, 51, 51, E, "truncated elf header (51 bytes, ELF32 needs 52)");
}
END_TEST

START_TEST(test_malformed_arm_attributes)
{
	unsigned char attr[64];
	struct elf_spec s = {.cls = ELFCLASS32,
			     .data = ELFDATA2LSB,
			     .machine = EM_ARM,
			     .type = ET_EXEC,
			     .flags = 0x05000400};
	s.arm_attr = attr;
	s.arm_attr_len = arm_attributes(attr, 10, 1);
	attr[1] = 200; /* subsection longer than the section */
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	expect_malformed(elf, len, len,
			 "'.ARM.attributes' subsection length 200 exceeds the section");

	s.arm_attr_len = arm_attributes(attr, 10, 1);
	attr[12] = 100; /* Tag_File block longer than its subsection */
	cleanup_free unsigned char *e2 = elf_build(&s, &len);
	expect_malformed(e2, len, len, "attribute block length 100 exceeds its subsection");

	s.arm_attr_len = arm_attributes(attr, 10, 1);
	attr[0] = 'B';
	cleanup_free unsigned char *e3 = elf_build(&s, &len);
	expect_malformed(e3, len, len, "unknown format version");

	/* a value that runs off the end: ULEB128 continuation at the last byte */
	s.arm_attr_len = arm_attributes(attr, 10, 1);
	attr[s.arm_attr_len - 1] = 0x80;
	cleanup_free unsigned char *e4 = elf_build(&s, &len);
	expect_malformed(e4, len, len, "'.ARM.attributes' truncated value");
}
END_TEST

/* Damage the kernel never reads (section headers, .ARM.attributes) is reported as such,
 * beside everything e_machine, e_flags and the program headers still show. */
START_TEST(test_damage_outside_the_loader_hides_nothing)
{
	unsigned char attr[64];
	struct elf_spec s = {.cls = ELFCLASS32,
			     .data = ELFDATA2LSB,
			     .machine = EM_ARM,
			     .type = ET_DYN,
			     .flags = 0x05000200, /* armel */
			     .interp = "/lib/ld-linux.so.3",
			     .dynamic = true};
	s.arm_attr = attr;
	s.arm_attr_len = arm_attributes(attr, 4, -1);
	attr[1] = 200; /* subsection longer than the section */
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;
	classify(elf, len, &f);
	ck_assert(f.malformed && !f.exec_refused);
	ck_assert_str_eq(f.interp, "/lib/ld-linux.so.3");
	ck_assert_int_eq(f.kind, AK_ELF_KIND_EXECUTABLE);
	expect_codes(&f, "linux/arm/v7", "arm-soft-float,malformed-elf");
	expect_finding(&f, "linux/arm/v7", "arm-soft-float", AK_SEV_ERROR, "EABI5 soft-float");
	expect_finding(&f, "linux/arm/v7", "malformed-elf", AK_SEV_WARNING,
		       "'.ARM.attributes' subsection length 200");
	expect_codes(&f, "linux/arm64", "wrong-machine,malformed-elf");
	expect_codes(&f, "linux/arm/v5", "malformed-elf");
	ak_elf_facts_clear(&f);

	/* section headers past the end of an aarch64 executable */
	struct elf_spec a64 = {.cls = ELFCLASS64,
			       .data = ELFDATA2LSB,
			       .machine = EM_AARCH64,
			       .type = ET_DYN,
			       .interp = "/lib/ld-linux-aarch64.so.1",
			       .dynamic = true};
	cleanup_free unsigned char *e2 = elf_build(&a64, &len);
	memset(e2 + 40, 0xff, 7); /* e_shoff */
	classify(e2, len, &f);
	ck_assert(f.malformed);
	ck_assert_str_eq(f.interp, "/lib/ld-linux-aarch64.so.1");
	expect_codes(&f, "linux/amd64", "wrong-machine,malformed-elf");
	expect_finding(&f, "linux/amd64", "wrong-machine", AK_SEV_ERROR,
		       "aarch64 (linux/arm64) ELF64 LSB");
	expect_codes(&f, "linux/arm64", "malformed-elf");
	ak_elf_facts_clear(&f);
}
END_TEST

/* What binfmt_elf / execve refuse is an error in an executable or shared object, with the
 * reason; a relocatable object without program headers is what compilers write. */
START_TEST(test_exec_refused)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_X86_64,
			     .type = ET_DYN,
			     .interp = "/lib64/ld-linux-x86-64.so.2",
			     .dynamic = true};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	struct ak_elf_facts f;

	/* e_phentsize 0 with three program headers */
	elf[54] = elf[55] = 0;
	classify(elf, len, &f);
	ck_assert_str_eq(f.exec_refused,
			 "e_phentsize 0, ELF64 needs 56: execve fails with ENOEXEC");
	ck_assert(!f.malformed);
	expect_codes(&f, "linux/amd64", "exec-refused");
	expect_finding(&f, "linux/amd64", "exec-refused", AK_SEV_ERROR,
		       "x86-64 (linux/amd64) ELF64 LSB shared object: e_phentsize 0");
	expect_codes(&f, "linux/arm64", "wrong-machine,exec-refused");
	ak_elf_facts_clear(&f);

	/* the magic alone */
	classify((const unsigned char *)ELFMAG, SELFMAG, &f);
	ck_assert(!f.header_ok);
	expect_codes(&f, "linux/amd64", "exec-refused");
	expect_finding(&f, "linux/arm64", "exec-refused", AK_SEV_WARNING,
		       "ELF file: the file (4 bytes) ends inside the elf identification (16 "
		       "bytes): execve fails with ENOEXEC");
	ak_elf_facts_clear(&f);

	/* PT_INTERP with a trailing slash: open_exec() fails with ENOTDIR */
	s.interp = "/lib64/ld-linux-x86-64.so.2/";
	cleanup_free unsigned char *slash = elf_build(&s, &len);
	classify(slash, len, &f);
	ck_assert_str_eq(f.interp, "/lib64/ld-linux-x86-64.so.2/");
	ck_assert_int_eq(f.kind, AK_ELF_KIND_EXECUTABLE);
	expect_codes(&f, "linux/amd64", "exec-refused");
	expect_finding(&f, "linux/amd64", "exec-refused", AK_SEV_ERROR,
		       "PT_INTERP '/lib64/ld-linux-x86-64.so.2/' ends in '/': execve fails with "
		       "ENOTDIR");
	ak_elf_facts_clear(&f);

	/* a PT_LOAD whose file part is larger than its memory: EINVAL */
	struct elf_spec st = {
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_X86_64, .type = ET_EXEC};
	cleanup_free unsigned char *load = elf_build(&st, &len);
	memset(load + 64 + 40, 0, 8); /* the only program header's p_memsz */
	classify(load, len, &f);
	expect_codes(&f, "linux/amd64", "exec-refused");
	expect_finding(&f, "linux/amd64", "exec-refused", AK_SEV_ERROR, "PT_LOAD 0 has p_filesz");
	ak_elf_facts_clear(&f);

	/* gcc's .o: no program headers, e_phentsize 0 */
	struct elf_spec rel = {
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_X86_64, .type = ET_REL};
	cleanup_free unsigned char *obj = elf_build(&rel, &len);
	obj[54] = obj[55] = 0;
	classify(obj, len, &f);
	ck_assert(!f.exec_refused && !f.malformed);
	expect_codes(&f, "linux/amd64", "relocatable-object");
	ak_elf_facts_clear(&f);
}
END_TEST

/* Every Tag_CPU_arch value against arm/v5, v6 and v7: what passes, what is an error, what
 * is a warning, and the value as written in the message. */
START_TEST(test_arm_cpu_arch_table)
{
	/* major version per tag (ARM IHI 0045, binutils elf/arm.h), 0 = no such arch */
	static const int version[] = {
		4, 4, 4, 5, 5, 5, 6, 6, 6, 6, /* pre-v4 .. v6K (9) */
		7, 6, 6, 7, 8, 8, 8, 8,	      /* v7, v6-M, v6S-M, v7E-M, v8-A, v8-R, v8-M */
		0, 0, 0, 8, 9,		      /* 18-20 reserved, v8.1-M.main, v9-A */
	};
	const int tags[] = {0,	1,  2,	3,  4,	5,  6,	7,  8,	9,  10, 11,  12,  13,
			    14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 63, 127, 200, 1000};
	unsigned char attr[64];
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		int tag = tags[t];
		int ver = tag < (int)(sizeof(version) / sizeof(version[0])) ? version[tag] : 0;
		struct elf_spec s = {.cls = ELFCLASS32,
				     .data = ELFDATA2LSB,
				     .machine = EM_ARM,
				     .type = ET_EXEC,
				     .flags = 0x05000000}; /* EABI5, no float ABI evidence */
		s.arm_attr = attr;
		s.arm_attr_len = arm_attributes(attr, tag, -1);
		size_t len;
		cleanup_free unsigned char *elf = elf_build(&s, &len);
		struct ak_elf_facts f;
		classify(elf, len, &f);
		ck_assert_msg(!f.malformed, "tag %d: %s", tag, f.malformed_reason);
		ck_assert_int_eq(f.arm_cpu_arch, tag);
		char evidence[64];
		snprintf(evidence, sizeof(evidence), "(Tag_CPU_arch %d)", tag);
		for (int v = 5; v <= 7; v++) {
			char platform[32], want[96];
			snprintf(platform, sizeof(platform), "linux/arm/v%d", v);
			if (ver == 0) {
				expect_codes(&f, platform, "arm-cpu-too-new");
				expect_finding(&f, platform, "arm-cpu-too-new", AK_SEV_WARNING,
					       evidence);
			} else if (ver > v) {
				snprintf(want, sizeof(want), "ARMv%d code %s", ver, evidence);
				expect_codes(&f, platform, "arm-cpu-too-new");
				expect_finding(&f, platform, "arm-cpu-too-new",
					       v == 7 && ver == 8 ? AK_SEV_WARNING : AK_SEV_ERROR,
					       want);
			} else {
				expect_clean(&f, platform);
			}
		}
		ak_elf_facts_clear(&f);
	}
}
END_TEST

/* README.md documents every code the judge can emit, with each severity it can have. */
START_TEST(test_codes_documented_in_readme)
{
	const char *top = getenv("AK_TOP") ? getenv("AK_TOP") : ".";
	char path[4096];
	snprintf(path, sizeof(path), "%s/README.md", top);
	cleanup_free char *readme = NULL;
	size_t len;
	ck_assert_msg(read_whole(path, &readme, &len), "cannot read %s (set AK_TOP)", path);
	const char *table = strstr(readme, "### Findings");
	ck_assert_msg(table, "README.md has no '### Findings' section");
	for (size_t c = 0; c < AK_ELF_CODE_COUNT; c++) {
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "`%s`", ak_elf_codes[c].code);
		/* the table row naming the code: from its line start to its line end */
		const char *at = table;
		const char *row = NULL;
		while ((at = strstr(at, quoted))) {
			const char *start = at;
			while (start > readme && start[-1] != '\n')
				start--;
			if (*start == '|') {
				row = start;
				break;
			}
			at++;
		}
		ck_assert_msg(row, "README.md's findings table lacks %s", quoted);
		size_t row_len = strcspn(row, "\n");
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)row_len, row);
		/* the severity column: the cell after the codes */
		const char *cell = strstr(line + 1, "|");
		ck_assert_ptr_nonnull(cell);
		const char *cell_end = strstr(cell + 1, "|");
		ck_assert_ptr_nonnull(cell_end);
		for (int sev = AK_SEV_INFO; sev <= AK_SEV_ERROR; sev++) {
			if (!(ak_elf_codes[c].severities & AK_SEV_BIT(sev)))
				continue;
			const char *name = ak_severity_name((enum ak_severity)sev);
			const char *hit = strstr(cell, name);
			ck_assert_msg(hit && hit < cell_end,
				      "README.md: %s is documented without severity '%s': %s",
				      quoted, name, line);
		}
	}
}
END_TEST

/* ---- the loader of another architecture ---- */

START_TEST(test_judge_loader)
{
	struct ak_elf_facts loader;
	struct ak_finding out;
	struct elf_spec s = {
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_AARCH64, .type = ET_DYN};
	size_t len;
	cleanup_free unsigned char *a64 = elf_build(&s, &len);
	classify(a64, len, &loader);
	ck_assert_int_eq(ak_elf_judge_loader(&loader, plat("linux/amd64"), &out), 1);
	ck_assert_str_eq(out.code, "loader-wrong-machine");
	ck_assert_int_eq(out.sev, AK_SEV_ERROR);
	ck_assert_str_eq(out.found, "loader aarch64 (linux/arm64) ELF64 LSB");
	ck_assert_str_eq(out.expected, "x86-64 (linux/amd64) loader");
	ak_finding_clear(&out);
	ck_assert_int_eq(ak_elf_judge_loader(&loader, plat("linux/arm64"), &out), 0);
	ak_elf_facts_clear(&loader);

	s = (struct elf_spec){.cls = ELFCLASS32,
			      .data = ELFDATA2LSB,
			      .machine = EM_ARM,
			      .type = ET_DYN,
			      .flags = 0x05000200};
	cleanup_free unsigned char *armel = elf_build(&s, &len);
	classify(armel, len, &loader);
	ck_assert_int_eq(ak_elf_judge_loader(&loader, plat("linux/arm/v7"), &out), 1);
	ck_assert_str_eq(out.found, "loader arm (linux/arm) ELF32 LSB soft-float");
	ck_assert_str_eq(out.expected, "arm (linux/arm/v7) hard-float loader");
	ak_finding_clear(&out);
	ck_assert_int_eq(ak_elf_judge_loader(&loader, plat("linux/arm/v5"), &out), 0);
	ak_elf_facts_clear(&loader);

	/* same e_machine, other endianness or class: a big-endian loader for mips64le, an
	 * x32 (ELF32) loader for amd64, a ppc64 one for ppc64le */
	const struct {
		int cls, data;
		uint16_t machine;
		const char *platform, *found, *expected;
	} same_machine[] = {
		{ELFCLASS64, ELFDATA2MSB, EM_MIPS, "linux/mips64le",
		 "loader mips (linux/mips64) ELF64 MSB", "mips (linux/mips64le) loader"},
		{ELFCLASS32, ELFDATA2LSB, EM_X86_64, "linux/amd64",
		 "loader x86-64 (no linux platform) ELF32 LSB", "x86-64 (linux/amd64) loader"},
		{ELFCLASS64, ELFDATA2MSB, EM_PPC64, "linux/ppc64le",
		 "loader ppc64 (linux/ppc64) ELF64 MSB", "ppc64 (linux/ppc64le) loader"},
	};
	for (size_t i = 0; i < sizeof(same_machine) / sizeof(same_machine[0]); i++) {
		s = (struct elf_spec){.cls = same_machine[i].cls,
				      .data = same_machine[i].data,
				      .machine = same_machine[i].machine,
				      .type = ET_DYN};
		cleanup_free unsigned char *l = elf_build(&s, &len);
		classify(l, len, &loader);
		ck_assert_int_eq(ak_elf_judge_loader(&loader, plat(same_machine[i].platform), &out),
				 1);
		ck_assert_str_eq(out.code, "loader-wrong-machine");
		ck_assert_str_eq(out.found, same_machine[i].found);
		ck_assert_str_eq(out.expected, same_machine[i].expected);
		ak_finding_clear(&out);
		ak_elf_facts_clear(&loader);
	}

	/* a loader with broken section headers is still judged by its header */
	s = (struct elf_spec){
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_AARCH64, .type = ET_DYN};
	cleanup_free unsigned char *damaged = elf_build(&s, &len);
	memset(damaged + 40, 0xff, 7);
	classify(damaged, len, &loader);
	ck_assert(loader.malformed);
	ck_assert_int_eq(ak_elf_judge_loader(&loader, plat("linux/amd64"), &out), 1);
	ak_finding_clear(&out);
	ak_elf_facts_clear(&loader);
}
END_TEST

/* ---- real binaries on this machine ---- */

static bool read_whole(const char *path, char **buf, size_t *len)
{
	cleanup_error struct ak_error *err = NULL;
	return access(path, R_OK) == 0 && ak_read_file(path, 256u << 20, buf, len, &err) == 0;
}

START_TEST(test_host_binaries)
{
	const char *paths[] = {"/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-arm-static",
			       "/bin/ls", "/lib/x86_64-linux-gnu/libc.so.6"};
	int seen = 0;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cleanup_free char *buf = NULL;
		size_t len;
		if (!read_whole(paths[i], &buf, &len))
			continue;
		seen++;
		struct ak_elf_facts f;
		classify((unsigned char *)buf, len, &f);
		ck_assert_msg(!f.malformed, "%s: %s", paths[i], f.malformed_reason);
		ck_assert_int_eq(f.e_machine, EM_X86_64);
		ck_assert_int_eq(f.elf_class, ELFCLASS64);
		bool is_static = strstr(paths[i], "-static") != NULL;
		if (is_static)
			ck_assert_msg(f.is_static && !f.has_interp, "%s: not static", paths[i]);
		if (strcmp(paths[i], "/bin/ls") == 0) {
			ck_assert_int_eq(f.kind, AK_ELF_KIND_EXECUTABLE);
			ck_assert_str_eq(f.interp, "/lib64/ld-linux-x86-64.so.2");
		}
		struct verdict v = judge(&f, "linux/amd64");
		for (int k = 0; k < v.n; k++)
			ck_assert_msg(v.f[k].sev < AK_SEV_ERROR, "%s: %s", paths[i], v.f[k].code);
		verdict_clear(&v);
		expect_one(&f, "linux/arm64", "wrong-machine", AK_SEV_ERROR);
		ak_elf_facts_clear(&f);
	}
	ck_assert_msg(seen > 0, "no host binary was readable");
}
END_TEST

/* archkit's own smoke binaries (verify/smoke): real toolchain output per platform. */
START_TEST(test_smoke_binaries)
{
	int seen = 0;
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		size_t len;
		const unsigned char *bin = ak_smoke_binary(p, &len);
		if (!bin)
			continue;
		seen++;
		struct ak_elf_facts f;
		classify(bin, len, &f);
		ck_assert_msg(!f.malformed, "%s: %s", p->name, f.malformed_reason);
		ck_assert_int_eq(f.e_machine, p->e_machine);
		struct verdict v = judge(&f, p->name);
		for (int k = 0; k < v.n; k++)
			ck_assert_msg(v.f[k].sev < AK_SEV_ERROR, "%s smoke: %s: %s", p->name,
				      v.f[k].code, v.f[k].found);
		verdict_clear(&v);
		if (strcmp(p->name, "linux/arm/v7") == 0) {
			ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_HARD);
			ck_assert_int_eq(f.arm_cpu_arch, 10);
			expect_one(&f, "linux/arm/v6", "arm-cpu-too-new", AK_SEV_ERROR);
		}
		if (strcmp(p->name, "linux/arm/v6") == 0) {
			ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_HARD);
			ck_assert_int_eq(f.arm_cpu_arch, 6);
			struct verdict v5 = judge(&f, "linux/arm/v5");
			ck_assert_int_eq(v5.n, 2);
			ck_assert_str_eq(v5.f[0].code, "arm-hard-float");
			ck_assert_str_eq(v5.f[1].code, "arm-cpu-too-new");
			verdict_clear(&v5);
		}
		if (strcmp(p->name, "linux/arm/v5") == 0) {
			ck_assert_int_eq(f.arm_float, AK_ARM_FLOAT_SOFT);
			/* v5TE is 4, as ARM IHI 0045 and readelf have it (the reference's
			 * table says 4 = v5T, 5 = v5TE) */
			ck_assert_int_eq(f.arm_cpu_arch, 4);
			/* armel code in arm/v7 is an error even when static (it runs, but it
			 * shows the build used the wrong toolchain or package architecture) */
			expect_one(&f, "linux/arm/v7", "arm-soft-float", AK_SEV_ERROR);
		}
		ak_elf_facts_clear(&f);
	}
	ck_assert_msg(seen >= 8, "only %d smoke binaries", seen);
}
END_TEST

/* ---- capture ---- */

static void feed_in_chunks(struct ak_elf_capture *c, const unsigned char *buf, size_t len,
			   size_t chunk)
{
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		ck_assert_int_eq(ak_elf_capture_feed(c, buf + off, n), 0);
	}
}

START_TEST(test_capture_small_whole)
{
	struct elf_spec s = {
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_AARCH64, .type = ET_EXEC};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	const size_t chunks[] = {1, 3, 7, 4096};
	for (size_t i = 0; i < 4; i++) {
		cleanup_elf_capture struct ak_elf_capture *c = ak_elf_capture_begin(len, NULL);
		ck_assert_ptr_nonnull(c);
		ck_assert(!ak_elf_capture_is_elf(c));
		feed_in_chunks(c, elf, len, chunks[i]);
		ck_assert(ak_elf_capture_is_elf(c));
		size_t got;
		const unsigned char *d = ak_elf_capture_data(c, &got);
		ck_assert_uint_eq(got, len);
		ck_assert_int_eq(memcmp(d, elf, len), 0);
		ck_assert_int_eq(ak_elf_capture_feed(c, "x", 1), -EFBIG);
	}
}
END_TEST

START_TEST(test_capture_skips_non_elf)
{
	cleanup_elf_capture struct ak_elf_capture *c = ak_elf_capture_begin(1u << 30, NULL);
	ck_assert_int_eq(ak_elf_capture_feed(c, "#!/b", 4), 0);
	ck_assert(!ak_elf_capture_is_elf(c));
	ck_assert_int_eq(ak_elf_capture_feed(c, "in/sh\n", 6), 0);
	size_t len;
	ck_assert_ptr_null(ak_elf_capture_data(c, &len));
	ck_assert_uint_eq(ak_elf_capture_resident(c), 0);

	cleanup_elf_capture struct ak_elf_capture *tiny = ak_elf_capture_begin(3, NULL);
	ck_assert_int_eq(ak_elf_capture_feed(tiny,
					     "\x7f"
					     "EL",
					     3),
			 0);
	ck_assert(!ak_elf_capture_is_elf(tiny));
}
END_TEST

/* Pages of the mapping the kernel holds in memory. */
static size_t resident_bytes(const unsigned char *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = (len + page - 1) / page, n = 0;
	cleanup_free unsigned char *vec = malloc(pages);
	ck_assert_int_eq(mincore((void *)p, len, vec), 0);
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n * page;
}

/* A 40 MiB ELF: header at the start, Go buildinfo in the middle, section headers at the
 * end; everything else 0xaa filler that the capture must not keep. */
START_TEST(test_capture_large_sparse)
{
	const size_t size = 40u << 20, go_at = 20u << 20;
	unsigned char go[256];
	size_t go_len = go_buildinfo(go, "go1.22.1", "build\tGOARCH=arm64\n", true);
	struct elf_spec s = {
		.cls = ELFCLASS64, .data = ELFDATA2LSB, .machine = EM_AARCH64, .type = ET_EXEC};
	size_t small_len;
	cleanup_free unsigned char *small = elf_build(&s, &small_len);

	/* move small's section headers (and .shstrtab) to the end and add .go.buildinfo */
	unsigned char *big = malloc(size);
	ck_assert_ptr_nonnull(big);
	memset(big, 0xaa, size);
	uint64_t shoff;
	memcpy(&shoff, small + 40, 8);
	size_t shdrs = small_len - shoff, new_shoff = size - shdrs - 64;
	memcpy(big, small, 64);
	memcpy(big + new_shoff, small + shoff, shdrs);
	memcpy(big + 40, &new_shoff, 8);
	/* .shstrtab follows the header in small: copy it too (section 1 points at it) */
	memcpy(big + 64, small + 64, shoff - 64);
	/* a third section header: .go.buildinfo */
	unsigned char *sh = big + new_shoff + shdrs;
	memset(sh, 0, 64);
	uint32_t name = 54, type = SHT_PROGBITS;
	uint64_t off = go_at, glen = go_len;
	memcpy(sh, &name, 4);
	memcpy(sh + 4, &type, 4);
	memcpy(sh + 24, &off, 8);
	memcpy(sh + 32, &glen, 8);
	big[60] = 3; /* e_shnum */
	memcpy(big + go_at, go, go_len);

	cleanup_elf_capture struct ak_elf_capture *c = ak_elf_capture_begin(size, NULL);
	feed_in_chunks(c, big, size, 10007); /* odd chunks split the magic's block */
	size_t got;
	const unsigned char *d = ak_elf_capture_data(c, &got);
	ck_assert_uint_eq(got, size);
	ck_assert_int_eq(memcmp(d, big, AK_ELF_CAPTURE_HEAD), 0);
	ck_assert_int_eq(memcmp(d + size - AK_ELF_CAPTURE_TAIL, big + size - AK_ELF_CAPTURE_TAIL,
				AK_ELF_CAPTURE_TAIL),
			 0);
	ck_assert_int_eq(memcmp(d + go_at, big + go_at, AK_ELF_CAPTURE_GO_WINDOW), 0);
	ck_assert_int_eq(d[10u << 20], 0); /* a hole */
	size_t bound = AK_ELF_CAPTURE_HEAD + AK_ELF_CAPTURE_TAIL + AK_ELF_CAPTURE_GO_WINDOW;
	ck_assert_uint_eq(ak_elf_capture_resident(c), bound);
	size_t rss = resident_bytes(d, got);
	ck_assert_msg(rss <= bound + 2 * 4096, "%zu bytes resident of %zu", rss, size);
	free(big);

	struct ak_elf_facts f;
	classify(d, got, &f);
	ck_assert_msg(!f.malformed, "%s", f.malformed_reason);
	ck_assert(!f.partial);
	ck_assert(f.is_go);
	ck_assert_str_eq(f.goarch, "arm64");
	expect_clean(&f, "linux/arm64");
	ak_elf_facts_clear(&f);
	/* reading the holes did not make them resident */
	ck_assert_uint_le(resident_bytes(d, got), bound + 2 * 4096);
}
END_TEST

/* Above the ceiling only the head is kept; classify says partial, not malformed. */
START_TEST(test_capture_above_ceiling)
{
	struct elf_spec s = {.cls = ELFCLASS64,
			     .data = ELFDATA2LSB,
			     .machine = EM_X86_64,
			     .type = ET_DYN,
			     .interp = "/lib64/ld-linux-x86-64.so.2",
			     .dynamic = true,
			     .isa_needed = 0x3};
	size_t len;
	cleanup_free unsigned char *elf = elf_build(&s, &len);
	const uint64_t size = AK_ELF_CAPTURE_CEILING + 1;
	/* section headers far beyond the head */
	uint64_t shoff = size - 4096;
	memcpy(elf + 40, &shoff, 8);
	cleanup_elf_capture struct ak_elf_capture *c = ak_elf_capture_begin(size, NULL);
	feed_in_chunks(c, elf, len, 512);
	cleanup_free unsigned char *zeros = calloc(1, 1u << 20);
	feed_in_chunks(c, zeros, 1u << 20, 1u << 20);
	size_t got;
	const unsigned char *d = ak_elf_capture_data(c, &got);
	ck_assert_uint_eq(got, AK_ELF_CAPTURE_HEAD);
	ck_assert_uint_eq(ak_elf_capture_resident(c), AK_ELF_CAPTURE_HEAD);
	struct ak_elf_facts f;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_elf_classify(d, got, size, &f, &err), 0);
	ck_assert_msg(!f.malformed, "%s", f.malformed_reason);
	ck_assert(f.partial);
	ck_assert_str_eq(f.interp, "/lib64/ld-linux-x86-64.so.2");
	ck_assert_int_eq(f.x86_isa_level, 2);
	ak_elf_facts_clear(&f);
}
END_TEST

Suite *elf_suite(void)
{
	Suite *s = suite_create("elf");
	TCase *tc = tcase_create("classify");
	tcase_add_test(tc, test_x86_64_pie_with_isa_note);
	tcase_add_test(tc, test_isa_note_as_section_only);
	tcase_add_test(tc, test_wrong_machine_named_in_platform_terms);
	tcase_add_test(tc, test_class_and_endianness);
	tcase_add_test(tc, test_ppc64le_elfv1);
	tcase_add_test(tc, test_arm_hard_float_v7);
	tcase_add_test(tc, test_arm_soft_float_armel);
	tcase_add_test(tc, test_go_arm_binary_is_not_soft_float);
	tcase_add_test(tc, test_go_buildinfo_variants);
	tcase_add_test(tc, test_riscv_mips_abis);
	tcase_add_test(tc, test_not_cpu_code_is_info);
	tcase_add_test(tc, test_osabi_does_not_hide_machine);
	tcase_add_test(tc, test_classify_reads_read_only_big_endian);
	tcase_add_test(tc, test_malformed_headers);
	tcase_add_test(tc, test_malformed_arm_attributes);
	tcase_add_test(tc, test_damage_outside_the_loader_hides_nothing);
	tcase_add_test(tc, test_exec_refused);
	tcase_add_test(tc, test_arm_cpu_arch_table);
	tcase_add_test(tc, test_codes_documented_in_readme);
	tcase_add_test(tc, test_judge_loader);
	tcase_add_test(tc, test_host_binaries);
	tcase_add_test(tc, test_smoke_binaries);
	suite_add_tcase(s, tc);
	TCase *cap = tcase_create("capture");
	tcase_set_timeout(cap, 60);
	tcase_add_test(cap, test_capture_small_whole);
	tcase_add_test(cap, test_capture_skips_non_elf);
	tcase_add_test(cap, test_capture_large_sparse);
	tcase_add_test(cap, test_capture_above_ceiling);
	suite_add_tcase(s, cap);
	return s;
}
