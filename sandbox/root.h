/* Running one command inside a root directory, the way a container runtime would but
 * without a daemon or root: a child in new user, mount and PID namespaces (the caller
 * mapped to root there), a private binfmt_misc instance holding the QEMU handlers asked
 * for (registered with F, so the interpreter is opened before the root changes),
 * pivot_root into the directory (the old root detached: nothing outside stays reachable,
 * unlike chroot), a fresh read-only /proc and a /dev holding only null, zero, full,
 * random, urandom and tty bind-mounted from the host, no_new_privs and every capability
 * dropped before exec. Mount points inside the root are opened with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS, so an image's "/proc -> /etc" symlink cannot redirect a mount. */
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
};

struct ak_root_run {
	int root_fd; /* the directory to run in (borrowed) */
	char *const *argv; /* argv[0] is resolved inside the root ("/bin/sh") */
	char *const *envp; /* NULL: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME=/root */
	const char *cwd;   /* inside the root; NULL: "/" */
	const struct ak_root_handler *handlers;
	size_t nhandlers;
	int timeout_ms;	      /* the whole run; the namespace's every process is killed then */
	size_t stdout_max;    /* bytes of stdout kept (the first); 0: 64 KiB */
	size_t stderr_tail;   /* bytes of stderr kept (the last); 0: 4 KiB */
};

enum ak_root_outcome {
	AK_ROOT_EXITED,	    /* exit_code set */
	AK_ROOT_SIGNALED,   /* signal set */
	AK_ROOT_TIMED_OUT,  /* killed at the timeout */
	AK_ROOT_EXEC_FAILED /* execve itself failed: exec_errno (ENOEXEC: no handler ran it) */
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
 * namespaces, no private binfmt_misc, a handler refused): the command's own failure is
 * a result. Called from a process whose threads are joined: the child unshares. */
int ak_root_run(const struct ak_root_run *run, struct ak_root_result *res, struct ak_error **err);
void ak_root_result_clear(struct ak_root_result *res);

#endif
