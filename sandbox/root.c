/* Running one command inside a root directory (root.h). One child, made by clone() in new
 * namespaces, is pid 1 of its PID namespace: it sets the sandbox up, starts the command
 * and reaps. Because it is archkit's own child, one SIGKILL ends the whole run, and
 * waitpid() returns only when every process of the run is gone. */
#include "sandbox/root.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binfmt/entry.h"
#include "binfmt/instance.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "sandbox/sandbox.h"

#define ROOT_STDOUT_MAX (64 * 1024)
#define ROOT_STDERR_TAIL 4096
#define ROOT_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static char *const default_env[] = {"PATH=" ROOT_DEFAULT_PATH, "HOME=/root", NULL};

/* What the sandbox tells archkit through the report pipe: one write each, shorter than
 * PIPE_BUF, so reports of pid 1 and of the command never interleave. */
enum report_kind {
	REPORT_SETUP = 1, /* the sandbox could not be made: msg, errno in value */
	REPORT_EXEC,	  /* execve failed: errno in value */
	REPORT_STATUS,	  /* the command ended: its wait status in value */
};

struct report {
	int kind;
	int value;
	char msg[504];
};

#define REPORTS_MAX 4 /* pid 1 sends one, the command one: more is noise */

static void send_report(int fd, int kind, int value, const char *msg)
{
	struct report r = {.kind = kind, .value = value};
	if (msg)
		snprintf(r.msg, sizeof(r.msg), "%s", msg);
	if (write(fd, &r, sizeof(r)) < 0)
		return; /* archkit is gone: nobody to tell */
}

static _Noreturn void setup_failed(int rep, const struct ak_error *e)
{
	send_report(rep, REPORT_SETUP, e ? e->errnum : 0, e ? e->msg : "cannot set up the root");
	_exit(1);
}

static const char *fd_path(int fd, char buf[32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

static int register_handler(struct ak_binfmt_instance *inst, const struct ak_root_handler *h,
			    struct ak_error **err)
{
	struct ak_binfmt_entry e;
	/* F: the kernel opens the interpreter now, so it runs after the root changes */
	if (ak_binfmt_entry_for_target(h->target, h->interpreter, h->flags ? h->flags : "F", &e,
				       err) < 0)
		return -1;
	cleanup_free char *rule = ak_binfmt_rule_format(&e, err);
	ak_binfmt_entry_clear(&e);
	if (!rule || ak_binfmt_register(inst, rule, err) < 0)
		return -1;
	return 0;
}

/* Open directory NAME right below the root as a mount point, never through a symlink:
 * an image's "proc -> /etc", or a file named dev, is replaced by an empty directory (the
 * root is the caller's private copy; a mount must not land where a link points). */
static int mount_point(int rootfd, const char *name, struct ak_error **err)
{
	int fd = ak_openat_beneath(rootfd, name, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
	if (fd >= 0)
		return fd;
	if (errno == ENOTDIR || errno == ELOOP) {
		if (unlinkat(rootfd, name, 0) < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno,
					      "cannot replace '/%s' in the root", name);
	} else if (errno != ENOENT) {
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '/%s' in the root",
				      name);
	}
	if (mkdirat(rootfd, name, 0755) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot create '/%s' in the root",
				      name);
	fd = ak_openat_beneath(rootfd, name, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '/%s' in the root",
				      name);
	return fd;
}

static int mount_proc(int rootfd, struct ak_error **err)
{
	cleanup_fd int fd = mount_point(rootfd, "proc", err);
	char p[32];
	if (fd < 0)
		return -1;
	/* Read-only: a caller that is root is uid 0 here too, and /proc/sys and
	 * /proc/sysrq-trigger check the uid, not a capability. */
	if (mount("proc", fd_path(fd, p), "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) == 0)
		return 0;
	if (errno == EPERM)
		return ak_error_set(err, AK_EXIT_ENV,
				    "cannot mount /proc in the root: not permitted (a user "
				    "namespace may mount proc only where the host's /proc is fully "
				    "visible; parts of it are hidden, as in a container)");
	return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot mount /proc in the root");
}

/* The host's devices that ordinary programs expect; a missing one is left out, except null. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const dev_links[][2] = {
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
};

static int bind_dev_node(int devfd, const char *name, struct ak_error **err)
{
	char host[32], p[32];
	struct stat st;
	snprintf(host, sizeof(host), "/dev/%s", name);
	if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode)) {
		if (strcmp(name, "null") != 0)
			return 0;
		return ak_error_set(err, AK_EXIT_ENV,
				    "cannot give the root a /dev/null: the "
				    "host's '/dev/null' is not a device");
	}
	/* a user namespace cannot make device nodes: bind the host's onto empty files */
	int f = openat(devfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
	if (f < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot create '/dev/%s'", name);
	close(f);
	cleanup_fd int target = openat(devfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (target < 0 || mount(host, fd_path(target, p), NULL, MS_BIND, NULL) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot bind '%s' into the root",
				      host);
	return 0;
}

static int mount_dev(int rootfd, struct ak_error **err)
{
	char p[32];
	{
		cleanup_fd int mp = mount_point(rootfd, "dev", err);
		if (mp < 0)
			return -1;
		if (mount("tmpfs", fd_path(mp, p), "tmpfs", MS_NOSUID | MS_NOEXEC,
			  "mode=0755,size=64k,nr_inodes=256") < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno,
					      "cannot mount /dev in the root");
	}
	/* mp names the directory under the new mount; a walk from the root crosses into it */
	cleanup_fd int dev =
		ak_openat_beneath(rootfd, "dev", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
	if (dev < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open /dev in the root");
	for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++)
		if (bind_dev_node(dev, dev_nodes[i], err) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if (symlinkat(dev_links[i][1], dev, dev_links[i][0]) < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot create '/dev/%s'",
					      dev_links[i][0]);
	if (mkdirat(dev, "shm", 0755) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot create '/dev/shm'");
	cleanup_fd int shm = openat(dev, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (shm < 0 || mount("tmpfs", fd_path(shm, p), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			     "mode=1777,size=64m") < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot mount /dev/shm in the root");
	return 0;
}

/* The caller's fd names a mount of the caller's namespace, which no mount call here
 * accepts: open the same directory in this namespace's copy of it, by its path, and check
 * that it is the same directory. */
static int root_here(int caller_fd, struct ak_error **err)
{
	char link[32], path[PATH_MAX];
	struct stat want, got;
	ssize_t n = readlink(fd_path(caller_fd, link), path, sizeof(path) - 1);
	if (n < 0 || fstat(caller_fd, &want) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot find the root directory");
	path[n] = '\0';
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &got) < 0 || got.st_dev != want.st_dev ||
	    got.st_ino != want.st_ino) {
		if (fd >= 0)
			close(fd);
		return ak_error_set(err, AK_EXIT_ENV,
				    "cannot find the root directory '%s' in a new "
				    "mount namespace (it moved?)",
				    path);
	}
	return fd;
}

/* Make the root this mount namespace's /: a copy of it mounted over itself (pivot_root
 * wants a mount point), /proc and /dev in it, then pivot_root(".", ".") and the old root
 * detached (runc's way), so nothing outside the root stays reachable, as it would after
 * chroot. */
static int enter_root(int caller_fd, struct ak_error **err)
{
	cleanup_fd int root_fd = root_here(caller_fd, err);
	if (root_fd < 0)
		return -1;
	struct statvfs sv;
	if (fstatvfs(root_fd, &sv) == 0 && (sv.f_flag & ST_NOEXEC))
		return ak_error_set(err, AK_EXIT_ENV,
				    "the root is on a noexec mount, where nothing can run (make it "
				    "elsewhere: set TMPDIR)");
	cleanup_fd int mnt = open_tree(
		root_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (mnt < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot bind the root");
	if (move_mount(mnt, "", root_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot mount the root");
	if (mount_proc(mnt, err) < 0 || mount_dev(mnt, err) < 0)
		return -1;
	if (fchdir(mnt) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot pivot_root into the root");
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot detach the old root");
	return 0;
}

/* Nothing the command runs may hold a privilege: no_new_privs (setuid files stay inert),
 * an empty bounding set (so exec as uid 0 gains nothing back), no capability at all. */
static int drop_privileges(struct ak_error **err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot set no_new_privs");
	for (cap_value_t c = 0; CAP_IS_SUPPORTED(c); c++)
		if (cap_drop_bound(c) < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno,
					      "cannot drop capability %d from the bounding set",
					      (int)c);
	if (cap_reset_ambient() < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot clear ambient capabilities");
	cap_t none = cap_init(); /* every set empty */
	int r = none ? cap_set_proc(none) : -1;
	int e = errno;
	cap_free(none);
	if (r < 0)
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot drop capabilities");
	return 0;
}

/* execve, with a bare argv[0] searched in envp's PATH as a container runtime does (in the
 * root, with the image's PATH). Returns the errno that says most: EACCES over ENOENT. */
static int exec_search(char *const argv[], char *const envp[])
{
	const char *file = argv[0];
	if (!file[0])
		return ENOENT;
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		return errno;
	}
	const char *path = ROOT_DEFAULT_PATH;
	for (char *const *e = envp; *e; e++)
		if (ak_str_has_prefix(*e, "PATH="))
			path = *e + 5;
	int best = ENOENT;
	for (const char *p = path;; p++) {
		size_t n = strcspn(p, ":");
		char full[PATH_MAX];
		if (snprintf(full, sizeof(full), "%.*s%s%s", (int)n, n ? p : ".", "/", file) <
		    (int)sizeof(full)) {
			execve(full, argv, envp);
			if (errno == EACCES)
				best = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				return errno;
		}
		p += n;
		if (!*p)
			break;
	}
	return best;
}

/* The command's process: a session of its own (no controlling terminal, so /dev/tty
 * cannot reach the caller's), stdin /dev/null, no privilege, nothing of archkit's open. */
static _Noreturn void exec_command(const struct ak_root_run *run, int rep, int out, int errw)
{
	struct ak_error *e = NULL;
	setsid();
	/* Each source above 2 first: pid 1 has closed 0-2, and dup2() onto the same fd
	 * would leave its O_CLOEXEC set. */
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	null = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 3);
	out = fcntl(out, F_DUPFD_CLOEXEC, 3);
	errw = fcntl(errw, F_DUPFD_CLOEXEC, 3);
	if (out < 0 || errw < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(errw, 2) < 0) {
		ak_error_errno(&e, AK_EXIT_ENV, errno, "cannot set up the command's stdio");
		setup_failed(rep, e);
	}
	/* ignored signals and the mask survive execve: give the command the defaults */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	const char *cwd = run->cwd ? run->cwd : "/";
	if (chdir(cwd) < 0) {
		ak_error_errno(&e, AK_EXIT_ENV, errno, "cannot change to '%s' in the root", cwd);
		setup_failed(rep, e);
	}
	if (drop_privileges(&e) < 0)
		setup_failed(rep, e);
	int en = exec_search(run->argv, run->envp ? run->envp : default_env);
	send_report(rep, REPORT_EXEC, en, NULL);
	_exit(127);
}

static int int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void close_all_but(int *keep, size_t n)
{
	qsort(keep, n, sizeof(*keep), int_cmp);
	unsigned from = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* Pid 1 of the run. */
static _Noreturn void run_init(const struct ak_root_run *run, uid_t uid, gid_t gid, int rep,
			       int out, int errw)
{
	struct ak_error *e = NULL;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* archkit died before that: the read end is gone, nobody would kill the run */
	struct pollfd pf = {.fd = rep, .events = POLLOUT};
	if (poll(&pf, 1, 0) < 0 || (pf.revents & (POLLERR | POLLHUP)))
		_exit(1);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGCHLD, &dfl, NULL); /* an ignored SIGCHLD would make waitpid() fail */
	/* inst stays open for the whole run: the instance's mount goes with the old root,
	 * and when its last reference goes the kernel drops every entry in it */
	struct ak_binfmt_instance inst = {.dirfd = -1, .lockfd = -1};
	if (run->inherit_binfmt) {
		if (ak_sandbox_map_root(uid, gid, &e) < 0)
			setup_failed(rep, e);
	} else {
		if (ak_sandbox_setup(uid, gid, NULL, &e) < 0)
			setup_failed(rep, e);
		if (ak_binfmt_open(AK_BINFMT_DEFAULT_DIR, false, &inst, &e) < 0)
			setup_failed(rep, e);
		for (size_t i = 0; i < run->nhandlers; i++)
			if (register_handler(&inst, &run->handlers[i], &e) < 0)
				setup_failed(rep, e);
	}
	if (enter_root(run->root_fd, &e) < 0)
		setup_failed(rep, e);
	/* The caller's fds lead out of the root: keep only the run's own. Those are out of
	 * the command's reach: /proc/1/fd wants ptrace access, which takes every
	 * capability that pid 1 has. */
	int keep[] = {rep, out, errw, inst.dirfd};
	close_all_but(keep, inst.dirfd >= 0 ? 4 : 3);
	pid_t pid = fork();
	if (pid < 0) {
		ak_error_errno(&e, AK_EXIT_ENV, errno, "cannot start the command");
		setup_failed(rep, e);
	}
	if (pid == 0)
		exec_command(run, rep, out, errw);
	close(out);
	close(errw);
	/* reap orphans too, until the command itself ends; then the kernel kills the rest */
	int st = 127 << 8;
	for (;;) {
		int s;
		pid_t w = waitpid(-1, &s, 0);
		if (w == pid) {
			st = s;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
	}
	send_report(rep, REPORT_STATUS, st, NULL);
	_exit(0);
}

/* fork() into new namespaces. glibc's clone() wants a stack of its own; the raw system
 * call without one behaves as fork() (no atfork handlers run: the caller has no other
 * threads, by contract), as in crun and bubblewrap. */
static pid_t clone_namespaces(unsigned long flags)
{
#if defined(__s390__) || defined(__CRIS__)
	return (pid_t)syscall(SYS_clone, 0L, flags | SIGCHLD, NULL, NULL, 0L);
#else
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0L, NULL, NULL, 0L);
#endif
}

struct collect {
	char *out;
	size_t out_len, out_cap, out_max;
	bool out_truncated;
	char *ring; /* the last ring_size bytes of stderr */
	size_t ring_size, err_total;
	struct report reports[REPORTS_MAX];
	size_t report_bytes;
};

static void keep_stdout(struct collect *c, const char *buf, size_t n)
{
	size_t room = c->out_max - c->out_len;
	if (n > room) {
		c->out_truncated = true;
		n = room;
	}
	if (n == 0)
		return;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + n)
			cap *= 2;
		if (cap > c->out_max)
			cap = c->out_max;
		/* kept output is capped anyway: a buffer that cannot grow truncates it */
		char *p = realloc(c->out, cap + 1);
		if (!p) {
			c->out_truncated = true;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, n);
	c->out_len += n;
}

static void keep_stderr(struct collect *c, const char *buf, size_t n)
{
	if (n > c->ring_size) {
		c->err_total += n - c->ring_size;
		buf += n - c->ring_size;
		n = c->ring_size;
	}
	for (size_t i = 0; i < n; i++)
		c->ring[(c->err_total + i) % c->ring_size] = buf[i];
	c->err_total += n;
}

static void keep_report(struct collect *c, const char *buf, size_t n)
{
	size_t room = sizeof(c->reports) - c->report_bytes;
	if (n > room)
		n = room;
	memcpy((char *)c->reports + c->report_bytes, buf, n);
	c->report_bytes += n;
}

/* Read what fd has now; false at its end (or on an error other than "nothing yet"). */
static bool drain(struct collect *c, int which, int fd)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		if (which == 0)
			keep_report(c, buf, (size_t)n);
		else if (which == 1)
			keep_stdout(c, buf, (size_t)n);
		else
			keep_stderr(c, buf, (size_t)n);
	}
}

static void close_pipes(int fds[], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Turn what the run reported into its outcome; < 0 when the sandbox itself failed. */
static int judge(const struct collect *c, bool timed_out, int st, struct ak_root_result *res,
		 struct ak_error **err)
{
	const struct report *setup = NULL, *exec = NULL, *status = NULL;
	for (size_t i = 0; i < c->report_bytes / sizeof(struct report); i++) {
		const struct report *r = &c->reports[i];
		if (r->kind == REPORT_SETUP && !setup)
			setup = r;
		else if (r->kind == REPORT_EXEC && !exec)
			exec = r;
		else if (r->kind == REPORT_STATUS && !status)
			status = r;
	}
	if (setup)
		return ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_OTHER, setup->value, "%.*s",
					 (int)sizeof(setup->msg), setup->msg);
	if (timed_out) {
		res->outcome = AK_ROOT_TIMED_OUT;
	} else if (exec) {
		res->outcome = AK_ROOT_EXEC_FAILED;
		res->exec_errno = exec->value;
	} else if (status && WIFSIGNALED(status->value)) {
		res->outcome = AK_ROOT_SIGNALED;
		res->signal = WTERMSIG(status->value);
	} else if (status) {
		res->outcome = AK_ROOT_EXITED;
		res->exit_code = WEXITSTATUS(status->value);
	} else if (WIFSIGNALED(st)) {
		return ak_error_set(err, AK_EXIT_ENV, "the sandbox's pid 1 was killed by signal %d",
				    WTERMSIG(st));
	} else {
		return ak_error_set(err, AK_EXIT_ENV,
				    "the sandbox ended without a report (status %d)",
				    WEXITSTATUS(st));
	}
	return 0;
}

/* Give the kept output to the result: stdout as it came, stderr's ring in order. */
static void hand_out(struct collect *c, struct ak_root_result *res)
{
	res->out = c->out ? steal_pointer(&c->out) : ak_xstrdup("");
	res->out[c->out_len] = '\0';
	res->out_len = c->out_len;
	res->out_truncated = c->out_truncated;
	size_t kept = c->err_total < c->ring_size ? c->err_total : c->ring_size;
	res->err_tail = ak_xmalloc(kept + 1);
	for (size_t i = 0; i < kept; i++)
		res->err_tail[i] = c->ring[(c->err_total - kept + i) % c->ring_size];
	res->err_tail[kept] = '\0';
	res->err_len = kept;
	res->err_truncated = c->err_total > kept;
}

/* A run in progress: pid 1 of its namespaces and the read ends of its three pipes
 * (report, stdout, stderr; -1 once at their end). */
struct ak_root_proc {
	pid_t pid;
	int fds[3];
	struct collect c;
	int64_t start, deadline; /* deadline -1: none */
	bool timed_out;
};

static void proc_free(struct ak_root_proc *p)
{
	close_pipes(p->fds, 3);
	free(p->c.ring);
	free(p->c.out);
	free(p);
}

int ak_root_start(const struct ak_root_run *run, struct ak_root_proc **out, struct ak_error **err)
{
	*out = NULL;
	if (!run->argv || !run->argv[0])
		return ak_error_set(err, AK_EXIT_USAGE, "no command to run in the root");
	struct ak_root_proc *p = ak_xcalloc(1, sizeof(*p));
	p->fds[0] = p->fds[1] = p->fds[2] = -1;
	p->c.out_max = run->stdout_max ? run->stdout_max : ROOT_STDOUT_MAX;
	p->c.ring_size = run->stderr_tail ? run->stderr_tail : ROOT_STDERR_TAIL;
	p->c.ring = ak_xmalloc(p->c.ring_size);
	/* [0..2]: read ends of report, stdout, stderr; [3..5]: their write ends */
	int fds[6] = {-1, -1, -1, -1, -1, -1};
	for (int i = 0; i < 3; i++) {
		int pp[2];
		if (pipe2(pp, O_CLOEXEC) < 0) {
			int e = errno;
			close_pipes(fds, 6);
			proc_free(p);
			return ak_error_errno(err, AK_EXIT_ENV, e, "cannot make a pipe");
		}
		fds[i] = pp[0];
		fds[3 + i] = pp[1];
		/* the read ends only: the command's writes must block as usual */
		fcntl(pp[0], F_SETFL, O_NONBLOCK);
	}
	uid_t uid = geteuid();
	gid_t gid = getegid();
	p->start = ak_monotonic_ms();
	p->deadline = run->timeout_ms > 0 ? p->start + run->timeout_ms : -1;
	pid_t pid = clone_namespaces(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
				     CLONE_NEWUTS);
	if (pid < 0) {
		int e = errno;
		close_pipes(fds, 6);
		proc_free(p);
		return ak_sandbox_userns_error(e, "cannot create the namespaces for a run", err);
	}
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		run_init(run, uid, gid, fds[3], fds[4], fds[5]);
	}
	for (int i = 0; i < 3; i++) {
		close(fds[3 + i]);
		p->fds[i] = fds[i];
	}
	p->pid = pid;
	*out = p;
	return 0;
}

int ak_root_wait_any(struct ak_root_proc *const *procs, size_t n, struct ak_error **err)
{
	struct pollfd pf[3 * AK_ROOT_WAIT_MAX];
	struct ak_root_proc *owner[3 * AK_ROOT_WAIT_MAX];
	int which[3 * AK_ROOT_WAIT_MAX];
	if (n > AK_ROOT_WAIT_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "more than %d runs at once",
				    AK_ROOT_WAIT_MAX);
	for (;;) {
		int64_t now = ak_monotonic_ms();
		int wait = -1;
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			struct ak_root_proc *p = procs[i];
			if (!p)
				continue;
			if (p->fds[0] < 0 || p->timed_out)
				return (int)i; /* pid 1 is gone: its report pipe ended */
			if (p->deadline >= 0) {
				int64_t left = p->deadline - now;
				if (left <= 0) {
					kill(p->pid, SIGKILL); /* our own child: the whole run */
					p->timed_out = true;
					return (int)i;
				}
				if (wait < 0 || left < wait)
					wait = left > INT_MAX ? INT_MAX : (int)left;
			}
			for (int f = 0; f < 3; f++)
				if (p->fds[f] >= 0) {
					pf[k] = (struct pollfd){.fd = p->fds[f], .events = POLLIN};
					owner[k] = p;
					which[k++] = f;
				}
		}
		if (k == 0)
			return ak_error_set(err, AK_EXIT_ENV, "no run to wait for");
		int r = poll(pf, k, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno, "poll");
		for (size_t m = 0; m < k; m++) {
			struct ak_root_proc *p = owner[m];
			int f = which[m];
			if (pf[m].revents && !drain(&p->c, f, p->fds[f])) {
				close(p->fds[f]);
				p->fds[f] = -1; /* at its end: polled no more */
			}
		}
	}
}

int ak_root_finish(struct ak_root_proc *p, struct ak_root_result *res, struct ak_error **err)
{
	memset(res, 0, sizeof(*res));
	if (!p)
		return ak_error_set(err, AK_EXIT_ENV, "no run to finish");
	if (p->fds[0] >= 0 && !p->timed_out)
		kill(p->pid, SIGKILL); /* finished early (the caller is failing): end it */
	int st = 0;
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	/* every writer is gone now: take what is left in the pipes */
	for (int i = 0; i < 3; i++)
		if (p->fds[i] >= 0)
			drain(&p->c, i, p->fds[i]);
	res->elapsed_ms = (uint64_t)(ak_monotonic_ms() - p->start);
	int r = judge(&p->c, p->timed_out, st, res, err);
	if (r == 0)
		hand_out(&p->c, res);
	proc_free(p);
	return r;
}

int ak_root_run(const struct ak_root_run *run, struct ak_root_result *res, struct ak_error **err)
{
	memset(res, 0, sizeof(*res));
	struct ak_root_proc *p = NULL;
	if (ak_root_start(run, &p, err) < 0)
		return -1;
	if (ak_root_wait_any(&p, 1, err) < 0) {
		struct ak_root_result ignored;
		ak_root_finish(p, &ignored, NULL);
		ak_root_result_clear(&ignored);
		return -1;
	}
	return ak_root_finish(p, res, err);
}

void ak_root_result_clear(struct ak_root_result *res)
{
	free(res->out);
	free(res->err_tail);
	memset(res, 0, sizeof(*res));
}
