/* Writing a variant's final filesystem to disk, safely, for `archkit verify IMAGE`.
 * During the scan, a store consumer writes every regular file's bytes to a private
 * content store (one file per layer entry, named by job and entry number). Afterwards
 * ak_unpack_materialise() makes the tree the fsview says survives: directories,
 * regular files moved (or copied, when another variant still needs them) out of the
 * store, symlinks as written (never followed while unpacking), hard links inside the
 * root. Nothing else is written: no path leaves the root (every step opens parents with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS below the root fd), device nodes, FIFOs and
 * sockets are left out, setuid/setgid bits are dropped, no xattrs (so no file
 * capabilities) are set, everything is owned by the caller, and the bytes written are
 * capped. */
#ifndef AK_UNPACK_H
#define AK_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/fsview.h"
#include "image/layer.h"

#define AK_UNPACK_MAX_BYTES_DEFAULT (8ull << 30) /* --max-unpack-bytes */

struct ak_unpack_store;

/* A store in a new directory below parent_fd (borrowed) named name; max_bytes caps the
 * bytes it holds in all (0: the default; over it, errors of kind AK_ERR_LIMIT). */
int ak_unpack_store_new(int parent_fd, const char *name, uint64_t max_bytes,
			struct ak_unpack_store **out, struct ak_error **err);
/* Remove the store's directory and everything left in it; NULL is fine. */
void ak_unpack_store_free(struct ak_unpack_store *st);

/* A consumer for scan job number job that writes each regular file into the store; its
 * facts identify the stored file. Safe to use from several threads at once (one
 * consumer per job). *out's ctx is freed by ak_unpack_consumer_finish. */
int ak_unpack_consumer(struct ak_unpack_store *st, size_t job, struct ak_layer_consumer *out,
		       struct ak_error **err);
/* Release a consumer; returns < 0 with *err when it failed while writing (disk full,
 * the byte cap) after the walker had no way to say so. */
int ak_unpack_consumer_finish(struct ak_layer_consumer *c, struct ak_error **err);

/* Declare that a stored file (by the facts the consumer made) will be materialised
 * `uses` more times; the last use moves it, earlier ones copy. Callers that materialise
 * several views from one store call it for each view first (ak_unpack_plan does). */
void ak_unpack_plan(struct ak_unpack_store *st, const struct ak_fsview *view);

struct ak_unpack_stats {
	uint64_t files, dirs, symlinks, hardlinks;
	uint64_t bytes;	       /* regular file bytes written or moved */
	uint64_t skipped_special; /* devices, FIFOs, sockets left out */
	uint64_t dropped_setid;   /* files whose setuid/setgid bits were dropped */
};

/* Write the view's final filesystem below root_fd (an empty directory the caller made).
 * Directories get their modes at the end, so a 0555 directory still receives its
 * entries. Errors: AK_EXIT_ENV, naming the path. */
int ak_unpack_materialise(struct ak_unpack_store *st, const struct ak_fsview *view, int root_fd,
			  struct ak_unpack_stats *stats, struct ak_error **err);

#endif
