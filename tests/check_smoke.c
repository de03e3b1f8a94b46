/* The built-in smoke binaries and ak_smoke_run(): the bytes are what each platform
 * claims, the host's own binary runs, a foreign one is refused without a handler and
 * runs with one (in a private binfmt_misc), and a hung program is killed. */
#include <check.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/platform.h"
#include "common/util.h"
#include "verify/smoke-run.h"
#include "verify/verify.h"

static const struct ak_platform *platform(const char *name)
{
	cleanup_error struct ak_error *err = NULL;
	const struct ak_platform *p = ak_platform_parse(name, &err);
	ck_assert_msg(p != NULL, "%s: %s", name, err ? err->msg : "?");
	return p;
}

static unsigned read_uint(const unsigned char *b, int n, bool big_endian)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | b[big_endian ? i : n - 1 - i];
	return v;
}

static const char *const required[] = {
	"linux/amd64",	 "linux/arm64", "linux/arm/v7",	 "linux/386",
	"linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/mips64le",
};

START_TEST(test_embedded_binaries_are_what_they_claim)
{
	size_t with_binary = 0;
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		size_t len = 99;
		const unsigned char *b = ak_smoke_binary(p, &len);
		if (!b) {
			ck_assert_uint_eq(len, 0);
			continue;
		}
		with_binary++;
		ck_assert_msg(len >= 64 && len < 64 * 1024, "%s: %zu bytes", p->name, len);
		ck_assert_msg(memcmp(b,
				     "\x7f"
				     "ELF",
				     4) == 0,
			      "%s: not ELF", p->name);
		ck_assert_msg(b[4] == p->elf_class, "%s: class %d, want %d", p->name, b[4],
			      p->elf_class);
		ck_assert_msg(b[5] == p->elf_data, "%s: data %d, want %d", p->name, b[5],
			      p->elf_data);
		bool be = b[5] == 2;
		ck_assert_msg(read_uint(b + 16, 2, be) == 2, "%s: not ET_EXEC", p->name);
		ck_assert_msg(read_uint(b + 18, 2, be) == p->e_machine, "%s: e_machine %u, want %u",
			      p->name, read_uint(b + 18, 2, be), p->e_machine);
		ck_assert_msg(ak_qemu_target_matches(ak_platform_qemu(p), b, len),
			      "%s: its QEMU target's binfmt magic does not match", p->name);
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		ck_assert_msg(ak_smoke_binary(platform(required[i]), NULL) != NULL,
			      "no smoke binary for %s", required[i]);
	ck_assert_uint_ge(with_binary, sizeof(required) / sizeof(required[0]));
}
END_TEST

/* arm/v5 CPUs cannot run v7 code: each arm variant has its own binary and float ABI. */
START_TEST(test_arm_variants_have_their_own)
{
	size_t l7, l6, l5;
	const unsigned char *v7 = ak_smoke_binary(platform("linux/arm/v7"), &l7);
	const unsigned char *v6 = ak_smoke_binary(platform("linux/arm/v6"), &l6);
	const unsigned char *v5 = ak_smoke_binary(platform("linux/arm/v5"), &l5);
	ck_assert_ptr_nonnull(v7);
	ck_assert_ptr_nonnull(v6);
	ck_assert_ptr_nonnull(v5);
	ck_assert_ptr_ne(v7, v5);
	ck_assert_ptr_ne(v6, v5);
	ck_assert_ptr_ne(v7, v6);
	ck_assert_uint_eq(read_uint(v7 + 36, 4, false), 0x05000400); /* EABI5 hard-float */
	ck_assert_uint_eq(read_uint(v6 + 36, 4, false), 0x05000400);
	ck_assert_uint_eq(read_uint(v5 + 36, 4, false), 0x05000200); /* EABI5 soft-float */
}
END_TEST

START_TEST(test_binary_for_target)
{
	size_t len, plen;
	const unsigned char *b = ak_smoke_binary_for_target(ak_qemu_target_find("aarch64"), &len);
	ck_assert_ptr_eq(b, ak_smoke_binary(platform("linux/arm64"), &plen));
	ck_assert_uint_eq(len, plen);
	/* the arm target's binary must run on every arm CPU: the v5 one */
	ck_assert_ptr_eq(ak_smoke_binary_for_target(ak_qemu_target_find("arm"), NULL),
			 ak_smoke_binary(platform("linux/arm/v5"), NULL));
	ck_assert_ptr_eq(ak_smoke_binary_for_target(ak_qemu_target_find("x86_64"), NULL),
			 ak_smoke_binary(platform("linux/amd64"), NULL));
	len = 7;
	ck_assert_ptr_null(ak_smoke_binary_for_target(ak_qemu_target_find("sparc64"), &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(ak_smoke_binary_for_target(NULL, NULL));
	ck_assert_ptr_null(ak_smoke_binary(NULL, NULL));
}
END_TEST

/* A private $TMPDIR, so the test can see that every run cleans up after itself. */
static char tmpdir[256];
static char *saved_tmpdir; /* the caller's $TMPDIR, restored for CK_FORK=no runs */

static void tmpdir_setup(void)
{
	const char *base = getenv("TMPDIR");
	saved_tmpdir = base ? strdup(base) : NULL;
	snprintf(tmpdir, sizeof(tmpdir), "%s/check-smoke-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	setenv("TMPDIR", tmpdir, 1);
}

static void tmpdir_teardown(void)
{
	rmdir(tmpdir); /* fails, leaving evidence, if a run left its directory behind */
	if (saved_tmpdir)
		setenv("TMPDIR", saved_tmpdir, 1);
	else
		unsetenv("TMPDIR");
	free(saved_tmpdir);
	saved_tmpdir = NULL;
}

static void assert_tmpdir_empty(void)
{
	cleanup_dir DIR *d = opendir(tmpdir);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d)))
		ck_assert_msg(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0,
			      "smoke run left '%s' in $TMPDIR", e->d_name);
}

START_TEST(test_host_binary_runs_natively)
{
	struct utsname uts;
	ck_assert_int_eq(uname(&uts), 0);
	const struct ak_platform *p = ak_platform_parse(uts.machine, NULL);
	size_t len;
	const unsigned char *b = p ? ak_smoke_binary(p, &len) : NULL;
	if (!b) {
		fprintf(stderr, "check_smoke: skipped host run: no smoke binary for host '%s'\n",
			uts.machine);
		return;
	}
	struct ak_smoke_result res;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_smoke_run(b, len, 5000, &res, &err), 0);
	ck_assert_msg(res.ran, "execve failed: %s", strerror(res.exec_errno));
	ck_assert_int_eq(res.exec_errno, 0);
	ck_assert_int_eq(res.timed_out, 0);
	ck_assert_int_eq(res.signal, 0);
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_str_eq(res.machine, uts.machine);
	ck_assert_str_eq(res.stderr_tail, "");
	ck_assert(ak_smoke_passed(p, &res));
	assert_tmpdir_empty();
}
END_TEST

static const char not_a_program[] = "this is text with no #! and no ELF magic\n";

START_TEST(test_unknown_format_is_enoexec_not_an_error)
{
	struct ak_smoke_result res;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_smoke_run((const unsigned char *)not_a_program,
				      sizeof(not_a_program) - 1, 5000, &res, &err),
			 0);
	ck_assert_ptr_null(err);
	ck_assert_int_eq(res.ran, 0);
	ck_assert_int_eq(res.exec_errno, ENOEXEC);
	ck_assert_int_eq(res.exit_code, -1);
	ck_assert_int_eq(res.timed_out, 0);
	ck_assert(!ak_smoke_passed(platform("linux/amd64"), &res));
	assert_tmpdir_empty();
}
END_TEST

static const char fails_loudly[] = "#!/bin/sh\n"
				   "i=0; while [ $i -lt 100 ]; do echo \"noise line $i\" >&2; "
				   "i=$((i+1)); done\n"
				   "echo 'not a machine'\n"
				   "echo 'last words' >&2\n"
				   "exit 3\n";

START_TEST(test_exit_code_and_stderr_tail)
{
	struct ak_smoke_result res;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_smoke_run((const unsigned char *)fails_loudly, sizeof(fails_loudly) - 1,
				      5000, &res, &err),
			 0);
	ck_assert_int_eq(res.ran, 1);
	ck_assert_int_eq(res.exit_code, 3);
	ck_assert_int_eq(res.signal, 0);
	ck_assert_str_eq(res.machine, "not a machine");
	size_t n = strlen(res.stderr_tail);
	ck_assert_uint_eq(n, sizeof(res.stderr_tail) - 1); /* 100 lines: only the tail kept */
	ck_assert_str_eq(res.stderr_tail + n - strlen("noise line 99\nlast words\n"),
			 "noise line 99\nlast words\n");
	ck_assert(!ak_smoke_passed(platform("linux/amd64"), &res));
	assert_tmpdir_empty();
}
END_TEST

static bool process_gone(pid_t pid)
{
	/* gone = no such process, or a zombie waiting for init to reap it */
	for (int i = 0; i < 200; i++) {
		char path[64], buf[256];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return true;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return true;
		buf[n] = '\0';
		const char *paren = strrchr(buf, ')');
		if (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
			return true;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return false;
}

/* The script and the sleep it started both hang; both must be gone after the timeout. */
static const char hangs[] = "#!/bin/sh\n"
			    "sleep 60 &\n"
			    "echo $$ $!\n"
			    "wait\n";

START_TEST(test_timeout_kills_the_child)
{
	struct ak_smoke_result res;
	cleanup_error struct ak_error *err = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(
		ak_smoke_run((const unsigned char *)hangs, sizeof(hangs) - 1, 300, &res, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms >= 300 && ms < 5000, "run took %ld ms", ms);
	ck_assert_int_eq(res.ran, 1);
	ck_assert_int_eq(res.timed_out, 1);
	ck_assert_int_eq(res.signal, SIGKILL);
	ck_assert(!ak_smoke_passed(platform("linux/amd64"), &res));
	int shell = 0, sleeper = 0;
	ck_assert_msg(sscanf(res.machine, "%d %d", &shell, &sleeper) == 2, "no pids in '%s'",
		      res.machine);
	ck_assert_msg(process_gone(shell), "the timed-out script %d is still running", shell);
	ck_assert_msg(process_gone(sleeper), "its child %d is still running", sleeper);
	assert_tmpdir_empty();
}
END_TEST

START_TEST(test_environment_errors)
{
	struct ak_smoke_result res;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_lt(ak_smoke_run(NULL, 0, 1000, &res, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ak_error_clear(&err);

	setenv("TMPDIR", "/nonexistent/archkit-check", 1);
	size_t len;
	const unsigned char *b = ak_smoke_binary(platform("linux/amd64"), &len);
	ck_assert_int_lt(ak_smoke_run(b, len, 1000, &res, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, "cannot create a temporary directory in "
				       "'/nonexistent/archkit-check'") != NULL,
		      "message: %s", err->msg);
	ck_assert_ptr_nonnull(strstr(err->msg, "No such file or directory"));
	setenv("TMPDIR", tmpdir, 1);
}
END_TEST

/* --- a foreign binary through a private binfmt_misc (Linux 6.7+) --- */

static int write_file(const char *path, const char *text)
{
	cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return ak_write_all(fd, text, strlen(text));
}

struct ns_report {
	char skip[256];	   /* why the namespace could not be made; empty when it was */
	char failure[256]; /* an unexpected error inside the namespace */
	struct ak_smoke_result before, after;
	struct {
		const struct ak_platform *platform;
		struct ak_smoke_result res;
	} foreign[32]; /* every other foreign platform, through its own handler */
	size_t nforeign;
};

static int register_target(const char *mnt, const struct ak_qemu_target *t, char *why,
			   size_t why_len)
{
	unsigned char magic[AK_MAGIC_MAX], mask[AK_MAGIC_MAX];
	size_t n = ak_qemu_target_magic(t, magic, mask);
	cleanup_free char *magic_esc = ak_hex_escape(magic, n);
	cleanup_free char *mask_esc = ak_hex_escape(mask, n);
	cleanup_free char *rule = NULL;
	char reg[512];
	if (asprintf(&rule, ":qemu-%s:M::%s:%s:/usr/bin/qemu-%s-static:F", t->name, magic_esc,
		     mask_esc, t->name) < 0)
		return -ENOMEM;
	snprintf(reg, sizeof(reg), "%s/register", mnt);
	int w = write_file(reg, rule);
	if (w < 0)
		snprintf(why, why_len, "cannot register '%s': %s", rule, strerror(-w));
	return w;
}

/* Register each other foreign target whose emulator is installed and run its platforms'
 * binaries: what each reports must be a machine the platform table accepts. */
static void run_all_foreign(const char *mnt, const char *host_family, struct ns_report *r)
{
	const char *registered[32];
	size_t nregistered = 0;
	for (size_t i = 0; i < ak_platform_count && r->nforeign < 32; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		const struct ak_qemu_target *t = ak_platform_qemu(p);
		size_t len;
		const unsigned char *b = ak_smoke_binary(p, &len);
		char interp[128];
		snprintf(interp, sizeof(interp), "/usr/bin/qemu-%s-static", t->name);
		if (!b || strcmp(t->family, host_family) == 0 || access(interp, X_OK) != 0)
			continue;
		bool done = strcmp(t->name, "aarch64") == 0;
		for (size_t k = 0; k < nregistered; k++)
			done = done || strcmp(registered[k], t->name) == 0;
		if (!done) {
			if (register_target(mnt, t, r->failure, sizeof(r->failure)) < 0)
				return;
			registered[nregistered++] = t->name;
		}
		cleanup_error struct ak_error *err = NULL;
		r->foreign[r->nforeign].platform = p;
		if (ak_smoke_run(b, len, 20000, &r->foreign[r->nforeign].res, &err) < 0) {
			snprintf(r->failure, sizeof(r->failure), "%s: %s", p->name, err->msg);
			return;
		}
		r->nforeign++;
	}
}

static void in_namespace(const char *mnt, const char *host_family, struct ns_report *r)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		snprintf(r->skip, sizeof(r->skip), "cannot create a user+mount namespace: %s",
			 strerror(errno));
		return;
	}
	snprintf(map, sizeof(map), "0 %d 1\n", (int)uid);
	if (write_file("/proc/self/setgroups", "deny") < 0 ||
	    write_file("/proc/self/uid_map", map) < 0) {
		snprintf(r->skip, sizeof(r->skip), "cannot map uid in the user namespace");
		return;
	}
	snprintf(map, sizeof(map), "0 %d 1\n", (int)gid);
	if (write_file("/proc/self/gid_map", map) < 0) {
		snprintf(r->skip, sizeof(r->skip), "cannot map gid in the user namespace");
		return;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(r->skip, sizeof(r->skip), "cannot make mounts private: %s",
			 strerror(errno));
		return;
	}
	if (mount("binfmt_misc", mnt, "binfmt_misc", 0, NULL) < 0) {
		snprintf(r->skip, sizeof(r->skip),
			 "cannot mount a private binfmt_misc (needs Linux 6.7+): %s",
			 strerror(errno));
		return;
	}

	const struct ak_qemu_target *t = ak_qemu_target_find("aarch64");
	size_t len;
	const unsigned char *b = ak_smoke_binary_for_target(t, &len);
	cleanup_error struct ak_error *err = NULL;
	if (ak_smoke_run(b, len, 10000, &r->before, &err) < 0) {
		snprintf(r->failure, sizeof(r->failure), "first run: %s", err->msg);
		return;
	}

	if (register_target(mnt, t, r->failure, sizeof(r->failure)) < 0)
		return;
	if (ak_smoke_run(b, len, 20000, &r->after, &err) < 0) {
		snprintf(r->failure, sizeof(r->failure), "second run: %s", err->msg);
		return;
	}
	run_all_foreign(mnt, host_family, r);
}

START_TEST(test_foreign_binary_through_private_binfmt_misc)
{
	if (access("/usr/bin/qemu-aarch64-static", X_OK) != 0) {
		fprintf(stderr, "check_smoke: skipped: /usr/bin/qemu-aarch64-static missing\n");
		return;
	}
	char mnt[300];
	snprintf(mnt, sizeof(mnt), "%s/binfmt", tmpdir);
	ck_assert_int_eq(mkdir(mnt, 0700), 0);

	struct ns_report *r =
		mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(r, MAP_FAILED);
	memset(r, 0, sizeof(*r));
	struct utsname uts;
	ck_assert_int_eq(uname(&uts), 0);
	const struct ak_platform *host = ak_platform_parse(uts.machine, NULL);
	const char *host_family = host ? ak_platform_qemu(host)->family : uts.machine;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		in_namespace(mnt, host_family, r);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	rmdir(mnt);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "namespace child died");
	if (r->skip[0]) {
		fprintf(stderr, "check_smoke: skipped private binfmt_misc test: %s\n", r->skip);
		munmap(r, sizeof(*r));
		return;
	}
	ck_assert_msg(r->failure[0] == '\0', "%s", r->failure);
	/* no handler in a fresh binfmt_misc: "exec format error", reported, not an error */
	ck_assert_int_eq(r->before.ran, 0);
	ck_assert_int_eq(r->before.exec_errno, ENOEXEC);
	/* with qemu-aarch64 registered it runs and reports the emulated machine */
	ck_assert_msg(r->after.ran, "execve: %s", strerror(r->after.exec_errno));
	ck_assert_int_eq(r->after.exit_code, 0);
	ck_assert_int_eq(r->after.signal, 0);
	ck_assert_str_eq(r->after.machine, "aarch64");
	ck_assert(ak_smoke_passed(platform("linux/arm64"), &r->after));
	for (size_t i = 0; i < r->nforeign; i++) {
		const struct ak_smoke_result *res = &r->foreign[i].res;
		const char *name = r->foreign[i].platform->name;
		ck_assert_msg(ak_smoke_passed(r->foreign[i].platform, res),
			      "%s: ran %d, exit %d, signal %d, errno %d, machine '%s' (want one of "
			      "'%s'), stderr '%s'",
			      name, res->ran, res->exit_code, res->signal, res->exec_errno,
			      res->machine, r->foreign[i].platform->uname, res->stderr_tail);
	}
	ck_assert_uint_ge(r->nforeign, 1);
	munmap(r, sizeof(*r));
	assert_tmpdir_empty();
}
END_TEST

/* The right machine on stdout is not enough: a smoke run that exits non-zero fails, in
 * ak_smoke_passed and in the verdict verify gives. */
static const char right_machine_exit_3[] = "#!/bin/sh\nuname -m\nexit 3\n";
static const char right_machine_exit_0[] = "#!/bin/sh\nuname -m\nexit 0\n";

START_TEST(test_right_machine_nonzero_exit_fails)
{
	struct utsname uts;
	ck_assert_int_eq(uname(&uts), 0);
	const struct ak_platform *p = ak_platform_parse(uts.machine, NULL);
	if (!p) {
		fprintf(stderr, "check_smoke: skipped: host '%s' is no archkit platform\n",
			uts.machine);
		return;
	}
	struct ak_verify_result r;
	cleanup_error struct ak_error *err = NULL;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(ak_smoke_run((const unsigned char *)right_machine_exit_3,
				      sizeof(right_machine_exit_3) - 1, 5000, &r.smoke, &err),
			 0);
	ck_assert_str_eq(r.smoke.machine, uts.machine);
	ck_assert_int_eq(r.smoke.exit_code, 3);
	ck_assert(!ak_smoke_passed(p, &r.smoke));
	ak_verify_classify(p, NULL, &r);
	ck_assert_int_eq(r.outcome, AK_VERIFY_FAILED);
	ck_assert(!ak_verify_ok(&r));
	ck_assert_str_eq(r.why, "exited 3");
	/* the same script exiting 0 is a pass: the exit code is what failed it above */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(ak_smoke_run((const unsigned char *)right_machine_exit_0,
				      sizeof(right_machine_exit_0) - 1, 5000, &r.smoke, &err),
			 0);
	ak_verify_classify(p, NULL, &r);
	ck_assert_int_eq(r.outcome, AK_VERIFY_NATIVE);
	assert_tmpdir_empty();
}
END_TEST

/* A batch runs side by side and keeps each result in its own slot; the caller gets its
 * CPU affinity back (the workers are pinned one per CPU while it runs). */
START_TEST(test_verify_platforms_batch)
{
	cpu_set_t before, after;
	ck_assert_int_eq(sched_getaffinity(0, sizeof(before), &before), 0);
	const struct ak_platform *ps[AK_VERIFY_JOBS + 4];
	size_t n = 0;
	for (size_t i = 0; i < ak_platform_count && n < AK_VERIFY_JOBS + 4; i++)
		ps[n++] = &ak_platforms[i];
	for (size_t i = 0; n < AK_VERIFY_JOBS + 4; i++) /* more than one batch's worth */
		ps[n++] = &ak_platforms[i];
	struct ak_verify_result r[AK_VERIFY_JOBS + 4];
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_verify_platforms(ps, n, NULL, 5000, r, &err), 0);
	ck_assert_int_eq(sched_getaffinity(0, sizeof(after), &after), 0);
	ck_assert_msg(CPU_EQUAL(&before, &after), "the batch left this thread on %d of %d CPUs",
		      CPU_COUNT(&after), CPU_COUNT(&before));
	struct ak_verify_result one;
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_eq(r[i].platform, ps[i]);
		ck_assert_int_eq(ak_verify_platform(ps[i], NULL, 5000, &one, &err), 0);
		ck_assert_msg(r[i].outcome == one.outcome, "%s: %s in a batch, %s alone",
			      ps[i]->name, ak_verify_outcome_name(r[i].outcome),
			      ak_verify_outcome_name(one.outcome));
		ck_assert_str_eq(r[i].smoke.machine, one.smoke.machine);
	}
	assert_tmpdir_empty();
}
END_TEST

/* Entries in dir other than . and .. */
static size_t dir_entries(const char *dir)
{
	cleanup_dir DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	return n;
}

static const unsigned char *host_smoke(const struct ak_platform **p, size_t *len)
{
	struct utsname uts;
	ck_assert_int_eq(uname(&uts), 0);
	*p = ak_platform_parse(uts.machine, NULL);
	return *p ? ak_smoke_binary(*p, len) : NULL;
}

static void run_host_smoke_in(struct ak_smoke_dir *d)
{
	const struct ak_platform *p;
	size_t len;
	const unsigned char *b = host_smoke(&p, &len);
	struct ak_smoke_result res;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_smoke_run_in(d, b, len, 5000, &res, &err) == 0, "%s",
		      err ? err->msg : "?");
	ck_assert_msg(ak_smoke_passed(p, &res), "ran %d, errno %d, exit %d, machine '%s'",
		      res.ran, res.exec_errno, res.exit_code, res.machine);
}

/* A smoke dir for runs of the host's own smoke binary; false (skipped) without one. */
static bool host_smoke_dir(struct ak_smoke_dir *d)
{
	const struct ak_platform *p;
	size_t len;
	if (!host_smoke(&p, &len)) {
		fprintf(stderr, "check_smoke: skipped: no smoke binary for this host\n");
		return false;
	}
	cleanup_error struct ak_error *err = NULL;
	ck_assert_int_eq(ak_smoke_dir_make(d, &err), 0);
	return true;
}

struct slot_thread {
	struct ak_smoke_dir *d;
	int runs;
};

static void *run_host_smoke_thread(void *arg)
{
	struct slot_thread *t = arg;
	for (int i = 0; i < t->runs; i++)
		run_host_smoke_in(t->d);
	return NULL;
}

/* One file per thread, rewritten for each of its runs, not one created and removed per
 * run; more threads than AK_SMOKE_SLOTS get a file per run, which each removes. */
START_TEST(test_smoke_dir_one_file_per_thread)
{
	struct ak_smoke_dir d;
	if (!host_smoke_dir(&d))
		return;
	cleanup_error struct ak_error *err = NULL;
	char dir[sizeof(d.path)];
	snprintf(dir, sizeof(dir), "%s", d.path);
	for (int i = 0; i < 3; i++)
		run_host_smoke_in(&d);
	ck_assert_uint_eq(dir_entries(dir), 1);
	/* a shorter program over it: cut to its own length, no tail of the last one */
	static const char short_script[] = "#!/bin/sh\necho short\n";
	struct ak_smoke_result res;
	ck_assert_int_eq(ak_smoke_run_in(&d, (const unsigned char *)short_script,
					 sizeof(short_script) - 1, 5000, &res, &err),
			 0);
	ck_assert_str_eq(res.machine, "short");
	ck_assert_int_eq(res.exit_code, 0);
	ck_assert_str_eq(res.stderr_tail, "");
	char file[sizeof(d.path) + 32];
	snprintf(file, sizeof(file), "%s/smoke-%u", d.path, d.slots[0].name);
	struct stat st;
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)(sizeof(short_script) - 1));
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	run_host_smoke_in(&d);

	/* two threads at once, three runs each: one file more */
	pthread_t tid[AK_SMOKE_SLOTS + 2];
	struct slot_thread t = {&d, 3};
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, run_host_smoke_thread, &t), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	/* a thread that ended may hand its slot to a new one with the same id: 2 or 3 */
	ck_assert_uint_ge(dir_entries(dir), 2);
	ck_assert_uint_le(dir_entries(dir), 3);

	/* every slot taken: the threads beyond them remove their own files */
	struct slot_thread one = {&d, 1};
	for (int i = 0; i < AK_SMOKE_SLOTS + 2; i++)
		ck_assert_int_eq(pthread_create(&tid[i], NULL, run_host_smoke_thread, &one), 0);
	for (int i = 0; i < AK_SMOKE_SLOTS + 2; i++)
		pthread_join(tid[i], NULL);
	ck_assert_uint_le(dir_entries(dir), AK_SMOKE_SLOTS);
	ck_assert_uint_eq(dir_entries(dir), d.nslots);
	ak_smoke_dir_remove(&d);
	ck_assert_int_eq(access(dir, F_OK), -1);
	assert_tmpdir_empty();
}
END_TEST

/* A process still executing the thread's file (a run's leftover) makes rewriting it
 * fail with ETXTBSY: the next run gets a new file under the same name, and passes. */
START_TEST(test_smoke_file_still_executing)
{
	struct ak_smoke_dir d;
	if (!host_smoke_dir(&d))
		return;
	run_host_smoke_in(&d);
	ck_assert_uint_eq(d.nslots, 1);
	char path[sizeof(d.path) + 32];
	snprintf(path, sizeof(path), "%s/smoke-%u", d.path, d.slots[0].name);

	/* traced, the child stops right after its execve: the file is its executable */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(77); /* ptrace not allowed here (seccomp, Yama) */
		char *const argv[] = {path, NULL}, *const envp[] = {NULL};
		execve(path, argv, envp);
		_exit(127);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		fprintf(stderr, "check_smoke: skipped the ETXTBSY case: ptrace is not allowed\n");
		ak_smoke_dir_remove(&d);
		return;
	}
	ck_assert_msg(WIFSTOPPED(st), "the traced child did not stop at its execve");
	ck_assert_int_eq(open(path, O_WRONLY), -1);
	ck_assert_int_eq(errno, ETXTBSY);

	run_host_smoke_in(&d);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	ck_assert_uint_eq(d.nslots, 1);
	ak_smoke_dir_remove(&d);
	assert_tmpdir_empty();
}
END_TEST

Suite *smoke_suite(void)
{
	Suite *s = suite_create("smoke");
	TCase *tc = tcase_create("binaries");
	tcase_add_test(tc, test_embedded_binaries_are_what_they_claim);
	tcase_add_test(tc, test_arm_variants_have_their_own);
	tcase_add_test(tc, test_binary_for_target);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_host_binary_runs_natively);
	tcase_add_test(tc, test_unknown_format_is_enoexec_not_an_error);
	tcase_add_test(tc, test_exit_code_and_stderr_tail);
	tcase_add_test(tc, test_timeout_kills_the_child);
	tcase_add_test(tc, test_environment_errors);
	tcase_add_test(tc, test_foreign_binary_through_private_binfmt_misc);
	tcase_add_test(tc, test_right_machine_nonzero_exit_fails);
	tcase_add_test(tc, test_verify_platforms_batch);
	tcase_add_test(tc, test_smoke_dir_one_file_per_thread);
	tcase_add_test(tc, test_smoke_file_still_executing);
	suite_add_tcase(s, tc);
	return s;
}
