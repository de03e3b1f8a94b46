/* ak_root_run(): a command in a root of its own, under private QEMU handlers. A foreign
 * binary runs after pivot_root through a flag-F handler, the host's runs with none, exec
 * failures and timeouts are results, and what the command gets is what root.h promises:
 * no capability, no_new_privs, a read-only /proc, a /dev of a few devices, nothing of the
 * caller's open, and no mount that follows the image's symlinks. Skipped where user
 * namespaces or a private binfmt_misc (Linux 6.7+) are not available. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binfmt/interp.h"
#include "common/cleanup.h"
#include "common/platform.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "sandbox/root.h"
#include "sandbox/sandbox.h"
#include "verify/smoke-run.h"

/* A static helper, built with the host's cc once per test case: each mode is one thing
 * a test wants the command to do, printed to stdout. */
static const char helper_src[] =
	"#include <errno.h>\n"
	"#include <fcntl.h>\n"
	"#include <signal.h>\n"
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"#include <dirent.h>\n"
	"#include <unistd.h>\n"
	"int main(int argc, char **argv, char **envp) {\n"
	"  const char *m = argc > 1 ? argv[1] : \"\";\n"
	"  if (!strcmp(m, \"status\")) {\n"
	"    char line[256]; FILE *f = fopen(\"/proc/self/status\", \"r\");\n"
	"    if (!f) { printf(\"no status: %d\\n\", errno); return 1; }\n"
	"    while (fgets(line, sizeof line, f))\n"
	"      if (!strncmp(line, \"Cap\", 3) || !strncmp(line, \"NoNewPrivs\", 10)) fputs(line, "
	"stdout);\n"
	"    return 0;\n"
	"  }\n"
	"  if (!strcmp(m, \"write\")) {\n" /* write PATH TEXT: prints ok or the errno */
	"    int fd = open(argv[2], O_WRONLY);\n"
	"    if (fd < 0 || write(fd, argv[3], strlen(argv[3])) < 0) { printf(\"%d\\n\", errno); "
	"return 1; }\n"
	"    printf(\"ok\\n\"); return 0;\n"
	"  }\n"
	"  if (!strcmp(m, \"open\")) {\n" /* open PATH: ok or the errno */
	"    int fd = open(argv[2], O_RDONLY);\n"
	"    printf(fd < 0 ? \"%d\\n\" : \"ok\\n\", errno); return 0;\n"
	"  }\n"
	"  if (!strcmp(m, \"ls\")) {\n" /* ls DIR: names, one a line, sorted by the test */
	"    DIR *d = opendir(argv[2]); struct dirent *e;\n"
	"    if (!d) { printf(\"%d\\n\", errno); return 1; }\n"
	"    while ((e = readdir(d))) if (e->d_name[0] != '.') printf(\"%s\\n\", e->d_name);\n"
	"    return 0;\n"
	"  }\n"
	"  if (!strcmp(m, \"readlink\")) {\n"
	"    char t[256]; ssize_t n = readlink(argv[2], t, sizeof t - 1);\n"
	"    if (n < 0) { printf(\"%d\\n\", errno); return 1; }\n"
	"    t[n] = 0; printf(\"%s\\n\", t); return 0;\n"
	"  }\n"
	"  if (!strcmp(m, \"sid\")) { printf(getsid(0) == getpid() ? \"leader\\n\" : \"not\\n\"); "
	"return 0; }\n"
	"  if (!strcmp(m, \"openall\")) {\n" /* openall DIR: each entry opened, ok or errno */
	"    DIR *d = opendir(argv[2]); struct dirent *e; char p[512];\n"
	"    if (!d) { printf(\"%d\\n\", errno); return 1; }\n"
	"    while ((e = readdir(d))) { if (e->d_name[0] == '.') continue;\n"
	"      snprintf(p, sizeof p, \"%s/%s\", argv[2], e->d_name);\n"
	"      int fd = open(p, O_RDONLY);\n"
	"      if (fd < 0) printf(\"%s %d\\n\", e->d_name, errno); else printf(\"%s ok\\n\", "
	"e->d_name); }\n"
	"    return 0;\n"
	"  }\n"
	"  if (!strcmp(m, \"env\")) { for (char **e = envp; *e; e++) printf(\"%s\\n\", *e);\n"
	"    char cwd[256]; printf(\"cwd=%s\\n\", getcwd(cwd, sizeof cwd)); return 0; }\n"
	"  if (!strcmp(m, \"spew\")) {\n" /* spew NOUT NERR: bytes to each, exit 3 */
	"    long n = atol(argv[2]); for (long i = 0; i < n; i++) putchar('o'); fflush(stdout);\n"
	"    n = atol(argv[3]); for (long i = 0; i < n; i++) fputc('a' + i % 26, stderr);\n"
	"    return 3;\n"
	"  }\n"
	"  if (!strcmp(m, \"hang\")) { fork(); for (;;) pause(); }\n" /* two processes */
	"  if (!strcmp(m, \"bg\")) { if (fork() == 0) for (;;) pause(); return 0; }\n"
	"  if (!strcmp(m, \"term\")) { kill(getpid(), SIGTERM); pause(); }\n"
	"  return 64;\n"
	"}\n";

static char helper_dir[256];
static char helper_path[300];
static char available[512]; /* empty when the sandbox can be made; else why not */

static int nothing(void *ctx)
{
	(void)ctx;
	return 0;
}

static void suite_setup(void)
{
	cleanup_error struct ak_error *err = NULL;
	available[0] = '\0';
	if (ak_sandbox_call_isolated(nothing, NULL, &err) != 0) {
		snprintf(available, sizeof(available), "%s", err ? err->msg : "?");
		return;
	}
	const char *base = getenv("TMPDIR");
	snprintf(helper_dir, sizeof(helper_dir), "%s/check-root-helper-XXXXXX",
		 base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(helper_dir));
	char src[300], cmd[1024];
	snprintf(src, sizeof(src), "%s/helper.c", helper_dir);
	snprintf(helper_path, sizeof(helper_path), "%s/helper", helper_dir);
	FILE *f = fopen(src, "w");
	ck_assert_ptr_nonnull(f);
	fputs(helper_src, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cc -static -O1 -o '%s' '%s' 2>&1", helper_path, src);
	if (system(cmd) != 0)
		snprintf(available, sizeof(available), "cannot build a static helper with cc");
}

static void suite_teardown(void)
{
	if (helper_dir[0])
		ak_rmtree_signal_safe(helper_dir);
	helper_dir[0] = '\0';
}

/* Per test: a root directory under a temp dir, with room beside it ("outside"). */
static char top[256], root[300], outside[300];

static void root_setup(void)
{
	const char *base = getenv("TMPDIR");
	snprintf(top, sizeof(top), "%s/check-root-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
}

static void root_teardown(void)
{
	ak_rmtree_signal_safe(top);
}

static bool skipped(void)
{
	if (available[0])
		fprintf(stderr, "check_root: skipped: %s\n", available);
	return available[0] != '\0';
}

static void put(const char *name, const void *data, size_t len, mode_t mode)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	cleanup_fd int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(ak_write_all(fd, data, len), 0);
}

static void put_file(const char *name, const char *from)
{
	cleanup_free char *data = NULL;
	size_t len;
	ck_assert_int_eq(ak_read_file(from, 64 << 20, &data, &len, NULL), 0);
	put(name, data, len, 0755);
}

static void put_helper(void)
{
	put_file("helper", helper_path);
}

static const struct ak_platform *platform(const char *name)
{
	const struct ak_platform *p = ak_platform_parse(name, NULL);
	ck_assert_ptr_nonnull(p);
	return p;
}

static const struct ak_platform *host_platform(void)
{
	struct utsname u;
	ck_assert_int_eq(uname(&u), 0);
	return ak_platform_parse(u.machine, NULL);
}

/* A platform the host does not run itself: arm64, or amd64 on an arm64 host. */
static const struct ak_platform *foreign_platform(void)
{
	const struct ak_platform *h = host_platform();
	if (h && strcmp(ak_platform_qemu(h)->family,
			ak_platform_qemu(platform("linux/arm64"))->family) == 0)
		return platform("linux/amd64");
	return platform("linux/arm64");
}

static void put_smoke(const char *name, const struct ak_platform *p)
{
	size_t len;
	const unsigned char *b = ak_smoke_binary(p, &len);
	ck_assert_ptr_nonnull(b);
	put(name, b, len, 0755);
}

/* Run argv (NULL-terminated) in the root; asserts the sandbox could be made. */
static void run_in_root(struct ak_root_run *run, struct ak_root_result *res)
{
	cleanup_fd int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	run->root_fd = fd;
	if (!run->timeout_ms)
		run->timeout_ms = 20000;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_root_run(run, res, &err) == 0, "ak_root_run: %s", err ? err->msg : "?");
}

static void run_argv(char **argv, struct ak_root_result *res)
{
	struct ak_root_run run = {.argv = argv};
	run_in_root(&run, res);
}

static void assert_exited(const struct ak_root_result *res, int code)
{
	ck_assert_msg(res->outcome == AK_ROOT_EXITED && res->exit_code == code,
		      "outcome %d, exit %d, signal %d, errno %d, stdout '%s', stderr '%s'",
		      res->outcome, res->exit_code, res->signal, res->exec_errno, res->out,
		      res->err_tail);
}

/* The host's own machine, as uname says it. */
static const char *host_machine(void)
{
	static struct utsname u;
	ck_assert_int_eq(uname(&u), 0);
	return u.machine;
}

static void assert_exec_fails(char **argv, int want)
{
	struct ak_root_result res;
	run_argv(argv, &res);
	ck_assert_msg(res.outcome == AK_ROOT_EXEC_FAILED && res.exec_errno == want,
		      "%s: outcome %d, errno %d, want errno %d", argv[0], res.outcome,
		      res.exec_errno, want);
	ak_root_result_clear(&res);
}

START_TEST(test_foreign_binary_runs_after_pivot_root)
{
	if (skipped())
		return;
	const struct ak_platform *p = foreign_platform();
	struct ak_interp in = {0};
	cleanup_error struct ak_error *err = NULL;
	if (ak_interp_find(ak_platform_qemu(p), NULL, &in, &err) < 0 ||
	    ak_interp_check(&in, true, &err) < 0) {
		fprintf(stderr, "check_root: skipped: no static QEMU for %s: %s\n", p->name,
			err->msg);
		ak_interp_clear(&in);
		return;
	}
	put_smoke("smoke", p);
	struct ak_root_handler h = {.target = ak_platform_qemu(p), .interpreter = in.path};
	struct ak_root_run run = {
		.argv = (char *[]){"/smoke", NULL}, .handlers = &h, .nhandlers = 1};
	struct ak_root_result res;
	run_in_root(&run, &res);
	/* the interpreter lives outside the root: only flag F's open file can run it */
	assert_exited(&res, 0);
	ck_assert_msg(res.out_len > 1 && res.out[res.out_len - 1] == '\n', "stdout '%s'", res.out);
	res.out[res.out_len - 1] = '\0';
	ck_assert_msg(ak_platform_uname_ok(p, res.out), "%s reported '%s'", p->name, res.out);
	ck_assert_str_ne(res.out, host_machine());
	if (!strcmp(p->name, "linux/arm64"))
		ck_assert_str_eq(res.out, "aarch64");
	ck_assert(!res.out_truncated && !res.err_truncated);
	ck_assert_str_eq(res.err_tail, "");
	ak_root_result_clear(&res);
	ak_interp_clear(&in);
}
END_TEST

START_TEST(test_host_binary_runs_without_handlers)
{
	if (skipped())
		return;
	const struct ak_platform *h = host_platform();
	if (!h || !ak_smoke_binary(h, NULL)) {
		fprintf(stderr, "check_root: skipped: no smoke binary for '%s'\n", host_machine());
		return;
	}
	put_smoke("smoke", h);
	struct ak_root_result res;
	run_argv((char *[]){"/smoke", NULL}, &res);
	assert_exited(&res, 0);
	char want[80];
	snprintf(want, sizeof(want), "%s\n", host_machine());
	ck_assert_str_eq(res.out, want);
	ck_assert_uint_eq(res.out_len, strlen(want));
	ak_root_result_clear(&res);
}
END_TEST

START_TEST(test_no_handler_is_enoexec)
{
	if (skipped())
		return;
	/* whatever the host's own binfmt_misc holds, the run sees only its private one */
	put_smoke("smoke", foreign_platform());
	assert_exec_fails((char *[]){"/smoke", NULL}, ENOEXEC);
}
END_TEST

START_TEST(test_missing_file_or_loader_is_enoent)
{
	if (skipped())
		return;
	assert_exec_fails((char *[]){"/no-such-file", NULL}, ENOENT);
	/* a bare name is looked up in PATH, inside the root */
	assert_exec_fails((char *[]){"no-such-file", NULL}, ENOENT);
	/* the host's dynamic true (not static), without its ELF interpreter in the root */
	put_file("true", access("/usr/bin/true", R_OK) == 0 ? "/usr/bin/true" : "/bin/true");
	assert_exec_fails((char *[]){"/true", NULL}, ENOENT);
}
END_TEST

/* pids of processes whose command line holds marker */
static size_t count_marked(const char *marker)
{
	cleanup_dir DIR *d = opendir("/proc");
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	size_t n = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300];
		cleanup_free char *cmd = NULL;
		size_t len;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (ak_read_file(path, 4096, &cmd, &len, NULL) < 0)
			continue;
		for (size_t i = 0; i < len; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		if (strstr(cmd, marker))
			n++;
	}
	return n;
}

/* A run of the hanging helper in a child (archkit, as far as the run knows), with the
 * result in shared memory; returns once both helper processes are seen. */
struct hang {
	pid_t pid;
	char marker[64];
	int rc;
	struct ak_root_result res; /* its pointers belong to the child: numbers only */
};

static struct hang *start_hang(const char *name, int timeout_ms)
{
	struct hang *h =
		mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(h, MAP_FAILED);
	snprintf(h->marker, sizeof(h->marker), "check-root-%s-%d", name, (int)getpid());
	h->rc = -99;
	pid_t pid = fork(); /* h->pid is shared: only the parent sets it */
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct ak_root_run run = {.argv = (char *[]){"/helper", "hang", h->marker, NULL},
					  .timeout_ms = timeout_ms};
		cleanup_fd int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		run.root_fd = fd;
		struct ak_error *err = NULL;
		h->rc = ak_root_run(&run, &h->res, &err);
		_exit(0);
	}
	h->pid = pid;
	size_t seen = 0;
	for (int i = 0; i < 200 && seen < 2; i++) {
		usleep(10000);
		seen = count_marked(h->marker);
	}
	ck_assert_uint_eq(seen, 2); /* the helper and its child */
	return h;
}

START_TEST(test_timeout_kills_every_process)
{
	if (skipped())
		return;
	put_helper();
	struct hang *h = start_hang("timeout", 1500);
	int st;
	ck_assert_int_eq(waitpid(h->pid, &st, 0), h->pid);
	/* none of them is left once ak_root_run has returned */
	ck_assert_uint_eq(count_marked(h->marker), 0);
	ck_assert_int_eq(h->rc, 0);
	ck_assert_int_eq(h->res.outcome, AK_ROOT_TIMED_OUT);
	ck_assert_uint_ge(h->res.elapsed_ms, 1500);
	ck_assert_uint_lt(h->res.elapsed_ms, 5000);
	munmap(h, sizeof(*h));
}
END_TEST

START_TEST(test_run_dies_with_archkit)
{
	if (skipped())
		return;
	put_helper();
	struct hang *h = start_hang("orphan", 0);
	/* archkit killed mid-run (no timeout set): the run must not outlive it */
	kill(h->pid, SIGKILL);
	int st;
	ck_assert_int_eq(waitpid(h->pid, &st, 0), h->pid);
	size_t left = 2;
	for (int i = 0; i < 200 && left; i++) {
		usleep(10000);
		left = count_marked(h->marker);
	}
	ck_assert_uint_eq(left, 0);
	munmap(h, sizeof(*h));
}
END_TEST

START_TEST(test_leftovers_die_with_the_command)
{
	if (skipped())
		return;
	put_helper();
	char marker[64];
	snprintf(marker, sizeof(marker), "check-root-bg-%d", (int)getpid());
	struct ak_root_result res;
	run_argv((char *[]){"/helper", "bg", marker, NULL}, &res);
	assert_exited(&res, 0);
	ck_assert_uint_lt(res.elapsed_ms, 5000);
	ck_assert_uint_eq(count_marked(marker), 0);
	ak_root_result_clear(&res);
}
END_TEST

START_TEST(test_output_caps_and_stderr_tail)
{
	if (skipped())
		return;
	put_helper();
	struct ak_root_result res;
	struct ak_root_run run = {.argv = (char *[]){"/helper", "spew", "100000", "10000", NULL},
				  .stdout_max = 10,
				  .stderr_tail = 100};
	run_in_root(&run, &res);
	assert_exited(&res, 3);
	ck_assert_str_eq(res.out, "oooooooooo");
	ck_assert_uint_eq(res.out_len, 10);
	ck_assert(res.out_truncated);
	/* the last 100 of 10000 bytes 'a' + i % 26: i = 9900 is 'a' + 20 */
	ck_assert_uint_eq(res.err_len, 100);
	ck_assert_uint_eq(strlen(res.err_tail), 100);
	ck_assert(res.err_truncated);
	for (size_t i = 0; i < 100; i++)
		ck_assert_int_eq(res.err_tail[i], 'a' + (9900 + i) % 26);
	ak_root_result_clear(&res);

	/* under the caps: everything, nothing truncated */
	run_argv((char *[]){"/helper", "spew", "5", "7", NULL}, &res);
	assert_exited(&res, 3);
	ck_assert_str_eq(res.out, "ooooo");
	ck_assert_str_eq(res.err_tail, "abcdefg");
	ck_assert(!res.out_truncated && !res.err_truncated);
	ak_root_result_clear(&res);
}
END_TEST

START_TEST(test_killed_by_a_signal)
{
	if (skipped())
		return;
	put_helper();
	struct ak_root_result res;
	/* ignored here, as a shell's background job ignores SIGINT: not in the command */
	signal(SIGTERM, SIG_IGN);
	struct ak_root_run run = {.argv = (char *[]){"/helper", "term", NULL}, .timeout_ms = 5000};
	run_in_root(&run, &res);
	ck_assert_int_eq(res.outcome, AK_ROOT_SIGNALED);
	ck_assert_int_eq(res.signal, SIGTERM);
	ak_root_result_clear(&res);
}
END_TEST

START_TEST(test_no_privilege_left)
{
	if (skipped())
		return;
	put_helper();
	struct ak_root_result res;
	run_argv((char *[]){"/helper", "status", NULL}, &res);
	assert_exited(&res, 0);
	ck_assert_msg(strstr(res.out, "CapEff:\t0000000000000000\n") &&
			      strstr(res.out, "CapPrm:\t0000000000000000\n") &&
			      strstr(res.out, "CapBnd:\t0000000000000000\n") &&
			      strstr(res.out, "CapAmb:\t0000000000000000\n") &&
			      strstr(res.out, "NoNewPrivs:\t1\n"),
		      "status:\n%s", res.out);
	ak_root_result_clear(&res);
}
END_TEST

static void assert_write_fails(const char *path, const char *text, int want)
{
	struct ak_root_result res;
	run_argv((char *[]){"/helper", "write", (char *)path, (char *)text, NULL}, &res);
	char w[16];
	snprintf(w, sizeof(w), "%d\n", want);
	ck_assert_msg(res.outcome == AK_ROOT_EXITED && strcmp(res.out, w) == 0,
		      "write to %s: outcome %d, stdout '%s', want errno %d", path, res.outcome,
		      res.out, want);
	ak_root_result_clear(&res);
}

START_TEST(test_proc_is_read_only)
{
	if (skipped())
		return;
	put_helper();
	/* raising one's own oom_score_adj needs no privilege: only a read-only /proc stops it */
	assert_write_fails("/proc/self/oom_score_adj", "1000", EROFS);
	assert_write_fails("/proc/sys/kernel/hostname", "x", EROFS);
	if (access("/proc/sysrq-trigger", F_OK) == 0)
		assert_write_fails("/proc/sysrq-trigger", "h", EROFS);
}
END_TEST

static void sort_lines(char *s)
{
	char *lines[64];
	size_t n = 0;
	for (char *t = strtok(s, "\n"); t && n < 64; t = strtok(NULL, "\n"))
		lines[n++] = strdup(t);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char *x = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = x;
		}
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strcat(s, lines[i]);
		strcat(s, " ");
		free(lines[i]);
	}
}

START_TEST(test_dev_and_fds)
{
	if (skipped())
		return;
	put_helper();
	struct ak_root_result res;
	run_argv((char *[]){"/helper", "ls", "/dev", NULL}, &res);
	assert_exited(&res, 0);
	sort_lines(res.out);
	ck_assert_str_eq(res.out, "fd full null random shm stderr stdin stdout tty urandom zero ");
	ak_root_result_clear(&res);
	run_argv((char *[]){"/helper", "write", "/dev/null", "x", NULL}, &res);
	assert_exited(&res, 0);
	ak_root_result_clear(&res);

	/* an fd the caller left open (no O_CLOEXEC) leads outside the root: not passed on */
	cleanup_fd int leak = open(outside, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(leak, 3);
	run_argv((char *[]){"/helper", "ls", "/proc/self/fd", NULL}, &res);
	assert_exited(&res, 0);
	sort_lines(res.out);
	ck_assert_str_eq(res.out, "0 1 2 3 "); /* 3: the listing's own */
	ak_root_result_clear(&res);
	run_argv((char *[]){"/helper", "readlink", "/proc/self/fd/0", NULL}, &res);
	assert_exited(&res, 0);
	ck_assert_str_eq(res.out, "/dev/null\n");
	ak_root_result_clear(&res);
	/* a session of its own: no controlling terminal, so /dev/tty is not the caller's */
	run_argv((char *[]){"/helper", "sid", NULL}, &res);
	assert_exited(&res, 0);
	ck_assert_str_eq(res.out, "leader\n");
	ak_root_result_clear(&res);
	/* nor through pid 1's fds or memory */
	run_argv((char *[]){"/helper", "openall", "/proc/1/fd", NULL}, &res);
	ck_assert_int_eq(res.outcome, AK_ROOT_EXITED);
	ck_assert_msg(!strstr(res.out, " ok"), "pid 1's fds opened:\n%s", res.out);
	ak_root_result_clear(&res);
	run_argv((char *[]){"/helper", "open", "/proc/1/mem", NULL}, &res);
	assert_exited(&res, 0);
	ck_assert_str_ne(res.out, "ok\n");
	ak_root_result_clear(&res);
}
END_TEST

static char lstat_kind(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return '-';
	return S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f';
}

START_TEST(test_image_links_are_not_followed)
{
	if (skipped())
		return;
	put_helper();
	char path[400];
	/* proc -> a directory outside the root; dev, a plain file */
	snprintf(path, sizeof(path), "%s/proc", root);
	ck_assert_int_eq(symlink(outside, path), 0);
	put("dev", "not a dir", 9, 0644);
	struct ak_root_result res;
	run_argv((char *[]){"/helper", "status", NULL}, &res);
	assert_exited(&res, 0); /* a real /proc, in the root */
	ck_assert_ptr_nonnull(strstr(res.out, "CapEff:"));
	ak_root_result_clear(&res);
	run_argv((char *[]){"/helper", "write", "/dev/null", "x", NULL}, &res);
	assert_exited(&res, 0);
	ak_root_result_clear(&res);
	/* both replaced by directories in the root; the outside left as it was */
	ck_assert_int_eq(lstat_kind(path), 'd');
	snprintf(path, sizeof(path), "%s/dev", root);
	ck_assert_int_eq(lstat_kind(path), 'd');
	cleanup_dir DIR *d = opendir(outside);
	ck_assert_ptr_nonnull(d);
	struct dirent *e;
	while ((e = readdir(d)))
		ck_assert_msg(e->d_name[0] == '.', "'%s' appeared outside the root", e->d_name);
}
END_TEST

START_TEST(test_env_cwd_and_path_search)
{
	if (skipped())
		return;
	char path[400];
	snprintf(path, sizeof(path), "%s/bin", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/work", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	put_file("bin/helper", helper_path);
	struct ak_root_result res;
	run_argv((char *[]){"helper", "env", NULL}, &res);
	assert_exited(&res, 0);
	ck_assert_str_eq(res.out,
			 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
			 "HOME=/root\ncwd=/\n");
	ak_root_result_clear(&res);
	struct ak_root_run run = {.argv = (char *[]){"helper", "env", NULL},
				  .envp = (char *[]){"PATH=/nowhere:/bin", "X=1", NULL},
				  .cwd = "/work"};
	run_in_root(&run, &res);
	assert_exited(&res, 0);
	ck_assert_str_eq(res.out, "PATH=/nowhere:/bin\nX=1\ncwd=/work\n");
	ak_root_result_clear(&res);
}
END_TEST

START_TEST(test_sandbox_errors_are_errors)
{
	if (skipped())
		return;
	put_helper();
	cleanup_fd int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ak_root_handler h = {.target = ak_qemu_target_find("aarch64"),
				    .interpreter = "/nonexistent/qemu-aarch64-static"};
	struct ak_root_run run = {.root_fd = fd,
				  .argv = (char *[]){"/helper", "env", NULL},
				  .handlers = &h,
				  .nhandlers = 1,
				  .timeout_ms = 20000};
	struct ak_root_result res;
	struct ak_error *err = NULL;
	ck_assert_int_lt(ak_root_run(&run, &res, &err), 0);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_str_eq(err->msg, "cannot register 'qemu-aarch64': the interpreter file (or the "
				   "entry) does not exist");
	ck_assert_ptr_null(res.out);
	ak_error_clear(&err);

	run.nhandlers = 0;
	run.cwd = "/no-such-dir";
	ck_assert_int_lt(ak_root_run(&run, &res, &err), 0);
	ck_assert_str_eq(err->msg, "cannot change to '/no-such-dir' in the root: No such file or "
				   "directory");
	ak_error_clear(&err);
}
END_TEST

/* In a user namespace of the test's own, a noexec tmpfs holds the root. */
static int noexec_root_error(char *msg, size_t len)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64], dir[400];
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	cleanup_fd int sg = open("/proc/self/setgroups", O_WRONLY);
	cleanup_fd int um = open("/proc/self/uid_map", O_WRONLY);
	if (sg < 0 || write(sg, "deny", 4) < 0 || um < 0 || write(um, map, strlen(map)) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	cleanup_fd int gm = open("/proc/self/gid_map", O_WRONLY);
	if (gm < 0 || write(gm, map, strlen(map)) < 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/noexec", top);
	if (mkdir(dir, 0755) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", MS_NOEXEC, NULL) < 0)
		return -1;
	cleanup_fd int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ak_root_run run = {.root_fd = fd, .argv = (char *[]){"/helper", NULL}};
	struct ak_root_result res;
	struct ak_error *err = NULL;
	if (ak_root_run(&run, &res, &err) == 0) {
		snprintf(msg, len, "ran: outcome %d, errno %d", res.outcome, res.exec_errno);
		return 0;
	}
	snprintf(msg, len, "%s", err->msg);
	return 0;
}

START_TEST(test_noexec_root_is_an_error)
{
	if (skipped())
		return;
	char *msg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(msg, MAP_FAILED);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(noexec_root_error(msg, 4096) < 0 ? 1 : 0);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr,
			"check_root: skipped: cannot mount a noexec tmpfs in a namespace\n");
		return;
	}
	ck_assert_str_eq(msg, "the root is on a noexec mount, where nothing can run (make it "
			      "elsewhere: set TMPDIR)");
	munmap(msg, 4096);
}
END_TEST

Suite *root_suite(void)
{
	Suite *s = suite_create("root");
	TCase *tc = tcase_create("run");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, root_setup, root_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_foreign_binary_runs_after_pivot_root);
	tcase_add_test(tc, test_host_binary_runs_without_handlers);
	tcase_add_test(tc, test_no_handler_is_enoexec);
	tcase_add_test(tc, test_missing_file_or_loader_is_enoent);
	tcase_add_test(tc, test_timeout_kills_every_process);
	tcase_add_test(tc, test_run_dies_with_archkit);
	tcase_add_test(tc, test_leftovers_die_with_the_command);
	tcase_add_test(tc, test_output_caps_and_stderr_tail);
	tcase_add_test(tc, test_killed_by_a_signal);
	tcase_add_test(tc, test_no_privilege_left);
	tcase_add_test(tc, test_proc_is_read_only);
	tcase_add_test(tc, test_dev_and_fds);
	tcase_add_test(tc, test_image_links_are_not_followed);
	tcase_add_test(tc, test_env_cwd_and_path_search);
	tcase_add_test(tc, test_sandbox_errors_are_errors);
	tcase_add_test(tc, test_noexec_root_is_an_error);
	suite_add_tcase(s, tc);
	return s;
}
