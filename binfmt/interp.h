/* Finding and checking QEMU interpreters before they are registered. */
#ifndef AK_BINFMT_INTERP_H
#define AK_BINFMT_INTERP_H

#include <stdbool.h>

#include "common/error.h"
#include "common/platform.h"

struct ak_interp {
	char *path;
	bool needs_p; /* Debian's ARCH-binfmt-P wrappers expect flag P */
	bool is_static;
	char *version; /* "8.2.2" from --version, or NULL */
};

/* Find the interpreter for a target: in qemu_path (when not NULL) as qemu-T-static or
 * qemu-T, else in $PATH and the usual places, then Debian's
 * /usr/libexec/qemu-binfmt/T-binfmt-P. Error (AK_EXIT_FAIL) names the places looked in. */
int ak_interp_find(const struct ak_qemu_target *t, const char *qemu_path, struct ak_interp *out,
		   struct ak_error **err);
/* Check an interpreter file: exists, executable, an ELF for this host's machine, and
 * statically linked when fix_binary (flag F) is wanted. Fills is_static. */
int ak_interp_check(struct ak_interp *in, bool fix_binary, struct ak_error **err);
/* Ask the interpreter for its version (best effort; leaves version NULL on failure). */
void ak_interp_query_version(struct ak_interp *in);
void ak_interp_clear(struct ak_interp *in);

#endif
