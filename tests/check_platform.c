#include <check.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/platform.h"

START_TEST(test_parse_aliases)
{
	struct ak_error *err = NULL;
	const struct {
		const char *in, *want;
	} cases[] = {
		{"linux/amd64", "linux/amd64"},   {"x86_64", "linux/amd64"},
		{"amd64/v1", "linux/amd64"},      {"linux/amd64/v3", "linux/amd64/v3"},
		{"aarch64", "linux/arm64"},       {"linux/arm64/v8", "linux/arm64"},
		{"arm", "linux/arm/v7"},          {"armhf", "linux/arm/v7"},
		{"armel", "linux/arm/v5"},        {"arm/v6", "linux/arm/v6"},
		{"i386", "linux/386"},            {"ppc64el", "linux/ppc64le"},
		{"mips64el", "linux/mips64le"},   {"loongarch64", "linux/loong64"},
		{"AArch64", "linux/arm64"},       {"s390x", "linux/s390x"},
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

Suite *platform_suite(void)
{
	Suite *s = suite_create("platform");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, test_parse_aliases);
	tcase_add_test(tc, test_parse_unknown_names_known);
	tcase_add_test(tc, test_from_oci);
	tcase_add_test(tc, test_every_target_matches_its_own_header);
	tcase_add_test(tc, test_every_platform_has_a_target);
	suite_add_tcase(s, tc);
	return s;
}
