/* Private QEMU handlers without root: a new user + mount namespace in which the caller is
 * root, with its own binfmt_misc instance (Linux 6.7+) mounted over the usual path. The
 * host's handlers and mounts are never touched. */
#ifndef AK_SANDBOX_H
#define AK_SANDBOX_H

#include <sys/types.h>

#include "common/error.h"

/* Move the calling (single-threaded) process into a new user + mount namespace, map its
 * uid and gid to root there, make mounts private and mount a fresh binfmt_misc at dir
 * (AK_BINFMT_DEFAULT_DIR when NULL). Errors name the kernel or policy that forbids it. */
int ak_sandbox_enter(const char *dir, struct ak_error **err);
/* The second half of ak_sandbox_enter, for a process that has just been made in new user +
 * mount namespaces some other way (clone, or unshare with more namespaces): map uid and
 * gid (its ids outside) to root, make mounts private, mount binfmt_misc at dir. */
int ak_sandbox_setup(uid_t uid, gid_t gid, const char *dir, struct ak_error **err);
/* The first half of ak_sandbox_setup alone: ids mapped to root, mounts private, and no
 * binfmt_misc mounted, so the namespace keeps using its parent's instance (the kernel
 * looks up the nearest ancestor user namespace that mounted one). */
int ak_sandbox_map_root(uid_t uid, gid_t gid, struct ak_error **err);
/* Set *err for a user namespace that could not be made (errnum from unshare or clone, or
 * from writing its maps), naming the sysctl or policy that forbids it; returns -1. */
int ak_sandbox_userns_error(int errnum, const char *step, struct ak_error **err);
/* What ak_sandbox_run tells its caller while the command runs (each may be NULL). */
struct ak_sandbox_hooks {
	/* the command stopped itself (signal sig) and was continued with SIGCONT */
	void (*continued)(const char *argv0, int sig, void *ctx);
	void *ctx;
};
/* Run argv (searched in $PATH) in a child and wait: returns its exit status, or
 * 128 + signal when it was killed; < 0 when it could not be started. A command that
 * stops (SIGSTOP, SIGTSTP) while archkit runs is continued, since nothing else would
 * continue it; a stop for terminal access (SIGTTIN, SIGTTOU) stops archkit too, for the
 * shell's job control, and archkit continues the command when it is continued itself. */
int ak_sandbox_run(char *const argv[], const struct ak_sandbox_hooks *hooks, struct ak_error **err);
/* In a child process: enter a fresh namespace with an empty binfmt_misc instance and call
 * fn there; returns fn's result (0..125), or -1 when the namespace cannot be made. Lets
 * archkit find what the host runs natively with no handler in the way. */
int ak_sandbox_call_isolated(int (*fn)(void *ctx), void *ctx, struct ak_error **err);

#endif
