#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binfmt/instance.h"
#include "common/cleanup.h"
#include "common/util.h"

static long read_sysctl(const char *path)
{
	cleanup_free char *s = NULL;
	if (ak_read_file(path, 64, &s, NULL, NULL) < 0)
		return -1;
	return strtol(s, NULL, 10);
}

int ak_sandbox_userns_error(int e, const char *step, struct ak_error **err)
{
	if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
		return ak_error_set(
			err, AK_EXIT_ENV,
			"%s: AppArmor forbids unprivileged user namespaces "
			"(kernel.apparmor_restrict_unprivileged_userns=1; set it to 0, or "
			"give archkit an AppArmor profile with 'userns,')",
			step);
	if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0)
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s: user namespaces are disabled (user.max_user_namespaces=0)",
				    step);
	if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0 && getuid() != 0)
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s: unprivileged user namespaces are disabled "
				    "(kernel.unprivileged_userns_clone=0)",
				    step);
	if (e == ENOSPC)
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s: the limit of user namespaces is reached "
				    "(user.max_user_namespaces)",
				    step);
	if (e == EPERM)
		return ak_error_set(
			err, AK_EXIT_ENV,
			"%s: not permitted (a seccomp filter or container policy blocks "
			"user namespaces; in Docker, run with --security-opt seccomp=unconfined)",
			step);
	return ak_error_errno(err, AK_EXIT_ENV, e, "%s", step);
}

static int write_proc(const char *path, const char *text, struct ak_error **err)
{
	cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ak_write_all(fd, text, strlen(text)) < 0)
		return ak_sandbox_userns_error(errno, "cannot set up the user namespace", err);
	return 0;
}

int ak_sandbox_map_root(uid_t uid, gid_t gid, struct ak_error **err)
{
	char map[64];
	if (write_proc("/proc/self/setgroups", "deny", err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (write_proc("/proc/self/uid_map", map, err) < 0)
		return -1;
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	if (write_proc("/proc/self/gid_map", map, err) < 0)
		return -1;
	/* nothing mounted here may reach the host's mount table */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ak_sandbox_userns_error(errno, "cannot make mounts private", err);
	return 0;
}

int ak_sandbox_setup(uid_t uid, gid_t gid, const char *dir, struct ak_error **err)
{
	if (!dir)
		dir = AK_BINFMT_DEFAULT_DIR;
	if (ak_sandbox_map_root(uid, gid, err) < 0)
		return -1;
	if (mount("binfmt_misc", dir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		int e = errno;
		struct utsname u;
		uname(&u);
		if (e == EPERM || e == EINVAL)
			return ak_error_set(
				err, AK_EXIT_ENV,
				"cannot mount a private binfmt_misc at '%s': needs Linux "
				"6.7 or later (this is %s)",
				dir, u.release);
		if (e == ENODEV)
			return ak_error_set(err, AK_EXIT_ENV,
					    "cannot mount a private binfmt_misc: the kernel has no "
					    "binfmt_misc (run 'modprobe binfmt_misc' as root)");
		return ak_error_errno(err, AK_EXIT_ENV, e,
				      "cannot mount a private binfmt_misc at '%s'", dir);
	}
	return 0;
}

int ak_sandbox_enter(const char *dir, struct ak_error **err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return ak_sandbox_userns_error(errno, "cannot create a user namespace", err);
	return ak_sandbox_setup(uid, gid, dir, err);
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* Is the process stopped now? A stop reported by waitpid may be stale: at Ctrl-Z the
 * terminal stops archkit and the command together, and 'fg' continues both before
 * archkit reads the report. Without /proc, trust the report. */
static bool is_stopped(pid_t pid)
{
	char path[64];
	cleanup_free char *stat = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (ak_read_file(path, 4096, &stat, NULL, NULL) < 0)
		return true;
	const char *p = strrchr(stat, ')'); /* the command name may hold ')' and spaces */
	return !p || p[1] != ' ' || p[2] == 'T';
}

/* Wait for the command to end. waitpid() without WUNTRACED never returns for a child
 * that stopped itself ('kill -STOP $$'), and in a sandbox nothing else continues it:
 * CI would hang until its own timeout. So a stopped command is continued, and the
 * caller told; a stop for terminal access is passed on to archkit itself instead, where
 * the shell's job control sees it (continuing the command at once would only stop it
 * again at its next read of the terminal). */
static int wait_command(pid_t pid, char *const argv[], const struct ak_sandbox_hooks *hooks)
{
	int st;
	for (;;) {
		if (waitpid(pid, &st, WUNTRACED) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (!WIFSTOPPED(st))
			break;
		int sig = WSTOPSIG(st);
		if (!is_stopped(pid))
			continue; /* stopped and continued with archkit */
		if (sig == SIGTTIN || sig == SIGTTOU) {
			/* discarded by the kernel in an orphaned process group: then go on */
			kill(getpid(), sig);
		} else if (hooks && hooks->continued) {
			hooks->continued(argv[0], sig, hooks->ctx);
		}
		kill(pid, SIGCONT); /* our own child, by pid */
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

int ak_sandbox_run(char *const argv[], const struct ak_sandbox_hooks *hooks, struct ak_error **err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot run '%s'", argv[0]);
	pid_t pid = fork();
	if (pid < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot run '%s'", argv[0]);
	if (pid == 0) {
		close(pfd[0]);
		execvp(argv[0], argv);
		int e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	int e = 0;
	long n = ak_read_full(pfd[0], &e, sizeof(e));
	close(pfd[0]);
	/* keep running while the command gets the terminal's signals */
	struct sigaction ign = {.sa_handler = SIG_IGN}, oint, oquit;
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	int status = wait_command(pid, argv, hooks);
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	if (n == (long)sizeof(e))
		return ak_error_errno(err, e == ENOENT ? 127 : 126, e, "cannot run '%s'", argv[0]);
	return status;
}

int ak_sandbox_call_isolated(int (*fn)(void *ctx), void *ctx, struct ak_error **err)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "fork");
	if (pid == 0) {
		close(pfd[0]);
		struct ak_error *e2 = NULL;
		if (ak_sandbox_enter(NULL, &e2) < 0) {
			if (ak_write_all(pfd[1], e2->msg, strlen(e2->msg)) < 0)
				_exit(126);
			_exit(126);
		}
		_exit(fn(ctx) & 0x7f);
	}
	close(pfd[1]);
	char msg[512];
	long n = ak_read_full(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	int status = wait_status(pid);
	if (n > 0) {
		msg[n] = '\0';
		return ak_error_set(err, AK_EXIT_ENV, "%s", msg);
	}
	if (status < 0 || status > 125)
		return ak_error_set(err, AK_EXIT_ENV, "isolated check failed (status %d)", status);
	return status;
}
