/* Safe unpack: the content store a scan writes, and the final tree made from a view.
 * Layers are built here with libarchive's writer and scanned with the store consumer;
 * each test then reads the bytes on disk. Tests run without CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH and CAP_FOWNER, as an unprivileged user would, and keep a canary
 * directory beside the root that must stay empty. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "image/fsview.h"
#include "image/layer.h"
#include "image/stream.h"
#include "image/unpack.h"
#include "tests/testlib.h"

/* ---- building layers ---- */

/* One entry: 'f' file (data), 'd' dir, 'l' symlink (target), 'h' hard link (target),
 * 'c' char device, 'b' block device, 'p' FIFO; mode is the permission bits. */
struct spec {
	const char *path;
	char type;
	const char *data;
	unsigned mode;
};

static void make_tar(struct buf *out, const struct spec *specs, size_t n)
{
	struct archive *a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	add_filter(a, "gzip");
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open(a, out, NULL, buf_write, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const struct spec *s = &specs[i];
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, s->path);
		unsigned type = s->type == 'd'	 ? AE_IFDIR
				: s->type == 'l' ? AE_IFLNK
				: s->type == 'c' ? AE_IFCHR
				: s->type == 'b' ? AE_IFBLK
				: s->type == 'p' ? AE_IFIFO
						 : AE_IFREG;
		archive_entry_set_mode(e, type | s->mode);
		if (s->type == 'f')
			archive_entry_set_size(e, (la_int64_t)strlen(s->data));
		if (s->type == 'l')
			archive_entry_set_symlink(e, s->data);
		if (s->type == 'h')
			archive_entry_set_hardlink(e, s->data);
		if (s->type == 'c' || s->type == 'b')
			archive_entry_set_rdev(e, makedev(1, 3));
		ck_assert_int_ge(archive_write_header(a, e), ARCHIVE_WARN);
		if (s->type == 'f')
			archive_write_data(a, s->data, strlen(s->data));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* ---- the test's directory: T/root, T/canary, and the store at T/store ---- */

static char top[256], canary[300];
static int top_fd = -1;

static const cap_value_t dac_caps[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER};

/* Clear the capabilities that bypass file modes from the effective set, or raise them
 * again (those still permitted). */
static void set_dac_caps(cap_flag_value_t v)
{
	cap_t c = cap_get_proc();
	ck_assert_ptr_nonnull(c);
	for (size_t i = 0; i < sizeof(dac_caps) / sizeof(dac_caps[0]); i++) {
		cap_flag_value_t permitted = CAP_CLEAR;
		cap_get_flag(c, dac_caps[i], CAP_PERMITTED, &permitted);
		if (v == CAP_CLEAR || permitted == CAP_SET)
			cap_set_flag(c, CAP_EFFECTIVE, 1, &dac_caps[i], v);
	}
	ck_assert_int_eq(cap_set_proc(c), 0);
	cap_free(c);
}

/* Every test's directory lives in one made for the test case, which the runner removes
 * even when a test fails (a failed test ends its process before its own teardown). */
static char base[200];
/* the same on another filesystem (tmpfs), when there is one: "" otherwise */
static char shm_base[64];

static void base_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base, sizeof(base), "%s/ak-unpack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base));
	struct stat shm, here;
	snprintf(shm_base, sizeof(shm_base), "/dev/shm/ak-unpack-XXXXXX");
	if (stat("/dev/shm", &shm) < 0 || stat(base, &here) < 0 || shm.st_dev == here.st_dev ||
	    !mkdtemp(shm_base))
		shm_base[0] = '\0';
}

static void base_teardown(void)
{
	ak_rmtree_signal_safe(base);
	if (shm_base[0])
		ak_rmtree_signal_safe(shm_base);
}

static void setup(void)
{
	snprintf(top, sizeof(top), "%s/t-XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	top_fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(top_fd, 0);
	ck_assert_int_eq(mkdirat(top_fd, "canary", 0700), 0);
	snprintf(canary, sizeof(canary), "%s/canary", top);
	set_dac_caps(CAP_CLEAR);
}

static void teardown(void)
{
	set_dac_caps(CAP_SET);
	ak_rmtree_signal_safe(top);
	close(top_fd);
	top_fd = -1;
}

/* A new empty directory T/name, opened. */
static int new_root(const char *name)
{
	ck_assert_int_eq(mkdirat(top_fd, name, 0700), 0);
	int fd = openat(top_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* Entries of T/path (not "." and ".."); -1 when it is not there. */
static int count_entries(const char *path)
{
	int fd = openat(top_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

static void expect_canary_untouched(void)
{
	ck_assert_int_eq(count_entries("canary"), 0);
}

/* The bytes of dirfd/path (NUL-terminated), or NULL when it cannot be read. */
static char *read_at(int dirfd, const char *path)
{
	cleanup_fd int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *s = calloc(1, 4096);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_ge(read(fd, s, 4095), 0);
	return s;
}

static void expect_bytes(int dirfd, const char *path, const char *want)
{
	char *got = read_at(dirfd, path);
	ck_assert_msg(got != NULL, "'%s' cannot be read: %s", path, strerror(errno));
	ck_assert_str_eq(got, want);
	free(got);
}

static struct stat stat_at(int dirfd, const char *path)
{
	struct stat st;
	ck_assert_msg(fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0, "'%s': %s", path,
		      strerror(errno));
	return st;
}

static void expect_mode(int dirfd, const char *path, mode_t type, unsigned mode)
{
	struct stat st = stat_at(dirfd, path);
	ck_assert_msg((st.st_mode & S_IFMT) == type, "'%s' has type %o", path, st.st_mode & S_IFMT);
	ck_assert_msg((st.st_mode & 07777) == mode, "'%s' has mode %04o, not %04o", path,
		      st.st_mode & 07777, mode);
}

static void expect_absent(int dirfd, const char *path)
{
	struct stat st;
	ck_assert_msg(fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
		      "'%s' is there", path);
}

/* ---- scanning and viewing ---- */

static struct ak_unpack_store *new_store(uint64_t max)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_unpack_store *st = NULL;
	ck_assert_msg(ak_unpack_store_new(top_fd, "store", max, &st, &err) == 0, "%s",
		      err ? err->msg : "");
	return st;
}

/* Scan a layer built from specs into the store as job; NULL with *err when the scan or
 * the consumer failed. */
static struct ak_layer_index *scan_layer(struct ak_unpack_store *st, size_t job,
					 const struct spec *specs, size_t n, struct ak_error **err)
{
	struct buf b = {0};
	make_tar(&b, specs, n);
	struct ak_layer_consumer c;
	ck_assert_int_eq(ak_unpack_consumer(st, job, &c, err), 0);
	struct ak_stream *s = ak_memory_stream_open(b.data, b.len, err);
	ck_assert_ptr_nonnull(s);
	struct ak_layer_index *idx = NULL;
	int r = ak_layer_scan(s, NULL, &c, &idx, err);
	if (ak_unpack_consumer_finish(&c, err) < 0 && r == 0) {
		ak_layer_index_free(idx);
		idx = NULL;
	}
	free(b.data);
	return idx;
}

static struct ak_layer_index *scan_ok(struct ak_unpack_store *st, size_t job,
				      const struct spec *specs, size_t n)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_layer_index *idx = scan_layer(st, job, specs, n, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	return idx;
}
#define SCAN(st, job, arr) scan_ok(st, job, arr, sizeof(arr) / sizeof(arr[0]))
#define SCAN_ERR(st, job, arr, err) scan_layer(st, job, arr, sizeof(arr) / sizeof(arr[0]), err)

static struct ak_fsview *view_of(struct ak_layer_index *const *layers, size_t n)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_fsview *v = ak_fsview_new(&err);
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(ak_fsview_apply_layer(v, layers[i], (int)i, &err) == 0, "%s",
			      err ? err->msg : "");
	return v;
}

static void materialise_ok(struct ak_unpack_store *st, const struct ak_fsview *v, int root,
			   struct ak_unpack_stats *stats)
{
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_unpack_materialise(st, v, root, stats, &err) == 0, "%s",
		      err ? err->msg : "");
}

/* ---- tests ---- */

START_TEST(test_final_tree_bytes_and_modes)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {
		{"etc/", 'd', NULL, 0755},	  {"etc/hostname", 'f', "box\n", 0644},
		{"etc/os", 'f', "debian", 0444},  {"bin/sh", 'f', "#!sh", 0755},
		{"secret", 'f', "s", 0600},	  {"gone", 'f', "whited out", 0644},
		{"replaced", 'f', "lower", 0644}, {"empty", 'f', "", 0640},
	};
	const struct spec l1[] = {
		{".wh.gone", 'f', "", 0644},
		{"replaced", 'f', "upper", 0640},
		{"bin/new", 'f', "n", 0700},
	};
	struct ak_layer_index *idx[] = {SCAN(st, 0, l0), SCAN(st, 1, l1)};
	struct ak_fsview *v = view_of(idx, 2);
	cleanup_fd int root = new_root("root");
	struct ak_unpack_stats stats;
	materialise_ok(st, v, root, &stats);

	expect_bytes(root, "etc/hostname", "box\n");
	expect_mode(root, "etc/hostname", S_IFREG, 0644);
	expect_bytes(root, "etc/os", "debian");
	expect_mode(root, "etc/os", S_IFREG, 0444);
	expect_bytes(root, "bin/sh", "#!sh");
	expect_mode(root, "bin/sh", S_IFREG, 0755);
	expect_mode(root, "secret", S_IFREG, 0600);
	expect_bytes(root, "empty", "");
	expect_mode(root, "empty", S_IFREG, 0640);
	expect_bytes(root, "bin/new", "n");
	expect_mode(root, "bin/new", S_IFREG, 0700);
	expect_absent(root, "gone");
	expect_bytes(root, "replaced", "upper");
	expect_mode(root, "replaced", S_IFREG, 0640);
	expect_mode(root, "etc", S_IFDIR, 0755);
	expect_mode(root, "bin", S_IFDIR, 0755); /* implicit */
	ck_assert_int_eq(count_entries("root"), 5);
	ck_assert_uint_eq(stats.files, 7);
	ck_assert_uint_eq(stats.dirs, 2);
	ck_assert_uint_eq(stats.bytes, 4 + 6 + 4 + 1 + 0 + 1 + 5);
	/* one view, never planned: what survives was moved, what did not stays behind */
	ck_assert_int_eq(count_entries("store"), 2);

	ak_fsview_free(v);
	ak_layer_index_free(idx[0]);
	ak_layer_index_free(idx[1]);
	ak_unpack_store_free(st);
	ck_assert_int_eq(count_entries("store"), -1);
	expect_canary_untouched();
}
END_TEST

START_TEST(test_shared_layer_copied_then_moved)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec shared[] = {{"lib/libc.so", 'f', "LIBC", 0755}};
	const struct spec a[] = {{"bin/a", 'f', "A", 0755}};
	const struct spec b[] = {{"bin/b", 'f', "B", 0755}};
	struct ak_layer_index *ls = SCAN(st, 0, shared), *la = SCAN(st, 1, a), *lb = SCAN(st, 2, b);
	struct ak_layer_index *va_layers[] = {ls, la}, *vb_layers[] = {ls, lb};
	struct ak_fsview *va = view_of(va_layers, 2), *vb = view_of(vb_layers, 2);
	ak_unpack_plan(st, va);
	ak_unpack_plan(st, vb);

	cleanup_fd int ra = new_root("root-a");
	cleanup_fd int rb = new_root("root-b");
	struct ak_unpack_stats stats;
	materialise_ok(st, va, ra, &stats);
	ck_assert_uint_eq(stats.bytes, 5);
	/* the shared file was copied (the other view still needs it), bin/a moved */
	ck_assert_int_eq(count_entries("store"), 2);
	materialise_ok(st, vb, rb, &stats);
	ck_assert_int_eq(count_entries("store"), 0);

	expect_bytes(ra, "lib/libc.so", "LIBC");
	expect_bytes(rb, "lib/libc.so", "LIBC");
	expect_mode(ra, "lib/libc.so", S_IFREG, 0755);
	expect_mode(rb, "lib/libc.so", S_IFREG, 0755);
	ck_assert_uint_ne(stat_at(ra, "lib/libc.so").st_ino, stat_at(rb, "lib/libc.so").st_ino);
	expect_bytes(ra, "bin/a", "A");
	expect_absent(ra, "bin/b");
	expect_bytes(rb, "bin/b", "B");
	expect_absent(rb, "bin/a");

	ak_fsview_free(va);
	ak_fsview_free(vb);
	ak_layer_index_free(ls);
	ak_layer_index_free(la);
	ak_layer_index_free(lb);
	ak_unpack_store_free(st);
}
END_TEST

START_TEST(test_setid_bits_dropped)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {
		{"bin/su", 'f', "su", 04755},  {"bin/wall", 'f', "wall", 02755},
		{"bin/both", 'f', "b", 06711}, {"bin/plain", 'f', "p", 0755},
		{"tmp/", 'd', NULL, 01777},    {"srv/", 'd', NULL, 02775},
	};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_fd int root = new_root("root");
	struct ak_unpack_stats stats;
	materialise_ok(st, v, root, &stats);
	expect_mode(root, "bin/su", S_IFREG, 0755);
	expect_mode(root, "bin/wall", S_IFREG, 0755);
	expect_mode(root, "bin/both", S_IFREG, 0711);
	expect_mode(root, "bin/plain", S_IFREG, 0755);
	expect_mode(root, "tmp", S_IFDIR, 01777); /* the sticky bit is harmless: kept */
	expect_mode(root, "srv", S_IFDIR, 0775);
	expect_bytes(root, "bin/su", "su");
	ck_assert_uint_eq(stats.dropped_setid, 3);
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

START_TEST(test_devices_and_fifos_left_out)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {
		{"dev/", 'd', NULL, 0755},    {"dev/null", 'c', NULL, 0666},
		{"dev/sda", 'b', NULL, 0660}, {"run/initctl", 'p', NULL, 0600},
		{"dev/keep", 'f', "k", 0644},
	};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_fd int root = new_root("root");
	struct ak_unpack_stats stats;
	materialise_ok(st, v, root, &stats);
	expect_absent(root, "dev/null");
	expect_absent(root, "dev/sda");
	expect_absent(root, "run/initctl");
	expect_mode(root, "run", S_IFDIR, 0755);
	expect_bytes(root, "dev/keep", "k");
	ck_assert_int_eq(count_entries("root/dev"), 1);
	ck_assert_uint_eq(stats.skipped_special, 3);
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

/* A file below a symlink that points out lands inside the root (where the image's own
 * resolution puts it), never where the link points on the host; in one layer or
 * across two. */
START_TEST(test_symlink_escapes_stay_inside)
{
	struct ak_unpack_store *st = new_store(0);
	char climb[PATH_MAX];
	snprintf(climb, sizeof(climb), "../../../../../../../..%s", canary);
	const struct spec l0[] = {
		{"evil", 'l', "/etc", 0777},  {"evil/archkit-unpack-probe", 'f', "pwned", 0644},
		{"abs", 'l', canary, 0777},   {"abs/x", 'f', "pwned", 0644},
		{"rel", 'l', climb, 0777},    {"rel/y", 'f', "pwned", 0644},
		{"cross", 'l', canary, 0777},
	};
	const struct spec l1[] = {{"cross/z", 'f', "pwned", 0644}};
	struct ak_layer_index *idx[] = {SCAN(st, 0, l0), SCAN(st, 1, l1)};
	struct ak_fsview *v = view_of(idx, 2);
	cleanup_fd int root = new_root("root");
	materialise_ok(st, v, root, NULL);

	expect_canary_untouched();
	expect_absent(AT_FDCWD, "/etc/archkit-unpack-probe");
	/* where the image's own resolution put them */
	expect_bytes(root, "etc/archkit-unpack-probe", "pwned");
	const char *inside = canary + 1;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/x", inside);
	expect_bytes(root, p, "pwned");
	snprintf(p, sizeof(p), "%s/y", inside);
	expect_bytes(root, p, "pwned");
	snprintf(p, sizeof(p), "%s/z", inside);
	expect_bytes(root, p, "pwned");
	/* the links themselves, as written */
	char target[PATH_MAX] = "";
	ck_assert_int_gt(readlinkat(root, "evil", target, sizeof(target) - 1), 0);
	ck_assert_str_eq(target, "/etc");
	expect_mode(root, "cross", S_IFLNK, 0777);
	ak_fsview_free(v);
	ak_layer_index_free(idx[0]);
	ak_layer_index_free(idx[1]);
	ak_unpack_store_free(st);
	expect_canary_untouched();
}
END_TEST

/* Names that climb out, absolute names, a PAX path that climbs out, hard links out: the
 * layer is refused and nothing is written outside the store. */
START_TEST(test_escaping_names_write_nothing_outside)
{
	struct stat passwd_before;
	ck_assert_int_eq(stat("/etc/passwd", &passwd_before), 0);
	char abs_name[PATH_MAX], pax_name[PATH_MAX];
	snprintf(abs_name, sizeof(abs_name), "%s/x", canary);
	/* longer than ustar's 100 bytes: the path lives in a PAX header alone */
	snprintf(pax_name, sizeof(pax_name),
		 "d/%0120d/../../../../../../../../../../../../../..%s/pax", 0, canary);
	const struct spec climb[] = {{"ok", 'f', "ok", 0644},
				     {"../../canary/x", 'f', "pwned", 0644}};
	const struct spec absolute[] = {{"ok", 'f', "ok", 0644}, {abs_name, 'f', "pwned", 0644}};
	const struct spec pax[] = {{"ok", 'f', "ok", 0644}, {pax_name, 'f', "pwned", 0644}};
	const struct spec link_out[] = {{"ok", 'f', "ok", 0644}, {"pw", 'h', "../../outside", 0}};
	const struct spec link_abs[] = {{"ok", 'f', "ok", 0644}, {"pw", 'h', "/etc/passwd", 0}};
	struct {
		const struct spec *specs;
		size_t n;
		const char *want;
	} cases[] = {
		{climb, 2, "entry '../../canary/x' escapes the root"},
		{absolute, 2, "is an absolute path"},
		{pax, 2, "escapes the root"},
		{link_out, 2, "entry '../../outside' escapes the root"},
		{link_abs, 2, "entry '/etc/passwd' is an absolute path"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ak_unpack_store *st = new_store(0);
		cleanup_error struct ak_error *err = NULL;
		struct ak_layer_index *idx = scan_layer(st, 0, cases[i].specs, cases[i].n, &err);
		ck_assert_msg(idx == NULL, "case %zu scanned", i);
		ck_assert_int_eq(err->status, AK_EXIT_ENV);
		ck_assert_msg(strstr(err->msg, cases[i].want), "case %zu: %s", i, err->msg);
		ak_unpack_store_free(st);
		expect_canary_untouched();
		ck_assert_int_eq(count_entries("."), 1); /* the canary alone */
	}
	struct stat passwd_after;
	ck_assert_int_eq(stat("/etc/passwd", &passwd_after), 0);
	ck_assert_uint_eq(passwd_after.st_nlink, passwd_before.st_nlink);
	ck_assert_int_eq(passwd_after.st_mtime, passwd_before.st_mtime);
}
END_TEST

/* A hard link to the image's own /etc/passwd is a link inside the root. */
START_TEST(test_hardlink_to_passwd_stays_inside)
{
	struct stat passwd_before;
	ck_assert_int_eq(stat("/etc/passwd", &passwd_before), 0);
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {{"etc/passwd", 'f', "root:x:0:0::/:/bin/sh\n", 0644},
				  {"pw", 'h', "etc/passwd", 0}};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_fd int root = new_root("root");
	materialise_ok(st, v, root, NULL);
	expect_bytes(root, "pw", "root:x:0:0::/:/bin/sh\n");
	ck_assert_uint_eq(stat_at(root, "pw").st_ino, stat_at(root, "etc/passwd").st_ino);
	struct stat passwd_after;
	ck_assert_int_eq(stat("/etc/passwd", &passwd_after), 0);
	ck_assert_uint_eq(passwd_after.st_nlink, passwd_before.st_nlink);
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
	expect_canary_untouched();
}
END_TEST

START_TEST(test_readonly_dirs_receive_children)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {
		{"ro/", 'd', NULL, 0555},	  {"ro/file", 'f', "f", 0444},
		{"ro/sub/", 'd', NULL, 0500},	  {"ro/sub/g", 'f', "g", 0644},
		{"ro/link", 'l', "file", 0777},	  {"locked/", 'd', NULL, 0000},
		{"locked/inner", 'f', "i", 0600}, {"locked/deeper/d", 'f', "d", 0600},
	};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_fd int root = new_root("root");
	materialise_ok(st, v, root, NULL);
	expect_mode(root, "ro", S_IFDIR, 0555);
	expect_mode(root, "ro/file", S_IFREG, 0444);
	expect_bytes(root, "ro/file", "f");
	expect_mode(root, "ro/sub", S_IFDIR, 0500);
	expect_bytes(root, "ro/sub/g", "g");
	expect_mode(root, "ro/link", S_IFLNK, 0777);
	expect_mode(root, "locked", S_IFDIR, 0000);
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
	/* and the caller can still remove the tree */
	close(steal_fd(&root));
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/root", top);
	ck_assert_int_eq(ak_rmtree_signal_safe(path), 0);
	ck_assert_int_eq(count_entries("root"), -1);
}
END_TEST

START_TEST(test_byte_cap)
{
	/* one file over the cap: the walk stops, and finish says it too */
	struct ak_unpack_store *st = new_store(8);
	const struct spec big[] = {{"big", 'f', "0123456789abcdef", 0644}};
	struct buf b = {0};
	make_tar(&b, big, 1);
	struct ak_layer_consumer c;
	cleanup_error struct ak_error *err = NULL, *ferr = NULL;
	ck_assert_int_eq(ak_unpack_consumer(st, 0, &c, &err), 0);
	struct ak_layer_index *idx = NULL;
	ck_assert_int_lt(
		ak_layer_scan(ak_memory_stream_open(b.data, b.len, NULL), NULL, &c, &idx, &err), 0);
	ck_assert_int_eq(err->kind, AK_ERR_LIMIT);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, "'big': the unpacked files exceed the limit of 8 bytes"),
		      "%s", err->msg);
	ck_assert_int_lt(ak_unpack_consumer_finish(&c, &ferr), 0);
	ck_assert_int_eq(ferr->kind, AK_ERR_LIMIT);
	ck_assert_int_eq(count_entries("store"), 0); /* the partial file is gone */
	free(b.data);
	ak_unpack_store_free(st);

	/* the cap is the sum over every consumer */
	st = new_store(10);
	const struct spec six[] = {{"a", 'f', "aaaaaa", 0644}};
	const struct spec six2[] = {{"b", 'f', "bbbbbb", 0644}};
	struct ak_layer_index *first = SCAN(st, 0, six);
	ak_error_clear(&err);
	ck_assert_ptr_null(SCAN_ERR(st, 1, six2, &err));
	ck_assert_int_eq(err->kind, AK_ERR_LIMIT);
	ak_layer_index_free(first);
	ak_unpack_store_free(st);

	/* and copies count: a second view's copy passes it */
	st = new_store(15);
	const struct spec ten[] = {{"f", 'f', "0123456789", 0644}};
	idx = SCAN(st, 0, ten);
	struct ak_fsview *v1 = view_of(&idx, 1), *v2 = view_of(&idx, 1);
	ak_unpack_plan(st, v1);
	ak_unpack_plan(st, v2);
	cleanup_fd int root = new_root("root");
	ak_error_clear(&err);
	ck_assert_int_lt(ak_unpack_materialise(st, v1, root, NULL, &err), 0);
	ck_assert_int_eq(err->kind, AK_ERR_LIMIT);
	ck_assert_msg(strstr(err->msg, "'f': the unpacked files exceed"), "%s", err->msg);
	expect_absent(root, "f");
	ak_fsview_free(v1);
	ak_fsview_free(v2);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

START_TEST(test_hardlinks_share_inodes)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {
		{"bin/busybox", 'f', "BB", 0755},
		{"bin/sh", 'h', "bin/busybox", 0},
		{"a-first", 'h', "bin/busybox", 0}, /* sorts before its target */
		{"t", 'f', "T", 0640},
		{"l1", 'h', "t", 0},
		{"l2", 'h', "t", 0},
		{"orig", 'f', "old", 0644},
		{"keeps-old", 'h', "orig", 0},
	};
	const struct spec l1[] = {{".wh.t", 'f', "", 0644}, {"orig", 'f', "new", 0644}};
	struct ak_layer_index *idx[] = {SCAN(st, 0, l0), SCAN(st, 1, l1)};
	struct ak_fsview *v = view_of(idx, 2);
	cleanup_fd int root = new_root("root");
	struct ak_unpack_stats stats;
	materialise_ok(st, v, root, &stats);

	struct stat bb = stat_at(root, "bin/busybox");
	ck_assert_uint_eq(stat_at(root, "bin/sh").st_ino, bb.st_ino);
	ck_assert_uint_eq(stat_at(root, "a-first").st_ino, bb.st_ino);
	ck_assert_uint_eq(bb.st_nlink, 3);
	expect_bytes(root, "bin/sh", "BB");
	expect_mode(root, "bin/sh", S_IFREG, 0755);
	/* the target is whited out; its links keep the file, still shared */
	expect_absent(root, "t");
	expect_bytes(root, "l1", "T");
	expect_mode(root, "l1", S_IFREG, 0640);
	ck_assert_uint_eq(stat_at(root, "l1").st_ino, stat_at(root, "l2").st_ino);
	ck_assert_uint_eq(stat_at(root, "l1").st_nlink, 2);
	/* the target replaced: the link keeps the old file, on its own */
	expect_bytes(root, "orig", "new");
	expect_bytes(root, "keeps-old", "old");
	ck_assert_uint_ne(stat_at(root, "orig").st_ino, stat_at(root, "keeps-old").st_ino);
	ck_assert_uint_eq(stats.files, 4);
	ck_assert_uint_eq(stats.hardlinks, 3);
	ck_assert_uint_eq(stats.bytes, 2 + 1 + 3 + 3);
	ak_fsview_free(v);
	ak_layer_index_free(idx[0]);
	ak_layer_index_free(idx[1]);
	ak_unpack_store_free(st);
}
END_TEST

/* Hard links shared by two views: each view's links share an inode of their own. */
START_TEST(test_hardlinks_in_two_views)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {{"bin/busybox", 'f', "BB", 0755},
				  {"bin/sh", 'h', "bin/busybox", 0}};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *va = view_of(&idx, 1), *vb = view_of(&idx, 1);
	ak_unpack_plan(st, va);
	ak_unpack_plan(st, vb);
	cleanup_fd int ra = new_root("root-a");
	cleanup_fd int rb = new_root("root-b");
	materialise_ok(st, va, ra, NULL);
	ck_assert_int_eq(count_entries("store"), 1);
	materialise_ok(st, vb, rb, NULL);
	ck_assert_int_eq(count_entries("store"), 0);
	ck_assert_uint_eq(stat_at(ra, "bin/sh").st_ino, stat_at(ra, "bin/busybox").st_ino);
	ck_assert_uint_eq(stat_at(rb, "bin/sh").st_ino, stat_at(rb, "bin/busybox").st_ino);
	ck_assert_uint_ne(stat_at(ra, "bin/sh").st_ino, stat_at(rb, "bin/sh").st_ino);
	expect_bytes(rb, "bin/sh", "BB");
	ak_fsview_free(va);
	ak_fsview_free(vb);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

START_TEST(test_symlinks_written_as_is)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {
		{"abs", 'l', "/etc/passwd", 0777},
		{"rel", 'l', "../lib/x", 0777},
		{"dir/up", 'l', "..", 0777},
		{"lib/libc.so.6", 'l', "libc-2.36.so", 0777},
	};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_fd int root = new_root("root");
	struct ak_unpack_stats stats;
	materialise_ok(st, v, root, &stats);
	const char *want[][2] = {{"abs", "/etc/passwd"},
				 {"rel", "../lib/x"},
				 {"dir/up", ".."},
				 {"lib/libc.so.6", "libc-2.36.so"}};
	for (size_t i = 0; i < 4; i++) {
		char got[PATH_MAX] = "";
		expect_mode(root, want[i][0], S_IFLNK, 0777);
		ck_assert_int_gt(readlinkat(root, want[i][0], got, sizeof(got) - 1), 0);
		ck_assert_str_eq(got, want[i][1]);
	}
	ck_assert_uint_eq(stats.symlinks, 4);
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

/* The view never puts an entry below a symlink; were one there on disk, nothing is
 * written through it. */
START_TEST(test_symlink_on_disk_not_followed)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {{"etc/passwd", 'f', "pwned", 0644}};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_fd int root = new_root("root");
	ck_assert_int_eq(symlinkat(canary, root, "etc"), 0);
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_lt(ak_unpack_materialise(st, v, root, NULL, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, "'etc'"), "%s", err->msg);
	expect_canary_untouched();
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

/* Names no layer walker makes ("..", "a/..") reach the unpack only by a bug upstream:
 * refused too, with the path named. */
START_TEST(test_dot_names_refused)
{
	struct ak_unpack_store *st = new_store(0);
	const char *paths[] = {"..", "a/..", "a/."};
	for (size_t i = 0; i < 3; i++) {
		struct ak_layer_entry e = {.path = paths[i], .type = AK_ENTRY_DIR, .mode = 0755};
		struct ak_layer_index idx = {.entries = &e, .count = 1};
		struct ak_fsview *v = view_of((struct ak_layer_index *[]){&idx}, 1);
		char name[16];
		snprintf(name, sizeof(name), "root-%zu", i);
		cleanup_fd int root = new_root(name);
		cleanup_error struct ak_error *err = NULL;
		ck_assert_int_lt(ak_unpack_materialise(st, v, root, NULL, &err), 0);
		char want[64];
		snprintf(want, sizeof(want), "'%s': not a path inside the root", paths[i]);
		ck_assert_msg(strstr(err->msg, want), "%s", err->msg);
		ak_fsview_free(v);
	}
	ak_unpack_store_free(st);
	expect_canary_untouched();
}
END_TEST

/* A store that cannot take a file: an empty file never reaches data(), so the walk
 * succeeds and finish reports it; a file with bytes stops the walk. */
START_TEST(test_store_errors_reported)
{
	struct ak_unpack_store *st = new_store(0);
	ck_assert_int_eq(fchmodat(top_fd, "store", 0500, 0), 0);
	const struct spec empty[] = {{"e", 'f', "", 0644}};
	struct buf b = {0};
	make_tar(&b, empty, 1);
	struct ak_layer_consumer c;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_unpack_consumer(st, 0, &c, &err), 0);
	struct ak_layer_index *idx = NULL;
	ck_assert_int_eq(
		ak_layer_scan(ak_memory_stream_open(b.data, b.len, NULL), NULL, &c, &idx, &err), 0);
	ck_assert_int_lt(ak_unpack_consumer_finish(&c, &err), 0);
	ck_assert_int_eq(err->errnum, EACCES);
	ck_assert_msg(strstr(err->msg, "cannot store 'e' in the unpack store"), "%s", err->msg);
	ak_layer_index_free(idx);
	free(b.data);

	const struct spec full[] = {{"f", 'f', "bytes", 0644}, {"g", 'f', "more", 0644}};
	ak_error_clear(&err);
	ck_assert_ptr_null(SCAN_ERR(st, 1, full, &err));
	ck_assert_msg(strstr(err->msg, "cannot store 'f' in the unpack store"), "%s", err->msg);
	ck_assert_int_eq(fchmodat(top_fd, "store", 0700, 0), 0);
	ak_unpack_store_free(st);
	ck_assert_int_eq(count_entries("store"), -1);
}
END_TEST

/* A view whose files were not stored here (another store, no consumer) is refused. */
START_TEST(test_foreign_facts_refused)
{
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {{"f", 'f', "x", 0644}};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	cleanup_error struct ak_error *err = NULL;
	struct ak_unpack_store *other = NULL;
	ck_assert_int_eq(ak_unpack_store_new(top_fd, "other", 0, &other, &err), 0);
	cleanup_fd int root = new_root("root");
	ck_assert_int_lt(ak_unpack_materialise(other, v, root, NULL, &err), 0);
	ck_assert_msg(strstr(err->msg, "'f': its bytes are not in the unpack store"), "%s",
		      err->msg);
	expect_absent(root, "f");
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(other);
	ak_unpack_store_free(st);
	ck_assert_int_eq(count_entries("other"), -1);
}
END_TEST

/* A root on another filesystem than the store: rename cannot move, so it copies (and
 * the copy still counts against the cap). */
START_TEST(test_root_on_another_filesystem)
{
	if (!shm_base[0]) {
		fprintf(stderr, "skip: no writable /dev/shm on another filesystem\n");
		return;
	}
	struct ak_unpack_store *st = new_store(0);
	const struct spec l0[] = {{"bin/sh", 'f', "#!sh", 04755}, {"big", 'f', "0123456789", 0600}};
	struct ak_layer_index *idx = SCAN(st, 0, l0);
	struct ak_fsview *v = view_of(&idx, 1);
	char path[128];
	snprintf(path, sizeof(path), "%s/t-XXXXXX", shm_base);
	ck_assert_ptr_nonnull(mkdtemp(path));
	cleanup_fd int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root, 0);
	struct ak_unpack_stats stats;
	materialise_ok(st, v, root, &stats);
	expect_bytes(root, "bin/sh", "#!sh");
	expect_mode(root, "bin/sh", S_IFREG, 0755);
	expect_bytes(root, "big", "0123456789");
	expect_mode(root, "big", S_IFREG, 0600);
	ck_assert_uint_eq(stats.files, 2);
	ck_assert_uint_eq(stats.dropped_setid, 1);
	ak_fsview_free(v);
	ak_layer_index_free(idx);
	ak_unpack_store_free(st);
}
END_TEST

/* Consumers on several threads at once share the cap: the store never holds more. */
struct job {
	struct ak_unpack_store *st;
	size_t no;
	struct ak_layer_index *idx;
	struct ak_error *err;
	const struct spec *specs;
	size_t n;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	j->idx = scan_layer(j->st, j->no, j->specs, j->n, &j->err);
	return NULL;
}

static uint64_t store_bytes(void)
{
	cleanup_fd int fd = openat(top_fd, "store", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	DIR *d = fdopendir(steal_fd(&fd));
	uint64_t sum = 0;
	for (struct dirent *de; (de = readdir(d));) {
		struct stat s;
		if (de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &s, 0) == 0)
			sum += (uint64_t)s.st_size;
	}
	closedir(d);
	return sum;
}

START_TEST(test_parallel_consumers)
{
	enum { JOBS = 4, FILES = 40 };
	static char data[1000];
	memset(data, 'x', sizeof(data) - 1);
	static char names[JOBS][FILES][32];
	static struct spec specs[JOBS][FILES];
	for (int j = 0; j < JOBS; j++)
		for (int i = 0; i < FILES; i++) {
			snprintf(names[j][i], sizeof(names[j][i]), "job%d/f%d", j, i);
			specs[j][i] = (struct spec){names[j][i], 'f', data, 0644};
		}
	const uint64_t per_job = FILES * (sizeof(data) - 1);
	for (int round = 0; round < 2; round++) {
		/* round 0: everything fits; round 1: room for two jobs and a half */
		uint64_t cap = round == 0 ? JOBS * per_job : 5 * per_job / 2;
		struct ak_unpack_store *st = new_store(cap);
		struct job jobs[JOBS];
		pthread_t t[JOBS];
		for (int j = 0; j < JOBS; j++) {
			jobs[j] = (struct job){
				.st = st, .no = (size_t)j, .specs = specs[j], .n = FILES};
			ck_assert_int_eq(pthread_create(&t[j], NULL, run_job, &jobs[j]), 0);
		}
		int failed = 0;
		for (int j = 0; j < JOBS; j++) {
			pthread_join(t[j], NULL);
			if (!jobs[j].idx) {
				ck_assert_int_eq(jobs[j].err->kind, AK_ERR_LIMIT);
				failed++;
			}
		}
		ck_assert_uint_le(store_bytes(), cap);
		if (round == 0) {
			ck_assert_int_eq(failed, 0);
			struct ak_layer_index *layers[JOBS];
			for (int j = 0; j < JOBS; j++)
				layers[j] = jobs[j].idx;
			struct ak_fsview *v = view_of(layers, JOBS);
			cleanup_fd int root = new_root("root");
			struct ak_unpack_stats stats;
			materialise_ok(st, v, root, &stats);
			ck_assert_uint_eq(stats.files, JOBS * FILES);
			ck_assert_uint_eq(stats.bytes, JOBS * per_job);
			expect_bytes(root, "job3/f39", data);
			ak_fsview_free(v);
		} else {
			ck_assert_int_ge(failed, 1);
		}
		for (int j = 0; j < JOBS; j++) {
			ak_layer_index_free(jobs[j].idx);
			ak_error_free(jobs[j].err);
		}
		ak_unpack_store_free(st);
	}
}
END_TEST

Suite *unpack_suite(void)
{
	Suite *s = suite_create("unpack");
	TCase *tc = tcase_create("materialise");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_final_tree_bytes_and_modes);
	tcase_add_test(tc, test_shared_layer_copied_then_moved);
	tcase_add_test(tc, test_setid_bits_dropped);
	tcase_add_test(tc, test_devices_and_fifos_left_out);
	tcase_add_test(tc, test_symlink_escapes_stay_inside);
	tcase_add_test(tc, test_escaping_names_write_nothing_outside);
	tcase_add_test(tc, test_hardlink_to_passwd_stays_inside);
	tcase_add_test(tc, test_readonly_dirs_receive_children);
	tcase_add_test(tc, test_byte_cap);
	tcase_add_test(tc, test_hardlinks_share_inodes);
	tcase_add_test(tc, test_hardlinks_in_two_views);
	tcase_add_test(tc, test_symlinks_written_as_is);
	tcase_add_test(tc, test_symlink_on_disk_not_followed);
	tcase_add_test(tc, test_dot_names_refused);
	tcase_add_test(tc, test_store_errors_reported);
	tcase_add_test(tc, test_foreign_facts_refused);
	tcase_add_test(tc, test_root_on_another_filesystem);
	tcase_add_test(tc, test_parallel_consumers);
	suite_add_tcase(s, tc);
	return s;
}
