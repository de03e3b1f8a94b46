/* Running one command inside a root directory, the way a container runtime would but
 * without a daemon or root: a child in new user, mount, PID, IPC and UTS namespaces (the
 * caller mapped to root there), a private binfmt_misc instance holding the QEMU handlers
 * asked for (registered with F, so the interpreter is opened before the root changes),
 * pivot_root into the directory (the old root detached: nothing outside stays reachable,
 * unlike chroot), a fresh read-only /proc and a /dev holding only null, zero, full,
 * random, urandom and tty bind-mounted from the host (plus fd, stdin, stdout, stderr links
 * and a tmpfs /dev/shm), no_new_privs and every capability dropped before exec. Mount
 * points inside the root are opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so an
 * image's "/proc -> /etc" symlink cannot redirect a mount: a proc or dev that is not a
 * directory is replaced by an empty one (the root is the caller's private copy; it gains
 * empty proc and dev directories when it lacks them).
 * The command runs in a session of its own, stdin /dev/null, with no fd of the caller's;
 * the child that sets up is pid 1 and reaps, so when the command exits whatever it left
 * running is killed, and so is the whole run at the timeout or when the calling thread
 * dies. */
#ifndef AK_SANDBOX_ROOT_H
#define AK_SANDBOX_ROOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binfmt/interp.h"
#include "common/error.h"
#include "common/platform.h"

/* One handler to register in the private instance. */
struct ak_root_handler {
	const struct ak_qemu_target *target;
	const char *interpreter; /* absolute path of a static QEMU on the host */
	const char *flags;	 /* binfmt_misc flags, F among them; NULL: "F" */
};

struct ak_root_run {
	/* the directory to run in (borrowed); it must stay at its path during the run (the
	 * new mount namespace finds it by path, checked to be the same inode) */
	int root_fd;
	/* argv[0] is resolved inside the root ("/bin/sh"); one without '/' is looked up in
	 * the PATH of envp, as a container runtime does */
	char *const *argv;
	/* NULL: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME=/root */
	char *const *envp;
	const char *cwd; /* inside the root; NULL: "/" (one that is missing is an error) */
	const struct ak_root_handler *handlers;
	size_t nhandlers;
	/* no private binfmt_misc: the run uses the caller's instance (its user namespace's,
	 * or the nearest ancestor's), handlers is ignored. A foreign binary then runs only
	 * through a caller's handler with F: what `archkit doctor` proves with it */
	bool inherit_binfmt;
	/* the whole run, setup included; <= 0: none. Then every process of the run is
	 * killed, and gone when ak_root_run returns */
	int timeout_ms;
	size_t stdout_max;  /* bytes of stdout kept (the first); 0: 64 KiB */
	size_t stderr_tail; /* bytes of stderr kept (the last); 0: 4 KiB */
};

enum ak_root_outcome {
	AK_ROOT_EXITED,	    /* exit_code set */
	AK_ROOT_SIGNALED,   /* signal set */
	AK_ROOT_TIMED_OUT,  /* killed at the timeout */
	AK_ROOT_EXEC_FAILED /* execve itself failed: exec_errno (ENOEXEC: no handler ran it;
			       ENOENT: no such file, or its ELF interpreter is missing) */
};

struct ak_root_result {
	enum ak_root_outcome outcome;
	int exit_code;
	int signal;
	int exec_errno;
	char *out; /* NUL-terminated, malloc'd; may be "" */
	size_t out_len;
	bool out_truncated;
	char *err_tail; /* the last stderr_tail bytes, NUL-terminated, malloc'd */
	size_t err_len;
	bool err_truncated;
	uint64_t elapsed_ms;
};

/* Run it; < 0 with *err (AK_EXIT_ENV) only when the sandbox cannot be made (no user
 * namespaces, no private binfmt_misc, a handler refused, the root on a noexec mount, a
 * missing cwd): the command's own failure is a result. Called from a process whose
 * threads are joined (the child is made by a raw clone: fork without atfork handlers),
 * with no SIGCHLD handler that reaps any child (waitpid(-1)). */
int ak_root_run(const struct ak_root_run *run, struct ak_root_result *res, struct ak_error **err);
void ak_root_result_clear(struct ak_root_result *res);

/* The same in steps, for several runs at once from one thread: start each, wait for
 * whichever ends (or reaches its timeout: it is killed then) and finish it. */
#define AK_ROOT_WAIT_MAX 64 /* runs one wait may watch */
struct ak_root_proc;
int ak_root_start(const struct ak_root_run *run, struct ak_root_proc **out,
		  struct ak_error **err);
/* Collect output until one of procs[0..n-1] (NULL entries skipped) has ended or timed
 * out; returns its index, < 0 with *err when waiting itself fails. */
int ak_root_wait_any(struct ak_root_proc *const *procs, size_t n, struct ak_error **err);
/* Reap p (killing it first when it is still running), fill *res and free p. */
int ak_root_finish(struct ak_root_proc *p, struct ak_root_result *res, struct ak_error **err);

#endif
