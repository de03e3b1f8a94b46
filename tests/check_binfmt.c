#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "binfmt/entry.h"
#include "binfmt/instance.h"
#include "binfmt/interp.h"
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


static bool have_qemu(const char *path)
{
	if (access(path, X_OK) == 0)
		return true;
	fprintf(stderr, "check_binfmt: skipped: %s missing (qemu-user-static)\n", path);
	return false;
}

/* The text the kernel prints for an entry. */
static char *entry_text(const struct ak_binfmt_entry *e)
{
	char magic[2 * AK_MAGIC_MAX + 1], mask[2 * AK_MAGIC_MAX + 1];
	for (size_t i = 0; i < e->magic_len; i++) {
		sprintf(magic + 2 * i, "%02x", e->magic[i]);
		sprintf(mask + 2 * i, "%02x", e->mask[i]);
	}
	char *t = NULL;
	ck_assert_int_ge(asprintf(&t, "%s\ninterpreter %s\nflags: %s\noffset %u\nmagic %s\nmask %s\n",
				  e->enabled ? "enabled" : "disabled", e->interpreter, e->flags,
				  e->offset, magic, mask),
			 0);
	return t;
}

static void write_at(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ak_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/* An entry for a target as archkit would write it, then changed by the caller. */
static void target_entry(struct ak_binfmt_entry *e, const char *target, const char *interp,
			 const char *flags)
{
	ck_assert_int_eq(ak_binfmt_entry_for_target(ak_qemu_target_find(target), interp, flags, e,
						    NULL),
			 0);
}

static void rename_entry(struct ak_binfmt_entry *e, const char *name)
{
	free(e->name);
	e->name = strdup(name);
}

/* One handler for aarch64 planned against table, as install would. */
static void plan_aarch64(const struct ak_binfmt_table *t, enum ak_replace replace,
			 struct ak_binfmt_plan *plan)
{
	const struct ak_qemu_target *want[] = {ak_qemu_target_find("aarch64")};
	struct ak_binfmt_options opt = {.qemu_path = "/usr/bin", .flags = "F", .replace = replace};
	ck_assert_int_eq(ak_binfmt_plan_build(t, want, 1, &opt, plan, NULL), 0);
}

/* A table of the given entries (copied). */
static void table_of(struct ak_binfmt_table *t, struct ak_binfmt_entry *es, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->entries = calloc(n, sizeof(*t->entries));
	for (size_t i = 0; i < n; i++)
		t->entries[i] = es[i];
	t->count = n;
}

/* A plain directory stands in for binfmt_misc: register is a regular file, so writing it
 * makes no entry appear, and whatever entry file is there is what reads back. Apply must
 * notice each time, and fail that handler naming the read-back. */
START_TEST(test_apply_reads_every_entry_back)
{
	if (!have_qemu("/usr/bin/qemu-aarch64-static"))
		return;
	char dir[] = "/tmp/ak-readback-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	struct ak_binfmt_entry right, other, off;
	target_entry(&right, "aarch64", "/usr/bin/qemu-aarch64-static", "F");
	target_entry(&other, "aarch64", "/usr/bin/qemu-arm-static", "F");
	target_entry(&off, "aarch64", "/usr/bin/qemu-aarch64-static", "F");
	off.enabled = false;
	cleanup_free char *right_text = entry_text(&right);
	cleanup_free char *other_text = entry_text(&other);
	cleanup_free char *off_text = entry_text(&off);
	const struct {
		const char *entry_file; /* what qemu-aarch64 holds after the write, or NULL */
		const char *error;	/* the handler's error, or NULL for success */
	} cases[] = {
		{NULL, "reading back 'qemu-aarch64': "},
		{other_text, "'qemu-aarch64' reads back differently: interpreter "
			     "'/usr/bin/qemu-arm-static', want '/usr/bin/qemu-aarch64-static'"},
		{off_text, "'qemu-aarch64' reads back disabled"},
		{right_text, NULL},
	};
	struct ak_binfmt_table empty = {0};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_at(dfd, "register", "");
		unlinkat(dfd, "qemu-aarch64", 0);
		if (cases[i].entry_file)
			write_at(dfd, "qemu-aarch64", cases[i].entry_file);
		struct ak_binfmt_plan plan;
		plan_aarch64(&empty, AK_REPLACE_DRIFTED, &plan);
		struct ak_handler *h = &plan.handlers[0];
		ck_assert_int_eq(h->action, AK_ACTION_REGISTER);
		struct ak_binfmt_instance inst;
		ak_binfmt_open_dirfd(dup(dfd), dir, &inst);
		cleanup_error struct ak_error *err = NULL;
		ck_assert_int_eq(ak_binfmt_plan_apply(&inst, &plan, &err), 0);
		/* the rule went to register in one write */
		cleanup_free char *reg = NULL;
		ck_assert_int_eq(ak_read_file_at(dfd, "register", 4096, &reg, NULL, NULL), 0);
		ck_assert_str_eq(reg, h->rule);
		if (cases[i].error) {
			ck_assert_msg(!h->written, "case %zu: counted as written", i);
			ck_assert_int_eq(h->action, AK_ACTION_FAIL);
			ck_assert_ptr_nonnull(h->error);
			ck_assert_msg(strncmp(h->error->msg, cases[i].error,
					      strlen(cases[i].error)) == 0,
				      "case %zu: '%s'", i, h->error->msg);
		} else {
			ck_assert(h->written);
			ck_assert_ptr_null(h->error);
		}
		ak_binfmt_close(&inst);
		ak_binfmt_plan_clear(&plan);
	}
	ak_binfmt_entry_clear(&right);
	ak_binfmt_entry_clear(&other);
	ak_binfmt_entry_clear(&off);
	unlinkat(dfd, "register", 0);
	unlinkat(dfd, "qemu-aarch64", 0);
	close(dfd);
	rmdir(dir);
}
END_TEST

/* Right magic and interpreter, no F: drifted (flags), replaced, or kept by --replace never. */
START_TEST(test_missing_f_is_drift)
{
	if (!have_qemu("/usr/bin/qemu-aarch64-static"))
		return;
	struct ak_binfmt_entry e;
	target_entry(&e, "aarch64", "/usr/bin/qemu-aarch64-static", "");
	struct ak_binfmt_table t;
	table_of(&t, &e, 1);
	struct ak_binfmt_plan plan;
	plan_aarch64(&t, AK_REPLACE_DRIFTED, &plan);
	ck_assert_int_eq(plan.handlers[0].state, AK_HANDLER_DRIFTED);
	ck_assert_int_eq(plan.handlers[0].action, AK_ACTION_REPLACE);
	ck_assert_str_eq(plan.handlers[0].drift, "flags '', want 'F'");
	ak_binfmt_plan_clear(&plan);
	plan_aarch64(&t, AK_REPLACE_NEVER, &plan);
	ck_assert_int_eq(plan.handlers[0].state, AK_HANDLER_DRIFTED);
	ck_assert_int_eq(plan.handlers[0].action, AK_ACTION_KEEP_DRIFTED);
	ak_binfmt_plan_clear(&plan);
	ak_binfmt_table_clear(&t);
}
END_TEST

/* Byte 16 is e_type's low byte on little-endian: a mask of 0xff there instead of 0xfe
 * takes ET_EXEC only, and static-pie (ET_DYN) binaries fall through. */
START_TEST(test_mask_drift_and_shadowing_under_mask)
{
	if (!have_qemu("/usr/bin/qemu-aarch64-static"))
		return;
	const struct ak_qemu_target *a64 = ak_qemu_target_find("aarch64");
	struct ak_binfmt_entry es[2];
	target_entry(&es[0], "aarch64", "/usr/bin/qemu-aarch64-static", "F");
	es[0].mask[16] = 0xff;
	ck_assert(!ak_binfmt_entry_same_binaries(&es[0], a64));
	ck_assert(ak_binfmt_entry_catches(&es[0], a64)); /* ET_EXEC still */
	/* another name, and e_type not looked at: a magic of 0 there still catches */
	target_entry(&es[1], "aarch64", "/opt/emu/aarch64", "F");
	rename_entry(&es[1], "other-arm64");
	es[1].magic[16] = es[1].mask[16] = 0;
	es[1].magic[17] = es[1].mask[17] = 0;
	struct ak_binfmt_table t;
	table_of(&t, es, 2);
	struct ak_binfmt_plan plan;
	plan_aarch64(&t, AK_REPLACE_DRIFTED, &plan);
	struct ak_handler *h = &plan.handlers[0];
	ck_assert_int_eq(h->state, AK_HANDLER_DRIFTED);
	ck_assert_int_eq(h->action, AK_ACTION_REPLACE);
	ck_assert_str_eq(h->drift, "mask byte 16: 0xff, want 0xfe");
	ck_assert_uint_eq(h->shadowed_count, 1);
	ck_assert_str_eq(h->shadowed_by[0], "other-arm64");
	ak_binfmt_plan_clear(&plan);
	ak_binfmt_table_clear(&t);
}
END_TEST

/* Debian's rules (/usr/lib/binfmt.d/qemu-*.conf of qemu-user-static), as the kernel prints
 * them: masks that differ from upstream's only where no real binary has bits set
 * (EI_OSABI above 3 for ppc64le, EI_ABIVERSION above 1 for MIPS). */
static const struct {
	const char *target, *magic, *mask;
} debian_rules[] = {
	{"ppc64le", "7f454c4602010100000000000000000002001500",
	 "fffffffffffffffcfffffffffffffffffeffff00"},
	{"mips64el", "7f454c4602010100000000000000000002000800",
	 "ffffffffffffff00fefffffffffffffffeffffff"},
	{"mips", "7f454c46010201000000000000000000000200080000000000000000000000000000000000000000",
	 "ffffffffffffff00fefffffffffffffffffeffff0000000000000000000000000000000000000020"},
	{"aarch64", "7f454c460201010000000000000000000200b700",
	 "ffffffffffffff00fffffffffffffffffeffffff"},
};

static void debian_entry(size_t i, const char *interp, const char *flags,
			 struct ak_binfmt_entry *e)
{
	char text[1024];
	snprintf(text, sizeof(text), "enabled\ninterpreter %s\nflags: %s\noffset 0\nmagic %s\nmask %s\n",
		 interp, flags, debian_rules[i].magic, debian_rules[i].mask);
	char name[64];
	snprintf(name, sizeof(name), "qemu-%s", debian_rules[i].target);
	ck_assert_int_eq(ak_binfmt_entry_parse(name, text, e, NULL), 0);
}

/* The same real binaries: Debian's masks are; a mask that ignores the class, the byte
 * order, the machine, or takes ET_EXEC only is not. */
START_TEST(test_same_binaries_judged_on_reference_headers)
{
	for (size_t i = 0; i < sizeof(debian_rules) / sizeof(debian_rules[0]); i++) {
		struct ak_binfmt_entry e;
		debian_entry(i, "/x", "OPF", &e);
		const struct ak_qemu_target *t = ak_qemu_target_find(debian_rules[i].target);
		ck_assert_msg(ak_binfmt_entry_same_binaries(&e, t), "%s", debian_rules[i].target);
		/* the upstream rule for another target is not the same */
		ck_assert(!ak_binfmt_entry_same_binaries(&e, ak_qemu_target_find("riscv64")));
		const size_t bytes[] = {EI_CLASS, EI_DATA, 18, 19, t->elf_data == 1 ? 16 : 17};
		for (size_t k = 0; k < sizeof(bytes) / sizeof(bytes[0]); k++) {
			unsigned char saved = e.mask[bytes[k]];
			if (saved == 0)
				continue; /* ppc64le's upstream rule ignores e_machine's high byte */
			e.mask[bytes[k]] = (unsigned char)(bytes[k] >= 16 && bytes[k] <= 17 &&
								   saved == 0xfe
							   ? 0xff
							   : 0x00);
			ck_assert_msg(!ak_binfmt_entry_same_binaries(&e, t), "%s: mask byte %zu",
				      debian_rules[i].target, bytes[k]);
			e.mask[bytes[k]] = saved;
		}
		ak_binfmt_entry_clear(&e);
	}
}
END_TEST

/* Debian's own handler: its -binfmt-P interpreter (a symlink to qemu-T-static), OPF. */
START_TEST(test_distro_handler_is_equivalent)
{
	const char *wrapper = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P";
	if (!have_qemu("/usr/bin/qemu-aarch64-static") || !have_qemu(wrapper))
		return;
	struct ak_binfmt_entry e;
	debian_entry(3, wrapper, "OPF", &e);
	struct ak_binfmt_table t;
	table_of(&t, &e, 1);
	const enum ak_replace policies[] = {AK_REPLACE_NEVER, AK_REPLACE_DRIFTED, AK_REPLACE_ALWAYS};
	const enum ak_handler_action actions[] = {AK_ACTION_NONE, AK_ACTION_NONE, AK_ACTION_REPLACE};
	for (size_t i = 0; i < 3; i++) {
		struct ak_binfmt_plan plan;
		plan_aarch64(&t, policies[i], &plan);
		ck_assert_int_eq(plan.handlers[0].state, AK_HANDLER_EQUIVALENT);
		ck_assert_int_eq(plan.handlers[0].action, actions[i]);
		ck_assert_ptr_null(plan.handlers[0].drift);
		ak_binfmt_plan_clear(&plan);
	}
	ck_assert_str_eq(ak_handler_state_name(AK_HANDLER_EQUIVALENT), "in place (distro)");
	/* binfmt-support's line for the same package (credentials no, preserve yes): PF */
	ck_assert_int_eq(ak_binfmt_flags_check("PF", t.entries[0].flags, NULL), 0);
	struct ak_binfmt_plan pf;
	plan_aarch64(&t, AK_REPLACE_DRIFTED, &pf);
	ck_assert_int_eq(pf.handlers[0].state, AK_HANDLER_EQUIVALENT);
	ak_binfmt_plan_clear(&pf);
	/* what it is not: without F; a -binfmt-P wrapper without P; C not asked for; a mask
	 * that misses static-pie; another target's QEMU */
	const struct {
		const char *flags, *interp;
		unsigned char mask16;
		const char *drift;
	} bad[] = {
		{"OP", wrapper, 0xfe,
		 "interpreter '/usr/libexec/qemu-binfmt/aarch64-binfmt-P', want "
		 "'/usr/bin/qemu-aarch64-static'; flags 'PO', want 'F'"},
		{"OF", wrapper, 0xfe, NULL},
		{"POCF", wrapper, 0xfe, NULL},
		{"OPF", wrapper, 0xff, NULL},
		{"F", "/usr/bin/qemu-arm-static", 0xfe, NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ak_binfmt_entry *x = &t.entries[0];
		free(x->interpreter);
		x->interpreter = strdup(bad[i].interp);
		ck_assert_int_eq(ak_binfmt_flags_check(bad[i].flags, x->flags, NULL), 0);
		x->mask[16] = bad[i].mask16;
		struct ak_binfmt_plan plan;
		plan_aarch64(&t, AK_REPLACE_DRIFTED, &plan);
		ck_assert_msg(plan.handlers[0].state == AK_HANDLER_DRIFTED, "case %zu: %s", i,
			      ak_handler_state_name(plan.handlers[0].state));
		ck_assert_int_eq(plan.handlers[0].action, AK_ACTION_REPLACE);
		if (bad[i].drift)
			ck_assert_str_eq(plan.handlers[0].drift, bad[i].drift);
		ak_binfmt_plan_clear(&plan);
	}
	ak_binfmt_table_clear(&t);
}
END_TEST

/* What an interpreter path resolves to decides whether it is a QEMU of the target. */
START_TEST(test_interp_serves)
{
	if (!have_qemu("/usr/bin/qemu-aarch64-static"))
		return;
	char dir[] = "/tmp/ak-serves-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char wrapper[128], plain[128], script[128];
	snprintf(wrapper, sizeof(wrapper), "%s/aarch64-binfmt-P", dir);
	snprintf(plain, sizeof(plain), "%s/emu", dir);
	snprintf(script, sizeof(script), "%s/qemu-aarch64", dir);
	ck_assert_int_eq(symlink("/usr/bin/qemu-aarch64-static", wrapper), 0);
	ck_assert_int_eq(symlink("/usr/bin/qemu-aarch64-static", plain), 0);
	write_at(AT_FDCWD, script, "#!/bin/sh\nexec /usr/bin/qemu-aarch64-static \"$@\"\n");
	chmod(script, 0755);
	const struct ak_qemu_target *a64 = ak_qemu_target_find("aarch64");
	bool needs_p = false;
	ck_assert_int_eq(ak_interp_serves(wrapper, a64, &needs_p, NULL), 0);
	ck_assert(needs_p);
	ck_assert_int_eq(ak_interp_serves(plain, a64, &needs_p, NULL), 0);
	ck_assert(!needs_p);
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_lt(ak_interp_serves("/usr/bin/qemu-aarch64-static",
					  ak_qemu_target_find("riscv64"), &needs_p, &err),
			 0);
	ck_assert_str_eq(err->msg, "interpreter '/usr/bin/qemu-aarch64-static' is not qemu-riscv64");
	ck_assert_int_lt(ak_interp_serves(script, a64, &needs_p, NULL), 0); /* not an ELF */
	ck_assert_int_lt(ak_interp_serves("/nonexistent/qemu-aarch64", a64, &needs_p, NULL), 0);
	unlink(wrapper);
	unlink(plain);
	unlink(script);
	rmdir(dir);
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
	tcase_add_test(tc, test_apply_reads_every_entry_back);
	tcase_add_test(tc, test_missing_f_is_drift);
	tcase_add_test(tc, test_mask_drift_and_shadowing_under_mask);
	tcase_add_test(tc, test_same_binaries_judged_on_reference_headers);
	tcase_add_test(tc, test_distro_handler_is_equivalent);
	tcase_add_test(tc, test_interp_serves);
	suite_add_tcase(s, tc);
	return s;
}
