/* doctor's persistence: binfmt.d rules (parsed as the kernel parses a register line),
 * systemd's override order, update-binfmts' database, hostile files, and the checks. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binfmt/entry.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/internal.h"
#include "doctor/persist.h"
#include "testlib.h"

/* Debian 12's /usr/lib/binfmt.d/qemu-aarch64.conf, as qemu-user-static ships it */
#define DEBIAN_AARCH64                                                                             \
	":qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00"  \
	"\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff"   \
	"\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/"                  \
	"aarch64-binfmt-P:OPF"
/* the same handler as archkit writes it (qemu-binfmt-conf.sh's mask, flag F) */
#define ARCHKIT_AARCH64                                                                            \
	":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00" \
	"\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff"   \
	"\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F"

static char root[] = "/tmp/archkit-persist-XXXXXX";

static void setup(void)
{
	strcpy(root, "/tmp/archkit-persist-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
}

static void put(const char *rel, const char *text)
{
	cleanup_free char *path = ak_xasprintf("%s/%s", root, rel);
	write_file(path, text, strlen(text));
}

static void put_link(const char *rel, const char *target)
{
	cleanup_free char *path = ak_xasprintf("%s/%s", root, rel);
	cleanup_free char *dir = ak_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	ck_assert_int_eq(ak_mkdir_p(dir), 0);
	ck_assert_int_eq(symlink(target, path), 0);
}

static bool has_problem(const struct ak_persist_set *s, const char *text)
{
	for (size_t i = 0; i < s->nproblems; i++)
		if (strstr(s->problems[i], text))
			return true;
	return false;
}

START_TEST(test_rule_parse_debian)
{
	struct ak_binfmt_entry e;
	struct ak_error *err = NULL;
	ck_assert_int_eq(ak_binfmt_rule_parse(DEBIAN_AARCH64 "\n", &e, &err), 0);
	ck_assert_str_eq(e.name, "qemu-aarch64");
	ck_assert_str_eq(e.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
	ck_assert_str_eq(e.flags, "POF"); /* the kernel's order */
	ck_assert_uint_eq(e.offset, 0);
	ck_assert_uint_eq(e.magic_len, 20);
	ck_assert_int_eq(e.magic[18], 0xb7);
	ck_assert_int_eq(e.mask[16], 0xfe);
	ck_assert(e.enabled && !e.is_extension);
	/* it matches what the table says an arm64 binary starts with */
	unsigned char hdr[64];
	ak_qemu_target_sample_header(ak_qemu_target_find("aarch64"), hdr);
	ck_assert(ak_binfmt_entry_matches(&e, hdr, sizeof(hdr)));
	ak_binfmt_entry_clear(&e);

	/* C: the kernel sets O with it and reads back "OC"; no mask: all bits count */
	ck_assert_int_eq(ak_binfmt_rule_parse(":t:M:2:\\x41B::/bin/i:CF", &e, &err), 0);
	ck_assert_str_eq(e.flags, "OCF");
	ck_assert_uint_eq(e.offset, 2);
	ck_assert_uint_eq(e.magic_len, 2);
	ck_assert_int_eq(e.magic[0], 'A');
	ck_assert_int_eq(e.mask[1], 0xff);
	ak_binfmt_entry_clear(&e);

	/* any first character is the delimiter; E rules match an extension */
	ck_assert_int_eq(ak_binfmt_rule_parse(",py,E,,py,,/usr/bin/python3,", &e, &err), 0);
	ck_assert(e.is_extension);
	ck_assert_str_eq(e.extension, "py");
	ck_assert_str_eq(e.flags, "");
	ak_binfmt_entry_clear(&e);
	ck_assert_ptr_null(err);
}
END_TEST

START_TEST(test_rule_parse_rejects)
{
	static const char *const bad[] = {
		"", ":", ":qemu-x:M:0:\\x7f:\\xff:/bin/x", /* no flags field: one delimiter short */
		":qemu-x:X:0:\\x7f::/bin/x:F",		   /* type */
		":qemu-x:M:0:\\x7f::/bin/x:FZ",		   /* unknown flag */
		":qemu-x:M:0:\\x7f::/bin/x:F:",		   /* a delimiter after the flags */
		":qemu-x:M:1a:\\x7f::/bin/x:F",		   /* offset */
		":qemu-x:M:0:\\x7g::/bin/x:F",		   /* escape */
		":qemu-x:M:0:::/bin/x:F",		   /* no magic */
		":qemu-x:M:0:\\x7fE:\\xff:/bin/x:F",	   /* mask shorter than magic */
		":qemu-x:M:250:\\x01\\x02\\x03\\x04\\x05\\x06\\x07::/bin/x:F", /* past 256 bytes */
		/* an offset past ULONG_MAX wrapped past the bound (found by fuzz_binfmt_rule) */
		":qemu-x:M:99999999999999999999999:\\x7f::/bin/x:F",
		":qemu-x:M:18446744073709551615:\\x7f::/bin/x:F",
		":register:M:0:\\x7f::/bin/x:F", /* reserved name */
		"::M:0:\\x7f::/bin/x:F",	 /* empty name */
		":qemu-x:M:0:\\x7f:::F",	 /* no interpreter */
		":a/b:M:0:\\x7f::/bin/x:F",	 /* '/' in name */
		":x:E:::::/bin/x:",		 /* no extension */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ak_binfmt_entry e;
		struct ak_error *err = NULL;
		ck_assert_msg(ak_binfmt_rule_parse(bad[i], &e, &err) < 0, "accepted '%s'", bad[i]);
		ck_assert_ptr_nonnull(err);
		ck_assert_ptr_null(e.name); /* nothing left to free */
		ak_error_free(err);
	}
	/* a line break inside (found by fuzz_binfmt_rule): refused, and the message that
	 * quotes the flags stays one line */
	struct ak_error *err = NULL;
	struct ak_binfmt_entry e0;
	ck_assert_int_lt(
		ak_binfmt_rule_parse(":x:M::\\x7f::/bin/x:F\n:y:M::\\x7f::/bin/y:F\n", &e0, &err),
		0);
	ck_assert_ptr_null(strchr(err->msg, '\n'));
	ck_assert_str_eq(err->msg, "a rule is one line, this one breaks at offset 20");
	ak_error_free(err);
	err = NULL;
	/* a long bad field is quoted cut short */
	char flags[600];
	snprintf(flags, sizeof(flags), ":x:M::\\x7f::/bin/x:%0500d", 0);
	ck_assert_int_lt(ak_binfmt_rule_parse(flags, &e0, &err), 0);
	ck_assert_uint_lt(strlen(err->msg), 120);
	ak_error_free(err);
	/* longer than the kernel's MAX_REGISTER_LENGTH */
	char *longline = ak_xmalloc(4000);
	snprintf(longline, 4000, ":x:M:0:\\x7f::/%03900d:F", 0);
	struct ak_binfmt_entry e;
	ck_assert_int_lt(ak_binfmt_rule_parse(longline, &e, NULL), 0);
	free(longline);
}
END_TEST

START_TEST(test_override_order)
{
	/* the vendor's file, overridden by the administrator's of the same name */
	put("usr/lib/binfmt.d/qemu-aarch64.conf", DEBIAN_AARCH64 "\n");
	put("etc/binfmt.d/qemu-aarch64.conf", "# mine\n" ARCHKIT_AARCH64 "\n");
	/* /run beats /usr/lib, /etc beats /run */
	put("usr/lib/binfmt.d/r.conf", ":qemu-r:M::\\x01::/usr/lib-r:F\n");
	put("run/binfmt.d/r.conf", ":qemu-r:M::\\x01::/run-r:F\n");
	put("run/binfmt.d/s.conf", ":qemu-s:M::\\x01::/run-s:F\n");
	put("etc/binfmt.d/s.conf", ":qemu-s:M::\\x01::/etc-s:F\n");
	put("usr/local/lib/binfmt.d/t.conf", ":qemu-t:M::\\x01::/local-t:F\n");
	put("usr/lib/binfmt.d/t.conf", ":qemu-t:M::\\x01::/usr-t:F\n");
	/* files apply in name order whatever their folder: b.conf's rule replaces a.conf's */
	put("etc/binfmt.d/b.conf", ":qemu-u:M::\\x01::/b-u:F\n");
	put("usr/lib/binfmt.d/a.conf", ":qemu-u:M::\\x01::/a-u:F\n");
	/* within a file, the later line */
	put("usr/lib/binfmt.d/c.conf", ":qemu-v:M::\\x01::/first:F\n:qemu-v:M::\\x01::/second:F\n");
	/* only *.conf, not hidden ones */
	put("etc/binfmt.d/qemu-w.txt", ":qemu-w:M::\\x01::/w:F\n");
	put("etc/binfmt.d/.hidden.conf", ":qemu-w:M::\\x01::/w:F\n");

	struct ak_persist_set s;
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	const struct ak_persisted *p = ak_persist_find(&s, "qemu-aarch64");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->e.interpreter, "/usr/bin/qemu-aarch64-static");
	cleanup_free char *want = ak_xasprintf("%s/etc/binfmt.d/qemu-aarch64.conf", root);
	ck_assert_str_eq(p->source, want);
	ck_assert_uint_eq(p->line, 2);
	ck_assert(p->systemd);
	ck_assert_str_eq(ak_persist_find(&s, "qemu-r")->e.interpreter, "/run-r");
	ck_assert_str_eq(ak_persist_find(&s, "qemu-s")->e.interpreter, "/etc-s");
	ck_assert_str_eq(ak_persist_find(&s, "qemu-t")->e.interpreter, "/local-t");
	ck_assert_str_eq(ak_persist_find(&s, "qemu-u")->e.interpreter, "/b-u");
	ck_assert_str_eq(ak_persist_find(&s, "qemu-v")->e.interpreter, "/second");
	ck_assert_uint_eq(ak_persist_find(&s, "qemu-v")->line, 2);
	ck_assert_ptr_null(ak_persist_find(&s, "qemu-w"));
	ck_assert_uint_eq(s.nproblems, 0);
	ak_persist_clear(&s);
}
END_TEST

START_TEST(test_comments_and_bad_lines)
{
	put("usr/lib/binfmt.d/x.conf", "# comment\n"
				       "; another\n"
				       "\n"
				       "   \t\n"
				       "  :qemu-x:M::\\x01::/x:F  \n"
				       ":qemu-y:M::\\x01::/y:FQ\n"
				       "#:qemu-z:M::\\x01::/z:F\n");
	struct ak_persist_set s;
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	const struct ak_persisted *p = ak_persist_find(&s, "qemu-x");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->line, 5);
	ck_assert_str_eq(p->e.interpreter, "/x");
	ck_assert_ptr_null(ak_persist_find(&s, "qemu-y"));
	ck_assert_ptr_null(ak_persist_find(&s, "qemu-z"));
	ck_assert_uint_eq(s.nproblems, 1);
	ck_assert(has_problem(&s, "/usr/lib/binfmt.d/x.conf line 6: rule 'qemu-y': flags"));
	ak_persist_clear(&s);
}
END_TEST

START_TEST(test_masked)
{
	put("usr/lib/binfmt.d/qemu-aarch64.conf", DEBIAN_AARCH64 "\n");
	put_link("etc/binfmt.d/qemu-aarch64.conf", "/dev/null");
	struct ak_persist_set s;
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	ck_assert_ptr_null(ak_persist_find(&s, "qemu-aarch64"));
	ck_assert_uint_eq(s.nmasked, 1);
	cleanup_free char *want = ak_xasprintf("%s/etc/binfmt.d/qemu-aarch64.conf", root);
	ck_assert_str_eq(s.masked[0], want);
	ak_persist_clear(&s);
}
END_TEST

START_TEST(test_binfmts_db)
{
	/* update-binfmts' own layout (binfmt-support's src/tests/install): package, type,
	 * offset, magic, mask, interpreter, detector, credentials, preserve, fix_binary */
	put("var/lib/binfmts/qemu-arm",
	    "qemu-user-static\nmagic\n0\n"
	    "\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
	    "\\x00\\x00\\x02\\x00\\x28\\x00\n"
	    "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff"
	    "\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff\n"
	    "/usr/libexec/qemu-binfmt/arm-binfmt-P\n\nyes\nyes\nyes\n");
	/* the old layout without the last three lines, and a local (':') entry */
	put("var/lib/binfmts/test", ":\nmagic\n10\nABCD\n\\x7f\\x7f\\x7f\\x7f\n/bin/sh\n\n\n");
	/* a detector makes update-binfmts register its run-detectors instead */
	put("var/lib/binfmts/det", "p\nmagic\n0\nXY\n\n/bin/i\n/bin/detect\nno\nno\nno\n");
	/* systemd-binfmt runs first; update-binfmts --enable skips a name already there */
	put("var/lib/binfmts/qemu-aarch64",
	    "qemu-user-static\nmagic\n0\n\\x7f\n\n/db\n\nno\nno\nyes\n");
	put("usr/lib/binfmt.d/qemu-aarch64.conf", DEBIAN_AARCH64 "\n");
	/* corrupt ones */
	put("var/lib/binfmts/short", "p\nmagic\n0\n");
	put("var/lib/binfmts/weird", "p\nsomething\n0\nAB\n\n/bin/i\n");
	put("var/lib/binfmts/.qemu-hidden", "p\nmagic\n0\nAB\n\n/bin/i\n");

	struct ak_persist_set s;
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	const struct ak_persisted *p = ak_persist_find(&s, "qemu-arm");
	ck_assert_ptr_nonnull(p);
	ck_assert(!p->systemd);
	ck_assert_uint_eq(p->line, 0);
	ck_assert_str_eq(p->e.flags, "POCF");
	ck_assert_str_eq(p->e.interpreter, "/usr/libexec/qemu-binfmt/arm-binfmt-P");
	ck_assert_uint_eq(p->e.magic_len, 20);
	ck_assert_int_eq(p->e.magic[18], 0x28);
	p = ak_persist_find(&s, "test");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->e.offset, 10);
	ck_assert_str_eq(p->e.flags, "");
	ck_assert_int_eq(p->e.mask[0], 0x7f);
	ck_assert_str_eq(ak_persist_find(&s, "det")->e.interpreter,
			 "/usr/lib/binfmt-support/run-detectors");
	p = ak_persist_find(&s, "qemu-aarch64");
	ck_assert(p->systemd);
	ck_assert_str_eq(p->e.interpreter, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P");
	ck_assert(has_problem(&s, "var/lib/binfmts/short: 3 lines"));
	ck_assert(has_problem(&s, "var/lib/binfmts/weird: type 'something'"));
	ck_assert_ptr_null(ak_persist_find(&s, ".qemu-hidden"));
	ck_assert_uint_eq(s.nproblems, 2);
	ak_persist_clear(&s);
}
END_TEST

START_TEST(test_hostile_files)
{
	/* a FIFO is refused without waiting for a writer (the test's timeout would catch a
	 * hang); a directory and a device named .conf; a file far too big; NUL bytes */
	cleanup_free char *dir = ak_xasprintf("%s/etc/binfmt.d", root);
	ck_assert_int_eq(ak_mkdir_p(dir), 0);
	cleanup_free char *fifo = ak_xasprintf("%s/fifo.conf", dir);
	ck_assert_int_eq(mkfifo(fifo, 0644), 0);
	cleanup_free char *sub = ak_xasprintf("%s/sub.conf", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	put_link("etc/binfmt.d/null.conf", "/dev/zero");
	cleanup_free char *big = ak_xasprintf("%s/big.conf", dir);
	int fd = open(big, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, AK_PERSIST_FILE_MAX + 1), 0);
	close(fd);
	char nul[] = ":qemu-n:M::\\x01::/n:F\n\0:qemu-m:M::\\x01::/m:F\n";
	cleanup_free char *nulpath = ak_xasprintf("%s/nul.conf", dir);
	write_file(nulpath, nul, sizeof(nul) - 1);
	/* an absolute link resolves inside the host root, not to this machine's file */
	put("elsewhere/real.conf", ":qemu-l:M::\\x01::/l:F\n");
	put_link("etc/binfmt.d/link.conf", "/elsewhere/real.conf");
	put_link("etc/binfmt.d/out.conf", "../../../../../../../../etc/passwd");
	/* a binfmts entry that is a FIFO too */
	cleanup_free char *db = ak_xasprintf("%s/var/lib/binfmts", root);
	ck_assert_int_eq(ak_mkdir_p(db), 0);
	cleanup_free char *dbfifo = ak_xasprintf("%s/qemu-f", db);
	ck_assert_int_eq(mkfifo(dbfifo, 0644), 0);

	struct ak_persist_set s;
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	ck_assert(has_problem(&s, "fifo.conf: not a regular file"));
	ck_assert(has_problem(&s, "sub.conf: not a regular file"));
	ck_assert(has_problem(&s, "null.conf: "));
	ck_assert(has_problem(&s, "big.conf: larger than"));
	ck_assert(has_problem(&s, "nul.conf: holds NUL"));
	ck_assert(has_problem(&s, "var/lib/binfmts/qemu-f: not a regular file"));
	ck_assert_ptr_null(ak_persist_find(&s, "qemu-n"));
	const struct ak_persisted *p = ak_persist_find(&s, "qemu-l");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->e.interpreter, "/l");
	/* ../ out of the root stays at the root: no such file there */
	ck_assert(has_problem(&s, "out.conf: No such file"));
	ak_persist_clear(&s);
}
END_TEST

START_TEST(test_bounds)
{
	/* more files than a folder is read for, more rules than are kept, more problems
	 * than are kept as text: all bounded, and said */
	cleanup_free char *dir = ak_xasprintf("%s/usr/lib/binfmt.d", root);
	ck_assert_int_eq(ak_mkdir_p(dir), 0);
	for (int i = 0; i < AK_PERSIST_DIR_MAX + 20; i++) {
		char rel[64], line[64];
		snprintf(rel, sizeof(rel), "usr/lib/binfmt.d/f%05d.conf", i);
		snprintf(line, sizeof(line), ":q%d:M::\\x01::/x:F\n", i);
		put(rel, i < 30 ? "bad line\n" : line);
	}
	struct ak_persist_set s;
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	ck_assert(has_problem(&s, "more than 1024 files"));
	ck_assert_uint_le(s.count, AK_PERSIST_RULES_MAX);
	ck_assert_uint_eq(s.nproblems, AK_PERSIST_PROBLEMS_MAX);
	ck_assert_uint_gt(s.problems_dropped, 0);
	ak_persist_clear(&s);

	/* one big file of valid rules: kept up to the cap */
	teardown();
	setup();
	size_t n = AK_PERSIST_RULES_MAX + 100, len = 0;
	char *text = ak_xmalloc(n * 40 + 1);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, ":r%zu:M::\\x01::/x:F\n", i);
	put("etc/binfmt.d/many.conf", text);
	free(text);
	ck_assert_int_eq(ak_persist_read(root, &s, NULL), 0);
	ck_assert_uint_eq(s.count, AK_PERSIST_RULES_MAX);
	ck_assert(has_problem(&s, "more than 1024 rules"));
	ak_persist_clear(&s);

	/* a host root that is not there */
	struct ak_error *err = NULL;
	ck_assert_int_lt(ak_persist_read("/nonexistent/archkit-root", &s, &err), 0);
	ck_assert_ptr_nonnull(
		strstr(err->msg, "cannot open host root '/nonexistent/archkit-root'"));
	ak_error_free(err);
}
END_TEST

static void entry(const char *rule, struct ak_binfmt_entry *e)
{
	ck_assert_int_eq(ak_binfmt_rule_parse(rule, e, NULL), 0);
}

START_TEST(test_diff_names_fields)
{
	struct ak_binfmt_entry a, b;
	entry(DEBIAN_AARCH64, &a);
	entry(ARCHKIT_AARCH64, &b);
	cleanup_free char *d = ak_persist_diff(&a, &b);
	ck_assert_str_eq(d, "interpreter '/usr/libexec/qemu-binfmt/aarch64-binfmt-P' persisted, "
			    "'/usr/bin/qemu-aarch64-static' registered; flags 'POF' persisted, 'F' "
			    "registered");
	ck_assert_ptr_null(ak_persist_diff(&a, &a));
	ak_binfmt_entry_clear(&a);
	ak_binfmt_entry_clear(&b);

	entry(":x:M:0:\\x7f\\x45:\\xff\\xfe:/i:F", &a);
	entry(":x:M:1:\\x7f\\x45:\\xff\\xfe:/i:F", &b);
	cleanup_free char *off = ak_persist_diff(&a, &b);
	ck_assert_str_eq(off, "offset 0 persisted, 1 registered");
	ak_binfmt_entry_clear(&b);
	/* a bit both masks clear is no difference; a mask bit is */
	entry(":x:M:0:\\x7f\\x44:\\xff\\xfe:/i:F", &b);
	ck_assert_ptr_null(ak_persist_diff(&a, &b));
	ak_binfmt_entry_clear(&b);
	entry(":x:M:0:\\x7f\\x45:\\xff\\xff:/i:F", &b);
	cleanup_free char *mask = ak_persist_diff(&a, &b);
	ck_assert_str_eq(mask, "mask differs at byte 1 (0xfe persisted, 0xff registered)");
	ak_binfmt_entry_clear(&b);
	entry(":x:M:0:\\x7f\\x46:\\xff\\xfe:/i:F", &b);
	cleanup_free char *magic = ak_persist_diff(&a, &b);
	ck_assert_str_eq(magic, "magic differs at byte 1 (0x45 persisted, 0x46 registered)");
	ak_binfmt_entry_clear(&b);
	/* many bytes: the first three, and a count */
	entry(":x:M:0:\\x00\\x00\\x00\\x00\\x00:\\xff\\xff\\xff\\xff\\xff:/i:F", &b);
	ak_binfmt_entry_clear(&a);
	entry(":x:M:0:\\x01\\x02\\x03\\x04\\x05:\\xff\\xff\\xff\\xff\\xff:/i:F", &a);
	cleanup_free char *many = ak_persist_diff(&a, &b);
	ck_assert_str_eq(
		many,
		"magic differs at byte 0 (0x01 persisted, 0x00 registered), 1 (0x02 "
		"persisted, 0x00 registered), 2 (0x03 persisted, 0x00 registered) and 2 more");
	ak_binfmt_entry_clear(&b);
	entry(":x:M:0:\\x01\\x02:\\xff\\xff:/i:F", &b);
	cleanup_free char *len = ak_persist_diff(&a, &b);
	ck_assert_str_eq(len, "magic of 5 bytes persisted, 2 registered");
	ak_binfmt_entry_clear(&b);
	entry(":x:E::py::/i:F", &b);
	cleanup_free char *type = ak_persist_diff(&a, &b);
	ck_assert_str_eq(type, "type M persisted, E registered");
	ak_binfmt_entry_clear(&b);
	ak_binfmt_entry_clear(&a);
}
END_TEST

/* The checks, on a table made by hand (what doctor/system.c reads from binfmt_misc). */

static void table_add(struct ak_binfmt_table *t, const char *rule)
{
	t->entries = ak_xreallocarray(t->entries, t->count + 1, sizeof(*t->entries));
	entry(rule, &t->entries[t->count++]);
}

static const struct ak_check *find_check(const struct ak_doctor_report *r, const char *id,
					 const char *entry_name)
{
	for (size_t i = 0; i < r->nchecks; i++)
		if (!strcmp(r->checks[i].id, id) &&
		    ((!entry_name && !r->checks[i].entry) ||
		     (entry_name && r->checks[i].entry && !strcmp(r->checks[i].entry, entry_name))))
			return &r->checks[i];
	return NULL;
}

START_TEST(test_checks)
{
	put("usr/lib/binfmt.d/qemu-aarch64.conf", DEBIAN_AARCH64 "\n");
	put("usr/lib/binfmt.d/qemu-arm.conf",
	    ":qemu-arm:M::\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
	    "\\x02\\x00\\x28\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff"
	    "\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/arm-binfmt-P:OPF\n");
	put("etc/binfmt.d/qemu-mips.conf", ":qemu-mips:M::\\x7fELF::/usr/bin/qemu-mips-static:F\n");
	put("etc/binfmt.d/qemu-s390x.conf",
	    ":qemu-s390x:M::\\x7fELF::/usr/bin/qemu-s390x-static:F\n");
	put("etc/binfmt.d/broken.conf", "garbage\n");

	struct ak_binfmt_table t = {0};
	table_add(&t, ARCHKIT_AARCH64); /* archkit replaced Debian's: the next boot undoes it */
	table_add(
		&t,
		":qemu-arm:M::\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00"
		"\\x00\\x00\\x02\\x00\\x28\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff"
		"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/"
		"arm-binfmt-P:OPF");
	table_add(&t, ":qemu-riscv64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00"
		      "\\x00\\x00\\x00\\x02\\x00\\xf3\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00"
		      "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/"
		      "qemu-riscv64-static:OCF");
	table_add(&t, ":python3.11:M::\\x01\\x02::/usr/bin/python3.11:"); /* not ours: ignored */

	struct ak_doctor_options opt = {.host_root = root};
	struct ak_doctor_report r = {0};
	const struct ak_platform *asked[] = {ak_platform_parse("linux/arm64", NULL),
					     ak_platform_parse("linux/s390x", NULL)};
	struct ak_doctor_run run = {.opt = &opt,
				    .r = &r,
				    .table = t,
				    .table_read = true,
				    .dirfd = -1,
				    .platforms = asked,
				    .nplatforms = 2};
	ak_doctor_check_persistence(&run);

	const struct ak_check *c = find_check(&r, "persistence.boot", "qemu-aarch64");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->status, AK_CHECK_PASS);
	ck_assert_str_eq(c->platform, "linux/arm64");
	c = find_check(&r, "persistence.agrees", "qemu-aarch64");
	ck_assert_int_eq(c->status, AK_CHECK_WARN);
	ck_assert_ptr_nonnull(strstr(c->detail,
				     "/usr/lib/binfmt.d/qemu-aarch64.conf line 1 "
				     "disagrees with the registered entry (interpreter "));
	ck_assert_ptr_nonnull(strstr(c->detail, "; flags 'POF' persisted, 'F' registered)"));
	cleanup_free char *fix = ak_xasprintf(
		"archkit binfmt export --format systemd %s/etc/binfmt.d linux/arm64", root);
	ck_assert_str_eq(c->fix, fix);

	c = find_check(&r, "persistence.agrees", "qemu-arm");
	ck_assert_int_eq(c->status, AK_CHECK_PASS);
	ck_assert_str_eq(c->platform, "linux/arm/v7");

	/* registered, persisted nowhere: gone after a reboot; its flags go into the fix */
	c = find_check(&r, "persistence.boot", "qemu-riscv64");
	ck_assert_int_eq(c->status, AK_CHECK_WARN);
	ck_assert_ptr_nonnull(strstr(c->detail, "nothing re-creates it at boot"));
	cleanup_free char *fix2 = ak_xasprintf(
		"archkit binfmt export --format systemd --flags OCF %s/etc/binfmt.d linux/riscv64",
		root);
	ck_assert_str_eq(c->fix, fix2);
	ck_assert_ptr_null(find_check(&r, "persistence.agrees", "qemu-riscv64"));

	/* persisted but not registered: it comes back; a QEMU-only target is no platform */
	c = find_check(&r, "persistence.boot", "qemu-s390x");
	ck_assert_int_eq(c->status, AK_CHECK_INFO);
	ck_assert_str_eq(c->platform, "linux/s390x");
	ck_assert_ptr_nonnull(strstr(c->detail, "registers it at the next boot"));
	ck_assert_ptr_null(find_check(&r, "persistence.boot", "qemu-mips"));

	c = find_check(&r, "persistence.files", NULL);
	ck_assert_int_eq(c->status, AK_CHECK_WARN);
	ck_assert_ptr_nonnull(strstr(c->detail, "/etc/binfmt.d/broken.conf line 1: "));
	ck_assert_ptr_nonnull(c->fix);

	ck_assert_ptr_null(find_check(&r, "persistence.boot", "python3.11"));
	/* every warn carries a fix */
	for (size_t i = 0; i < r.nchecks; i++)
		ck_assert(r.checks[i].status != AK_CHECK_WARN || r.checks[i].fix);
	ak_doctor_report_clear(&r);

	/* the same table on a host root of "/" names /etc/binfmt.d itself */
	memset(&r, 0, sizeof(r));
	opt.host_root = "/nonexistent-archkit-root";
	ak_doctor_check_persistence(&run);
	c = find_check(&r, "persistence.boot", NULL);
	ck_assert_int_eq(c->status, AK_CHECK_SKIPPED);
	ck_assert_ptr_nonnull(strstr(c->detail, "cannot open host root"));
	ak_doctor_report_clear(&r);

	/* binfmt_misc unreadable: nothing to compare */
	memset(&r, 0, sizeof(r));
	run.table_read = false;
	ak_doctor_check_persistence(&run);
	ck_assert_uint_eq(r.nchecks, 1);
	ck_assert_int_eq(r.checks[0].status, AK_CHECK_SKIPPED);
	ak_doctor_report_clear(&r);
	ak_binfmt_table_clear(&run.table);
}
END_TEST

START_TEST(test_checks_masked_and_default_root)
{
	put("usr/lib/binfmt.d/qemu-aarch64.conf", DEBIAN_AARCH64 "\n");
	put_link("etc/binfmt.d/qemu-aarch64.conf", "/dev/null");
	struct ak_binfmt_table t = {0};
	table_add(&t, DEBIAN_AARCH64);
	cleanup_free char *slashed = ak_xasprintf("%s///", root);
	struct ak_doctor_options opt = {.host_root = slashed};
	struct ak_doctor_report r = {0};
	struct ak_doctor_run run = {
		.opt = &opt, .r = &r, .table = t, .table_read = true, .dirfd = -1};
	ak_doctor_check_persistence(&run);
	const struct ak_check *c = find_check(&r, "persistence.boot", "qemu-aarch64");
	ck_assert_int_eq(c->status, AK_CHECK_WARN);
	ck_assert_ptr_nonnull(strstr(c->detail, "/etc/binfmt.d/qemu-aarch64.conf is a link to "
						"/dev/null, masking it"));
	/* the registered flags (OPF) go into the fix, and the root without its slashes */
	cleanup_free char *fix = ak_xasprintf(
		"archkit binfmt export --format systemd --flags POF %s/etc/binfmt.d linux/arm64",
		root);
	ck_assert_str_eq(c->fix, fix);
	ak_doctor_report_clear(&r);
	ak_binfmt_table_clear(&run.table);

	/* --platform arm64: the other platforms' entries are not looked at */
	memset(&r, 0, sizeof(r));
	struct ak_binfmt_table t2 = {0};
	table_add(&t2, DEBIAN_AARCH64);
	table_add(&t2, ":qemu-riscv64:M:18:\\xf3\\x00::/usr/bin/qemu-riscv64-static:F");
	const struct ak_platform *arm64 = ak_platform_parse("linux/arm64", NULL);
	struct ak_doctor_options only = {.host_root = root, .platforms = &arm64, .nplatforms = 1};
	struct ak_doctor_run one = {.opt = &only,
				    .r = &r,
				    .table = t2,
				    .table_read = true,
				    .dirfd = -1,
				    .platforms = &arm64,
				    .nplatforms = 1};
	ak_doctor_check_persistence(&one);
	ck_assert_ptr_nonnull(find_check(&r, "persistence.boot", "qemu-aarch64"));
	ck_assert_ptr_null(find_check(&r, "persistence.boot", "qemu-riscv64"));
	ak_doctor_report_clear(&r);
	ak_binfmt_table_clear(&one.table);

	/* nothing registered: nothing to persist */
	memset(&r, 0, sizeof(r));
	struct ak_doctor_run empty = {.opt = &opt, .r = &r, .table_read = true, .dirfd = -1};
	ak_doctor_check_persistence(&empty);
	c = find_check(&r, "persistence.boot", NULL);
	ck_assert_int_eq(c->status, AK_CHECK_INFO);
	ak_doctor_report_clear(&r);
}
END_TEST

Suite *doctor_persist_suite(void)
{
	Suite *s = suite_create("doctor_persist");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_rule_parse_debian);
	tcase_add_test(tc, test_rule_parse_rejects);
	tcase_add_test(tc, test_diff_names_fields);
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_override_order);
	tcase_add_test(tc, test_comments_and_bad_lines);
	tcase_add_test(tc, test_masked);
	tcase_add_test(tc, test_binfmts_db);
	tcase_add_test(tc, test_hostile_files);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_checks);
	tcase_add_test(tc, test_checks_masked_and_default_root);
	suite_add_tcase(s, tc);
	return s;
}
