#include <check.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/cleanup.h"
#include "common/platform.h"

START_TEST(test_parse_aliases)
{
	struct ak_error *err = NULL;
	const struct {
		const char *in, *want;
	} cases[] = {
		{"linux/amd64", "linux/amd64"}, {"x86_64", "linux/amd64"},
		{"amd64/v1", "linux/amd64"},	{"linux/amd64/v3", "linux/amd64/v3"},
		{"aarch64", "linux/arm64"},	{"linux/arm64/v8", "linux/arm64"},
		{"arm", "linux/arm/v7"},	{"armhf", "linux/arm/v7"},
		{"armel", "linux/arm/v5"},	{"arm/v6", "linux/arm/v6"},
		{"i386", "linux/386"},		{"ppc64el", "linux/ppc64le"},
		{"mips64el", "linux/mips64le"}, {"loongarch64", "linux/loong64"},
		{"AArch64", "linux/arm64"},	{"s390x", "linux/s390x"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ak_platform *p = ak_platform_parse(cases[i].in, &err);
		ck_assert_msg(p != NULL, "'%s' did not parse: %s", cases[i].in,
			      err ? err->msg : "?");
		ck_assert_str_eq(p->name, cases[i].want);
	}
}
END_TEST

START_TEST(test_parse_unknown_names_known)
{
	cleanup_error struct ak_error *err = NULL;
	ck_assert_ptr_null(ak_platform_parse("linux/vax", &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->status, AK_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err->msg, "unknown platform 'linux/vax'"));
	ck_assert_ptr_nonnull(strstr(err->msg, "linux/riscv64"));
}
END_TEST

START_TEST(test_from_oci)
{
	ck_assert_str_eq(ak_platform_from_oci("linux", "arm", "v7")->name, "linux/arm/v7");
	ck_assert_str_eq(ak_platform_from_oci("linux", "arm", NULL)->name, "linux/arm/v7");
	ck_assert_str_eq(ak_platform_from_oci("linux", "arm64", "v8")->name, "linux/arm64");
	ck_assert_ptr_null(ak_platform_from_oci("windows", "amd64", NULL));
	ck_assert_ptr_null(ak_platform_from_oci("linux", "vax", NULL));
}
END_TEST

/* Every row's magic must match the ELF header its own machine/class/endianness gives,
 * and the mask must be as long as the magic: this caught the reference's microblaze row. */
START_TEST(test_every_target_matches_its_own_header)
{
	for (size_t i = 0; i < ak_qemu_target_count; i++) {
		const struct ak_qemu_target *t = &ak_qemu_targets[i];
		unsigned char magic[AK_MAGIC_MAX], mask[AK_MAGIC_MAX];
		size_t n = ak_qemu_target_magic(t, magic, mask);
		ck_assert_msg(n >= 20, "%s: magic and mask differ in length or are malformed",
			      t->name);
		unsigned char hdr[64];
		ak_qemu_target_sample_header(t, hdr);
		bool le = t->elf_data == 1;
		ck_assert_msg(ak_qemu_target_matches(t, hdr, sizeof(hdr)),
			      "%s: magic does not match its own ELF header", t->name);
		hdr[16] = le ? 3 : 0; /* ET_DYN matches too (mask 0xfe) */
		hdr[17] = le ? 0 : 3;
		ck_assert_msg(ak_qemu_target_matches(t, hdr, sizeof(hdr)), "%s: ET_DYN", t->name);
	}
}
END_TEST

/* The reference headers are what "real binaries of the target" means to the registrar:
 * every row accepts all of its own, and none of another target's. */
START_TEST(test_reference_headers_are_the_rows_own)
{
	unsigned char hdrs[AK_REFERENCE_HEADERS_MAX][64];
	for (size_t i = 0; i < ak_qemu_target_count; i++) {
		const struct ak_qemu_target *t = &ak_qemu_targets[i];
		size_t n = ak_qemu_target_reference_headers(t, hdrs, AK_REFERENCE_HEADERS_MAX);
		ck_assert_msg(n >= 4, "%s: %zu reference headers", t->name, n);
		for (size_t k = 0; k < n; k++) {
			ck_assert_msg(hdrs[k][EI_OSABI] == ELFOSABI_SYSV ||
					      hdrs[k][EI_OSABI] == ELFOSABI_GNU,
				      "%s: OSABI", t->name);
			for (size_t j = 0; j < ak_qemu_target_count; j++)
				ck_assert_msg(ak_qemu_target_matches(&ak_qemu_targets[j], hdrs[k],
								     64) == (i == j),
					      "%s's header %zu %s %s", t->name, k,
					      i == j ? "missed by" : "caught by",
					      ak_qemu_targets[j].name);
		}
	}
	/* static-pie and the GNU OSABI are among them */
	const struct ak_qemu_target *a64 = ak_qemu_target_find("aarch64");
	size_t n = ak_qemu_target_reference_headers(a64, hdrs, AK_REFERENCE_HEADERS_MAX);
	bool dyn = false, gnu = false;
	for (size_t k = 0; k < n; k++) {
		dyn |= hdrs[k][16] == ET_DYN;
		gnu |= hdrs[k][EI_OSABI] == ELFOSABI_GNU;
	}
	ck_assert(dyn && gnu);
}
END_TEST

START_TEST(test_every_platform_has_a_target)
{
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		const struct ak_qemu_target *t = ak_platform_qemu(p);
		ck_assert_msg(t != NULL, "%s: no qemu target", p->name);
		ck_assert_int_eq(t->e_machine, p->e_machine);
		ck_assert_int_eq(t->elf_class, p->elf_class);
		ck_assert_int_eq(t->elf_data, p->elf_data);
	}
}
END_TEST

/* The real thing: Debian's busybox-static of each architecture (fetched at test time by
 * tests/fixtures/fetch-debs, cached) must be caught by exactly its own target's magic. */
START_TEST(test_magic_matches_real_busybox)
{
	static const struct {
		const char *deb_arch, *target;
	} cases[] = {
		{"amd64", "x86_64"}, {"arm64", "aarch64"},     {"armhf", "arm"},
		{"armel", "arm"},    {"i386", "i386"},	       {"ppc64el", "ppc64le"},
		{"s390x", "s390x"},  {"mips64el", "mips64el"},
	};
	const char *top = getenv("AK_TOP") ? getenv("AK_TOP") : ".";
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "'%s/tests/fixtures/fetch-debs'", top);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " busybox-static:%s",
			      cases[i].deb_arch);
	snprintf(cmd + n, sizeof(cmd) - (size_t)n, " 2>/dev/null");
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	char roots[8][1024];
	size_t nroots = 0;
	while (nroots < 8 && fgets(roots[nroots], sizeof(roots[0]), p)) {
		roots[nroots][strcspn(roots[nroots], "\n")] = '\0';
		nroots++;
	}
	int status = pclose(p);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "skip: busybox-static debs cannot be fetched here (offline, or "
				"not root with nothing cached)\n");
		return;
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fetch-debs failed");
	ck_assert_uint_eq(nroots, 8);
	for (size_t i = 0; i < nroots; i++) {
		char path[1100];
		snprintf(path, sizeof(path), "%s/bin/busybox", roots[i]);
		FILE *f = fopen(path, "rb");
		ck_assert_msg(f != NULL, "cannot open %s", path);
		unsigned char hdr[128] = {0};
		size_t got = fread(hdr, 1, sizeof(hdr), f);
		fclose(f);
		ck_assert_uint_ge(got, 64);
		const struct ak_qemu_target *own = ak_qemu_target_find(cases[i].target);
		ck_assert_msg(ak_qemu_target_matches(own, hdr, got), "%s busybox not caught by %s",
			      cases[i].deb_arch, own->name);
		for (size_t t = 0; t < ak_qemu_target_count; t++)
			ck_assert_msg(
				&ak_qemu_targets[t] == own ||
					!ak_qemu_target_matches(&ak_qemu_targets[t], hdr, got),
				"%s busybox also caught by %s", cases[i].deb_arch,
				ak_qemu_targets[t].name);
	}
}
END_TEST

Suite *platform_suite(void)
{
	Suite *s = suite_create("platform");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, test_parse_aliases);
	tcase_add_test(tc, test_parse_unknown_names_known);
	tcase_add_test(tc, test_from_oci);
	tcase_add_test(tc, test_every_target_matches_its_own_header);
	tcase_add_test(tc, test_reference_headers_are_the_rows_own);
	tcase_add_test(tc, test_every_platform_has_a_target);
	suite_add_tcase(s, tc);
	/* fetching the debs the first time takes a while */
	TCase *real = tcase_create("real-binaries");
	tcase_set_timeout(real, 600);
	tcase_add_test(real, test_magic_matches_real_busybox);
	suite_add_tcase(s, real);
	return s;
}
