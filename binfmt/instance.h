/* One binfmt_misc instance (the host's, or a private one in a user namespace): opening
 * it, mounting it when allowed, locking it, and writing to register and entry files with
 * errors a user can act on. */
#ifndef AK_BINFMT_INSTANCE_H
#define AK_BINFMT_INSTANCE_H

#include <stdbool.h>

#include "binfmt/entry.h"
#include "common/error.h"

#define AK_BINFMT_DEFAULT_DIR "/proc/sys/fs/binfmt_misc"

struct ak_binfmt_instance {
	char *dir;
	int dirfd;
	int lockfd;   /* -1 until ak_binfmt_lock() */
	bool enabled; /* the instance's status file says enabled */
};

/* Open the instance at dir; when it is not mounted, mount it if `mount` and the
 * privileges allow, else explain what is missing (module, CAP_SYS_ADMIN, userns). */
int ak_binfmt_open(const char *dir, bool mount, struct ak_binfmt_instance *inst,
		   struct ak_error **err);
/* An instance on a directory already open at dirfd (taken over), with none of
 * ak_binfmt_open's checks: no filesystem magic, no mount, status read if present. For
 * tests that stand a plain directory in for binfmt_misc, where writing register makes no
 * entry appear, so that reading back is what fails. */
void ak_binfmt_open_dirfd(int dirfd, const char *dir, struct ak_binfmt_instance *inst);
void ak_binfmt_close(struct ak_binfmt_instance *inst);
/* Take the instance-wide lock (flock on the directory), waiting for another archkit. */
int ak_binfmt_lock(struct ak_binfmt_instance *inst, struct ak_error **err);
/* Can this process write to the instance? Checks CAP_SYS_ADMIN with libcap and a
 * read-only mount; the error says what to do. */
int ak_binfmt_check_writable(const struct ak_binfmt_instance *inst, struct ak_error **err);
/* Write a rule line to register, in one write(); errno turned into advice. */
int ak_binfmt_register(struct ak_binfmt_instance *inst, const char *rule, struct ak_error **err);
/* Remove the named entry (writes -1). */
int ak_binfmt_unregister(struct ak_binfmt_instance *inst, const char *name, struct ak_error **err);
/* Enable a disabled entry (writes 1). */
int ak_binfmt_enable(struct ak_binfmt_instance *inst, const char *name, struct ak_error **err);
/* Is this process in the initial user namespace? */
bool ak_in_initial_userns(void);

#endif
