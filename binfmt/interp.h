/* Finding and checking QEMU interpreters before they are registered. */
#ifndef AK_BINFMT_INTERP_H
#define AK_BINFMT_INTERP_H

#include <stdbool.h>

#include "common/error.h"
#include "common/platform.h"

/* What asking an interpreter for its version gave. */
enum ak_version_status {
	AK_VERSION_NOT_ASKED,
	AK_VERSION_FOUND,
	AK_VERSION_TIMED_OUT,  /* no version before the deadline: killed */
	AK_VERSION_CANNOT_RUN, /* could not be started */
	AK_VERSION_NONE,       /* ran, but printed no version */
};

/* The deadline for all version queries of one command together. */
#define AK_INTERP_VERSION_TIMEOUT_MS 1000

struct ak_interp {
	char *path;
	bool needs_p; /* Debian's ARCH-binfmt-P wrappers expect flag P */
	bool is_static;
	char *version; /* "8.2.2" from --version, or NULL */
	enum ak_version_status version_status;
};

/* Find the interpreter for a target: in qemu_path (when not NULL) as qemu-T-static or
 * qemu-T, else in $PATH and the usual places, then Debian's
 * /usr/libexec/qemu-binfmt/T-binfmt-P. Error (AK_EXIT_FAIL) names the places looked in. */
int ak_interp_find(const struct ak_qemu_target *t, const char *qemu_path, struct ak_interp *out,
		   struct ak_error **err);
/* Check an interpreter file: exists, executable, an ELF for this host's machine, and
 * statically linked when fix_binary (flag F) is wanted. Fills is_static. */
int ak_interp_check(struct ak_interp *in, bool fix_binary, struct ak_error **err);
/* Is path (an entry's interpreter) a static QEMU of target t: qemu-T-static or qemu-T,
 * directly or through symlinks (Debian's /usr/libexec/qemu-binfmt/T-binfmt-P points to
 * qemu-T-static), or that Debian wrapper itself as a file, and statically linked for this
 * host? Sets *needs_p for a -binfmt-P name, which only works with flag P. The error
 * (AK_EXIT_FAIL) says why not. */
int ak_interp_serves(const char *path, const struct ak_qemu_target *t, bool *needs_p,
		     struct ak_error **err);
/* Ask n interpreters for their versions (--version), all at once, and wait at most
 * timeout_ms for all of them together: an interpreter that is late is killed with the
 * process group it was started in, and reaped. Sets version and version_status;
 * entries without a path are not asked. */
void ak_interp_query_versions(struct ak_interp *in, size_t n, int timeout_ms);
/* "found", "timed out", "cannot run", "no version in its output", "not asked" */
const char *ak_version_status_name(enum ak_version_status s);
void ak_interp_clear(struct ak_interp *in);

#endif
