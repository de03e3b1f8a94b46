/* What re-creates binfmt_misc entries at boot: systemd-binfmt's binfmt.d(5) files and
 * binfmt-support's update-binfmts(8) database, read below a host root, bounded (a huge,
 * hostile or FIFO file is refused, never waited on), and resolved as boot resolves them. */
#ifndef AK_DOCTOR_PERSIST_H
#define AK_DOCTOR_PERSIST_H

#include <stdbool.h>
#include <stddef.h>

#include "binfmt/entry.h"
#include "common/error.h"

#define AK_PERSIST_FILE_MAX (1 << 20) /* a binfmt.d file (Debian's are ~300 bytes) */
#define AK_PERSIST_DIR_MAX 1024	      /* files read from one folder */
#define AK_PERSIST_RULES_MAX 1024     /* rules kept in all */
#define AK_PERSIST_PROBLEMS_MAX 16    /* problems kept as text; the rest are counted */

struct ak_persisted {
	struct ak_binfmt_entry e; /* as the kernel will hold it after boot */
	char *source;		  /* the file, as seen from here ("/host/etc/binfmt.d/x.conf") */
	unsigned line;		  /* its line in a binfmt.d file; 0 for update-binfmts' */
	bool systemd;		  /* binfmt.d (systemd-binfmt) rather than update-binfmts */
	/* the one boot registers: systemd-binfmt runs first and a later rule of the same
	 * name replaces an earlier one; update-binfmts --enable skips what is there */
	bool effective;
};

struct ak_persist_set {
	struct ak_persisted *rules;
	size_t count;
	/* "PATH: why" for files and lines that boot would skip; more counted past the max */
	char **problems;
	size_t nproblems, problems_dropped;
	/* binfmt.d files that are links to /dev/null: they mask a vendor file of that name */
	char **masked;
	size_t nmasked;
};

/* Read the binfmt.d folders (etc, run, usr/local/lib, usr/lib: a file in an earlier one
 * overrides the same name in a later one) and var/lib/binfmts below host_root (NULL: "/").
 * Symbolic links resolve inside host_root. < 0 only when host_root cannot be opened. */
int ak_persist_read(const char *host_root, struct ak_persist_set *s, struct ak_error **err);
void ak_persist_clear(struct ak_persist_set *s);
/* The rule boot applies for an entry name, or NULL. */
const struct ak_persisted *ak_persist_find(const struct ak_persist_set *s, const char *name);
/* Where a persisted rule and a registered entry differ, one clause per field ("flags 'OCF'
 * persisted, 'F' registered; ..."), or NULL when they agree. Caller frees. */
char *ak_persist_diff(const struct ak_binfmt_entry *persisted, const struct ak_binfmt_entry *live);

#endif
