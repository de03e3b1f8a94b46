#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "binfmt/entry.h"
#include "binfmt/registrar.h"
#include "common/cleanup.h"
#include "common/util.h"

/* What the kernel prints for the entry of Debian's qemu-aarch64 rule. */
static const char aarch64_entry[] = "enabled\n"
				    "interpreter /usr/bin/qemu-aarch64-static\n"
				    "flags: F\n"
				    "offset 0\n"
				    "magic 7f454c460201010000000000000000000200b700\n"
				    "mask ffffffffffffff00fffffffffffffffffeffffff\n";

START_TEST(test_parse_kernel_entry)
{
	struct ak_binfmt_entry e;
	struct ak_error *err = NULL;
	ck_assert_int_eq(ak_binfmt_entry_parse("qemu-aarch64", aarch64_entry, &e, &err), 0);
	ck_assert(e.enabled);
	ck_assert_str_eq(e.interpreter, "/usr/bin/qemu-aarch64-static");
	ck_assert_str_eq(e.flags, "F");
	ck_assert_uint_eq(e.magic_len, 20);
	ck_assert_uint_eq(e.mask[7], 0x00);
	/* the table's aarch64 row is the same rule */
	struct ak_binfmt_entry want;
	ck_assert_int_eq(ak_binfmt_entry_for_target(ak_qemu_target_find("aarch64"),
						    "/usr/bin/qemu-aarch64-static", "F", &want,
						    &err),
			 0);
	ck_assert(ak_binfmt_entry_same_magic(&e, &want));
	ck_assert(!ak_binfmt_entry_same_magic(&e, &(struct ak_binfmt_entry){.magic_len = 4}));
	ak_binfmt_entry_clear(&want);
	ak_binfmt_entry_clear(&e);
}
END_TEST

START_TEST(test_parse_disabled_extension_and_flags)
{
	struct ak_binfmt_entry e;
	ck_assert_int_eq(ak_binfmt_entry_parse("python3",
					       "disabled\ninterpreter /usr/bin/python3\n"
					       "flags: \nextension .pyc\n",
					       &e, NULL),
			 0);
	ck_assert(!e.enabled);
	ck_assert(e.is_extension);
	ck_assert_str_eq(e.extension, ".pyc");
	ak_binfmt_entry_clear(&e);
	/* the kernel prints P C O F in its own order; archkit normalises to POCF */
	ck_assert_int_eq(ak_binfmt_entry_parse("x",
					       "enabled\ninterpreter /x\nflags: PCOF\n"
					       "offset 0\nmagic 7f45\n",
					       &e, NULL),
			 0);
	ck_assert_str_eq(e.flags, "POCF");
	ck_assert_uint_eq(e.mask[0], 0xff); /* no mask line: every bit counts */
	ak_binfmt_entry_clear(&e);
}
END_TEST

START_TEST(test_parse_malformed)
{
	const char *bad[] = {
		"",							   /* empty */
		"enabled\n",						   /* no interpreter */
		"enabled\ninterpreter /x\nflags: F\noffset 0\n",	   /* no magic */
		"enabled\ninterpreter /x\nflags: Z\noffset 0\nmagic 7f\n", /* unknown flag */
		"enabled\ninterpreter /x\nflags: F\noffset 0\nmagic 7g\n", /* bad hex */
		"enabled\ninterpreter /x\nflags: F\noffset 0\nmagic 7f45\nmask ff\n", /* mask length
										       */
		"enabled\ninterpreter /x\nflags: F\noffset 99999\nmagic 7f\n",	      /* offset */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ak_binfmt_entry e;
		cleanup_error struct ak_error *err = NULL;
		ck_assert_msg(ak_binfmt_entry_parse("odd", bad[i], &e, &err) < 0, "case %zu parsed",
			      i);
		ck_assert_str_eq(err->msg, "entry 'odd' is malformed");
	}
	/* a magic longer than binfmt_misc's 128 bytes */
	char big[600] = "enabled\ninterpreter /x\nflags: F\noffset 0\nmagic ";
	for (int i = 0; i < 129; i++)
		strcat(big, "7f");
	strcat(big, "\n");
	struct ak_binfmt_entry e;
	ck_assert_int_lt(ak_binfmt_entry_parse("big", big, &e, NULL), 0);
}
END_TEST

/* The table reader takes any directory: malformed files are kept aside, not fatal. */
START_TEST(test_table_read_keeps_malformed_aside)
{
	char dir[] = "/tmp/ak-binfmt-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	const struct {
		const char *name, *text;
	} files[] = {
		{"qemu-aarch64", aarch64_entry},
		{"broken", "enabled\nnonsense\n"},
		{"register", ""},
		{"status", "enabled\n"},
	};
	for (size_t i = 0; i < 4; i++) {
		int fd = openat(dfd, files[i].name, O_WRONLY | O_CREAT, 0644);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ak_write_all(fd, files[i].text, strlen(files[i].text)), 0);
		close(fd);
	}
	struct ak_binfmt_table t;
	ck_assert_int_eq(ak_binfmt_table_read(dfd, &t, NULL), 0);
	ck_assert_uint_eq(t.count, 1);
	ck_assert_str_eq(t.entries[0].name, "qemu-aarch64");
	ck_assert_uint_eq(t.unreadable_count, 1);
	ck_assert_str_eq(t.unreadable[0], "entry 'broken' is malformed");
	const struct ak_binfmt_entry *c[4];
	ck_assert_uint_eq(ak_binfmt_table_catchers(&t, ak_qemu_target_find("aarch64"), c, 4), 1);
	ck_assert_uint_eq(ak_binfmt_table_catchers(&t, ak_qemu_target_find("arm"), c, 4), 0);
	ak_binfmt_table_clear(&t);
	for (size_t i = 0; i < 4; i++)
		unlinkat(dfd, files[i].name, 0);
	close(dfd);
	rmdir(dir);
}
END_TEST

START_TEST(test_name_and_flag_checks)
{
	const char *bad_names[] = {"", "a/b", "register", "status", ".", "..", "a:b", "a b"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		cleanup_error struct ak_error *err = NULL;
		ck_assert_msg(ak_binfmt_name_check(bad_names[i], &err) < 0, "'%s' accepted",
			      bad_names[i]);
		ck_assert_int_eq(err->status, AK_EXIT_USAGE);
	}
	ck_assert_int_eq(ak_binfmt_name_check("qemu-aarch64", NULL), 0);
	/* the kernel takes names up to NAME_MAX: archkit must be able to remove them */
	char name[300];
	memset(name, 'q', sizeof(name));
	name[255] = '\0';
	ck_assert_int_eq(ak_binfmt_name_check(name, NULL), 0);
	name[255] = 'q';
	name[256] = '\0';
	ck_assert_int_lt(ak_binfmt_name_check(name, NULL), 0);
	char out[8];
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_binfmt_flags_check("FP", out, NULL), 0);
	ck_assert_str_eq(out, "PF");
	ck_assert_int_lt(ak_binfmt_flags_check("FX", out, &err), 0);
	ck_assert_str_eq(err->msg, "unknown binfmt flag 'X' (known: P, O, C, F)");
	ck_assert_int_eq(err->status, AK_EXIT_USAGE);
}
END_TEST

START_TEST(test_rule_format)
{
	struct ak_binfmt_entry e;
	ck_assert_int_eq(ak_binfmt_entry_for_target(ak_qemu_target_find("riscv64"),
						    "/usr/bin/qemu-riscv64-static", "F", &e, NULL),
			 0);
	cleanup_free char *rule = ak_binfmt_rule_format(&e, NULL);
	ck_assert_str_eq(rule,
			 ":qemu-riscv64:M:0:"
			 "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
			 "\\x00\\x00\\x02\\x00\\xf3\\x00:"
			 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff"
			 "\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-riscv64-static:F");
	/* a relative interpreter or one with ':' would be misread by the kernel */
	free(e.interpreter);
	e.interpreter = strdup("qemu:x");
	cleanup_error struct ak_error *err = NULL;
	ck_assert_ptr_null(ak_binfmt_rule_format(&e, &err));
	ck_assert_ptr_nonnull(strstr(err->msg, "absolute path without ':'"));
	/* a long name and a long interpreter fit one by one, not together */
	free(e.interpreter);
	e.interpreter = malloc(1700);
	memset(e.interpreter, 'i', 1699);
	e.interpreter[0] = '/';
	e.interpreter[1699] = '\0';
	free(e.name);
	e.name = malloc(201);
	memset(e.name, 'n', 200);
	e.name[200] = '\0';
	ak_error_clear(&err);
	ck_assert_ptr_null(ak_binfmt_rule_format(&e, &err));
	ck_assert_ptr_nonnull(strstr(err->msg, "binfmt_misc takes at most 1920"));
	e.magic_len = 129;
	ak_error_clear(&err);
	ck_assert_ptr_null(ak_binfmt_rule_format(&e, &err));
	ck_assert_ptr_nonnull(strstr(err->msg, "binfmt_misc takes 1 to 128"));
	ak_binfmt_entry_clear(&e);
}
END_TEST

/* Reconcile against a synthetic table: in place, drifted, disabled, shadowed, missing. */
START_TEST(test_plan_classifies)
{
	if (access("/usr/bin/qemu-aarch64-static", X_OK) != 0)
		return; /* qemu-user-static is an install dependency; nothing to classify without it
			 */
	struct ak_binfmt_table t = {0};
	t.entries = calloc(4, sizeof(*t.entries));
	const char *names[] = {"qemu-aarch64", "qemu-arm", "qemu-riscv64", "my-s390x"};
	const char *targets[] = {"aarch64", "arm", "riscv64", "s390x"};
	const char *interps[] = {"/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-arm-static",
				 "/opt/other/qemu-riscv64", "/usr/bin/qemu-s390x-static"};
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(ak_binfmt_entry_for_target(ak_qemu_target_find(targets[i]),
							    interps[i], "F", &t.entries[i], NULL),
				 0);
		free(t.entries[i].name);
		t.entries[i].name = strdup(names[i]);
	}
	t.entries[1].enabled = false;
	t.count = 4;
	const struct ak_qemu_target *want[] = {
		ak_qemu_target_find("aarch64"), ak_qemu_target_find("arm"),
		ak_qemu_target_find("riscv64"), ak_qemu_target_find("s390x"),
		ak_qemu_target_find("ppc64le")};
	struct ak_binfmt_options opt = {
		.qemu_path = "/usr/bin", .flags = "F", .replace = AK_REPLACE_DRIFTED};
	struct ak_binfmt_plan plan;
	ck_assert_int_eq(ak_binfmt_plan_build(&t, want, 5, &opt, &plan, NULL), 0);
	ck_assert_int_eq(plan.handlers[0].state, AK_HANDLER_IN_PLACE);
	ck_assert_int_eq(plan.handlers[0].action, AK_ACTION_NONE);
	ck_assert_int_eq(plan.handlers[1].state, AK_HANDLER_DISABLED);
	ck_assert_int_eq(plan.handlers[1].action, AK_ACTION_ENABLE);
	ck_assert_int_eq(plan.handlers[2].state, AK_HANDLER_DRIFTED);
	ck_assert_int_eq(plan.handlers[2].action, AK_ACTION_REPLACE);
	ck_assert_str_eq(plan.handlers[2].drift, "interpreter '/opt/other/qemu-riscv64', want "
						 "'/usr/bin/qemu-riscv64-static'");
	ck_assert_int_eq(plan.handlers[3].state, AK_HANDLER_MISSING);
	ck_assert_uint_eq(plan.handlers[3].shadowed_count, 1);
	ck_assert_str_eq(plan.handlers[3].shadowed_by[0], "my-s390x");
	ck_assert_int_eq(plan.handlers[4].state, AK_HANDLER_MISSING);
	ck_assert_int_eq(plan.handlers[4].action, AK_ACTION_REGISTER);
	ak_binfmt_plan_clear(&plan);

	/* --replace never keeps the drifted one; a missing interpreter fails that one only */
	opt.replace = AK_REPLACE_NEVER;
	opt.qemu_path = "/nonexistent";
	ck_assert_int_eq(ak_binfmt_plan_build(&t, want, 5, &opt, &plan, NULL), 0);
	ck_assert_int_eq(plan.handlers[0].action, AK_ACTION_NONE); /* in place still serves */
	ck_assert_int_eq(plan.handlers[4].action, AK_ACTION_FAIL);
	ck_assert_ptr_nonnull(strstr(plan.handlers[4].error->msg, "no interpreter for 'ppc64le'"));
	ak_binfmt_plan_clear(&plan);
	opt.qemu_path = "/usr/bin";
	ck_assert_int_eq(ak_binfmt_plan_build(&t, want, 5, &opt, &plan, NULL), 0);
	ck_assert_int_eq(plan.handlers[2].action, AK_ACTION_KEEP_DRIFTED);
	ak_binfmt_plan_clear(&plan);
	ak_binfmt_table_clear(&t);
}
END_TEST

static void write_script(const char *dir, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ak_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/* Version queries run at once under one deadline: a hung interpreter is killed, the
 * others answer. */
START_TEST(test_query_versions_deadline)
{
	char dir[] = "/tmp/ak-interp-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_script(dir, "qemu-ok", "#!/bin/sh\necho \"qemu-ok version 9.1.0 (Debian)\"\n");
	write_script(dir, "qemu-hang", "#!/bin/sh\nexec sleep 30\n");
	write_script(dir, "qemu-drip", "#!/bin/sh\nwhile :; do printf x; sleep 0.2; done\n");
	write_script(dir, "qemu-quiet", "#!/bin/sh\necho hello\n");
	const char *names[] = {"qemu-ok",    "qemu-hang",    "qemu-hang", "qemu-drip",
			       "qemu-quiet", "qemu-missing", NULL};
	struct ak_interp in[7] = {0};
	for (size_t i = 0; names[i]; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		in[i].path = strdup(path);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ak_interp_query_versions(in, 7, 500);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* loose: the point is "not 5 s per interpreter", not an exact timing */
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
	ck_assert_int_eq(in[0].version_status, AK_VERSION_FOUND);
	ck_assert_str_eq(in[0].version, "9.1.0");
	ck_assert_int_eq(in[1].version_status, AK_VERSION_TIMED_OUT);
	ck_assert_int_eq(in[2].version_status, AK_VERSION_TIMED_OUT);
	ck_assert_int_eq(in[3].version_status, AK_VERSION_TIMED_OUT);
	ck_assert_ptr_null(in[3].version);
	ck_assert_int_eq(in[4].version_status, AK_VERSION_NONE);
	ck_assert_int_eq(in[5].version_status, AK_VERSION_CANNOT_RUN);
	ck_assert_int_eq(in[6].version_status, AK_VERSION_NOT_ASKED); /* no path */
	ck_assert_str_eq(ak_version_status_name(in[1].version_status), "timed out");
	for (size_t i = 0; i < 7; i++)
		ak_interp_clear(&in[i]);
	const char *files[] = {"qemu-ok", "qemu-hang", "qemu-drip", "qemu-quiet"};
	for (size_t i = 0; i < 4; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}
END_TEST

Suite *binfmt_suite(void)
{
	Suite *s = suite_create("binfmt");
	TCase *tc = tcase_create("entries");
	tcase_add_test(tc, test_parse_kernel_entry);
	tcase_add_test(tc, test_parse_disabled_extension_and_flags);
	tcase_add_test(tc, test_parse_malformed);
	tcase_add_test(tc, test_table_read_keeps_malformed_aside);
	tcase_add_test(tc, test_name_and_flag_checks);
	tcase_add_test(tc, test_rule_format);
	tcase_add_test(tc, test_plan_classifies);
	tcase_add_test(tc, test_query_versions_deadline);
	suite_add_tcase(s, tc);
	return s;
}
