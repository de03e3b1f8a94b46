/* doctor's Prometheus rendering and the atomic --output writer. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/doctor-output.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

static char *render(const struct ak_doctor_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	doctor_write_prometheus(r, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

static void add_platform(struct ak_doctor_report *r, const char *name, const char *how, bool ok,
			 const char *entry, const char *version)
{
	r->platforms = ak_xreallocarray(r->platforms, r->nplatforms + 1, sizeof(*r->platforms));
	struct ak_doctor_platform *p = &r->platforms[r->nplatforms++];
	memset(p, 0, sizeof(*p));
	p->platform = ak_platform_parse(name, NULL);
	ck_assert_ptr_nonnull(p->platform);
	p->how = how;
	p->ok = ok;
	p->entry = ak_xstrdup(entry);
	p->qemu_version = ak_xstrdup(version);
}

START_TEST(test_prometheus_exact)
{
	struct ak_doctor_report r = {0};
	ak_doctor_add(&r, "kernel.version", AK_CHECK_PASS, NULL, NULL, NULL, "6.8");
	ak_doctor_add(&r, "handler.flags", AK_CHECK_WARN, "linux/arm64", "qemu-aarch64",
		      "archkit binfmt install --replace always linux/arm64", "no F");
	ak_doctor_add(&r, "docker.daemon", AK_CHECK_SKIPPED, NULL, NULL, NULL, "no docker");
	add_platform(&r, "linux/amd64", "native", true, NULL, NULL);
	add_platform(&r, "linux/arm64", "emulated", false, "qemu-aarch64", "8.2.2");
	r.finished = 1700000000;
	r.elapsed_ms = 1234;
	cleanup_free char *got = render(&r);
	const char *want =
		"# HELP archkit_check_ok Whether an archkit doctor check is healthy: 1 pass, info "
		"or "
		"skipped; 0 warn or fail. check is the id in archkit-doctor(1); entry and platform "
		"are set when the check is about one binfmt_misc entry or platform.\n"
		"# TYPE archkit_check_ok gauge\n"
		"archkit_check_ok{check=\"kernel.version\"} 1\n"
		"archkit_check_ok{check=\"handler.flags\",entry=\"qemu-aarch64\",platform=\"linux/"
		"arm64\"} 0\n"
		"archkit_check_ok{check=\"docker.daemon\"} 1\n"
		"# HELP archkit_check_status The status of each archkit doctor check (pass, info, "
		"warn, fail, skipped): one series per check, value 1, its status in the status "
		"label.\n"
		"# TYPE archkit_check_status gauge\n"
		"archkit_check_status{check=\"kernel.version\",status=\"pass\"} 1\n"
		"archkit_check_status{check=\"handler.flags\",entry=\"qemu-aarch64\",platform="
		"\"linux/arm64\",status=\"warn\"} 1\n"
		"archkit_check_status{check=\"docker.daemon\",status=\"skipped\"} 1\n"
		"# HELP archkit_platform_ok Whether code of a platform runs on this machine: 1 its "
		"smoke binary ran and reported its machine. how is native, emulated or none.\n"
		"# TYPE archkit_platform_ok gauge\n"
		"archkit_platform_ok{platform=\"linux/amd64\",how=\"native\"} 1\n"
		"archkit_platform_ok{platform=\"linux/arm64\",how=\"emulated\"} 0\n"
		"# HELP archkit_qemu_info The QEMU version behind a platform's binfmt_misc entry "
		"(always 1).\n"
		"# TYPE archkit_qemu_info gauge\n"
		"archkit_qemu_info{platform=\"linux/arm64\",entry=\"qemu-aarch64\",version="
		"\"8.2.2\"} 1\n"
		"# HELP archkit_doctor_checks How many archkit doctor checks have each status.\n"
		"# TYPE archkit_doctor_checks gauge\n"
		"archkit_doctor_checks{status=\"pass\"} 1\n"
		"archkit_doctor_checks{status=\"info\"} 0\n"
		"archkit_doctor_checks{status=\"warn\"} 1\n"
		"archkit_doctor_checks{status=\"fail\"} 0\n"
		"archkit_doctor_checks{status=\"skipped\"} 1\n"
		"# HELP archkit_doctor_healthy 1 when no archkit doctor check failed (archkit "
		"doctor "
		"exits 0), else 0.\n"
		"# TYPE archkit_doctor_healthy gauge\n"
		"archkit_doctor_healthy 1\n"
		"# HELP archkit_doctor_last_run_timestamp_seconds When archkit doctor finished, in "
		"seconds since the Unix epoch.\n"
		"# TYPE archkit_doctor_last_run_timestamp_seconds gauge\n"
		"archkit_doctor_last_run_timestamp_seconds 1700000000\n"
		"# HELP archkit_doctor_duration_seconds How long archkit doctor took.\n"
		"# TYPE archkit_doctor_duration_seconds gauge\n"
		"archkit_doctor_duration_seconds 1.234\n";
	ck_assert_str_eq(got, want);
	ak_doctor_report_clear(&r);
}
END_TEST

START_TEST(test_prometheus_unhealthy_and_empty)
{
	/* no platforms, no QEMU: those families are left out, not written empty */
	struct ak_doctor_report r = {0};
	ak_doctor_add(&r, "mount.filesystem", AK_CHECK_FAIL, NULL, NULL, "mount it", "tmpfs");
	r.elapsed_ms = 7;
	cleanup_free char *got = render(&r);
	ck_assert_ptr_nonnull(strstr(got, "archkit_check_ok{check=\"mount.filesystem\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(got, "\narchkit_doctor_healthy 0\n"));
	ck_assert_ptr_nonnull(strstr(got, "\narchkit_doctor_duration_seconds 0.007\n"));
	ck_assert_ptr_nonnull(strstr(got, "archkit_doctor_checks{status=\"fail\"} 1\n"));
	ck_assert_ptr_null(strstr(got, "archkit_platform_ok"));
	ck_assert_ptr_null(strstr(got, "archkit_qemu_info"));
	ak_doctor_report_clear(&r);
}
END_TEST

START_TEST(test_prometheus_label_escaping)
{
	struct ak_doctor_report r = {0};
	/* an entry name can hold any byte but '/': quotes, backslashes, a newline that would
	 * forge a series, and bytes that are not UTF-8 (a scraper rejects the whole file) */
	ak_doctor_add(&r, "handler.unowned", AK_CHECK_INFO, NULL, "a\"b\\c\nd\xff\xc3\xa9", NULL,
		      "x");
	cleanup_free char *got = render(&r);
	ck_assert_ptr_nonnull(strstr(
		got, "archkit_check_ok{check=\"handler.unowned\",entry=\"a\\\"b\\\\c\\nd\\\\xff"
		     "\xc3\xa9\"} 1\n"));
	/* no line of the output starts with anything but a metric name or '#' */
	for (char *line = got; *line; line = strchr(line, '\n') + 1)
		ck_assert_msg(*line == '#' || strncmp(line, "archkit_", 8) == 0, "line: %.40s",
			      line);
	ak_doctor_report_clear(&r);
}
END_TEST

START_TEST(test_prometheus_duplicates_fold)
{
	/* a repeated (check, entry, platform) would make a scraper drop the file */
	struct ak_doctor_report r = {0};
	ak_doctor_add(&r, "handler.enabled", AK_CHECK_PASS, NULL, "qemu-x", NULL, "a");
	ak_doctor_add(&r, "handler.enabled", AK_CHECK_FAIL, NULL, "qemu-x", "f", "b");
	ak_doctor_add(&r, "handler.enabled", AK_CHECK_PASS, NULL, "qemu-y", NULL, "c");
	cleanup_free char *got = render(&r);
	const char *line = "archkit_check_ok{check=\"handler.enabled\",entry=\"qemu-x\"} 0\n";
	const char *at = strstr(got, line);
	ck_assert_ptr_nonnull(at);
	ck_assert_ptr_null(strstr(at + strlen(line), "entry=\"qemu-x\"} "));
	ck_assert_ptr_nonnull(
		strstr(got, "archkit_check_ok{check=\"handler.enabled\",entry=\"qemu-y\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(got, "entry=\"qemu-x\",status=\"fail\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(got, "archkit_doctor_checks{status=\"pass\"} 1\n"));
	ak_doctor_report_clear(&r);
}
END_TEST

/* cli_write_atomic */

static char dir[] = "/tmp/archkit-atomic-XXXXXX";

static void setup_dir(void)
{
	strcpy(dir, "/tmp/archkit-atomic-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static size_t count_files(const char *d)
{
	DIR *dd = opendir(d);
	ck_assert_ptr_nonnull(dd);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dd)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(dd);
	return n;
}

static void write_text(FILE *f, void *ctx)
{
	fputs(ctx, f);
}

static void write_big(FILE *f, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < 1000; i++)
		fputs("archkit_check_ok{check=\"padding\"} 1 ..................................\n",
		      f);
}

static char *slurp(const char *path)
{
	char *s = NULL;
	ck_assert_int_eq(ak_read_file(path, 1 << 20, &s, NULL, NULL), 0);
	return s;
}

START_TEST(test_atomic_writes_with_mode)
{
	cleanup_free char *path = ak_xasprintf("%s/archkit.prom", dir);
	mode_t old = umask(077); /* the collector runs as another user: 0644 whatever the umask */
	ck_assert_int_eq(cli_write_atomic(path, write_text, "first\n", NULL), 0);
	ck_assert_int_eq(cli_write_atomic(path, write_text, "second\n", NULL), 0);
	umask(old);
	cleanup_free char *got = slurp(path);
	ck_assert_str_eq(got, "second\n");
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ck_assert_uint_eq(count_files(dir), 1); /* no temp file left beside it */
}
END_TEST

START_TEST(test_atomic_write_failure_keeps_old)
{
	cleanup_free char *path = ak_xasprintf("%s/archkit.prom", dir);
	ck_assert_int_eq(cli_write_atomic(path, write_text, "old\n", NULL), 0);
	/* a write that fails half way (the file size limit stands in for a full disk) */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
		setrlimit(RLIMIT_FSIZE, &rl);
		struct ak_error *err = NULL;
		int rc = cli_write_atomic(path, write_big, NULL, &err);
		bool right = rc < 0 && err && err->status == AK_EXIT_ENV && err->errnum == EFBIG &&
			     strstr(err->msg, "cannot write '") &&
			     strstr(err->msg, "archkit.prom'");
		if (!right)
			fprintf(stderr, "rc %d: %s\n", rc, err ? err->msg : "no error");
		_exit(right ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cleanup_free char *got = slurp(path);
	ck_assert_str_eq(got, "old\n");
	ck_assert_uint_eq(count_files(dir), 1);
}
END_TEST

START_TEST(test_atomic_rename_failure)
{
	/* path is a non-empty directory: rename fails, the temp file goes, the folder stays */
	cleanup_free char *path = ak_xasprintf("%s/sub", dir);
	cleanup_free char *inner = ak_xasprintf("%s/sub/keep", dir);
	ck_assert_int_eq(ak_mkdir_p(path), 0);
	ck_assert_int_eq(cli_write_atomic(inner, write_text, "k\n", NULL), 0);
	struct ak_error *err = NULL;
	ck_assert_int_lt(cli_write_atomic(path, write_text, "x\n", &err), 0);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_ptr_nonnull(strstr(err->msg, "cannot write '"));
	ak_error_free(err);
	ck_assert_uint_eq(count_files(dir), 1);
	ck_assert_uint_eq(count_files(path), 1);

	/* a folder that does not exist */
	cleanup_free char *missing = ak_xasprintf("%s/no/such/file.prom", dir);
	err = NULL;
	ck_assert_int_lt(cli_write_atomic(missing, write_text, "x\n", &err), 0);
	ck_assert_int_eq(err->errnum, ENOENT);
	ak_error_free(err);

	/* a path that ends in '/' names no file */
	cleanup_free char *slash = ak_xasprintf("%s/", dir);
	err = NULL;
	ck_assert_int_lt(cli_write_atomic(slash, write_text, "x\n", &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ak_error_free(err);
	ck_assert_uint_eq(count_files(dir), 1);
}
END_TEST

START_TEST(test_atomic_relative_path)
{
	char cwd[4096];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(dir), 0);
	int rc = cli_write_atomic("plain.prom", write_text, "p\n", NULL);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(rc, 0);
	cleanup_free char *path = ak_xasprintf("%s/plain.prom", dir);
	cleanup_free char *got = slurp(path);
	ck_assert_str_eq(got, "p\n");
	ck_assert_uint_eq(count_files(dir), 1);
}
END_TEST

Suite *doctor_output_suite(void)
{
	Suite *s = suite_create("doctor_output");
	TCase *tc = tcase_create("prometheus");
	tcase_add_test(tc, test_prometheus_exact);
	tcase_add_test(tc, test_prometheus_unhealthy_and_empty);
	tcase_add_test(tc, test_prometheus_label_escaping);
	tcase_add_test(tc, test_prometheus_duplicates_fold);
	suite_add_tcase(s, tc);
	tc = tcase_create("atomic");
	tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
	tcase_add_test(tc, test_atomic_writes_with_mode);
	tcase_add_test(tc, test_atomic_write_failure_keeps_old);
	tcase_add_test(tc, test_atomic_rename_failure);
	tcase_add_test(tc, test_atomic_relative_path);
	suite_add_tcase(s, tc);
	return s;
}
