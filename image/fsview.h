/* The final filesystem of one image variant: its layers' indexes applied in order, and
 * each layer's entries in tar order, as containerd's archive.Apply and moby unpack them.
 * An entry's parent resolves inside the root at the moment the entry is reached (missing
 * directories made, a non-directory refused); ".wh.NAME" removes whatever NAME then is,
 * this layer's own earlier entries included; an opaque marker removes below its directory
 * what this layer's entries did not create; a hard link keeps its target's file even when
 * the target is removed later. Answers "what is at this path" with symlinks followed
 * inside the image root, so a PT_INTERP check sees what exec would see. */
#ifndef AK_FSVIEW_H
#define AK_FSVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/layer.h"

/* Symlinks followed in one resolution before "symlink loop" (Linux's own limit). */
#define AK_FSVIEW_MAX_LINKS 40

struct ak_fsview_entry {
	const char *path; /* normalised, as in ak_layer_entry */
	const char *link; /* symlink target as written; for a hard link, the path it shares */
	uint64_t size;
	uint32_t mode;
	/* AK_ENTRY_REGULAR, _DIR, _SYMLINK or _OTHER; a hard link takes its target's type
	 * and facts; one whose target is missing stays AK_ENTRY_HARDLINK */
	enum ak_entry_type type;
	bool hardlink;
	bool implicit; /* a parent directory that no entry named */
	int layer;     /* layer_no of the layer that put it here */
	void *facts;   /* borrowed from the layer index (the target's for a hard link) */
};

enum ak_fsview_removal {
	AK_REMOVED_BY_WHITEOUT,
	AK_REMOVED_BY_OPAQUE,
	AK_REMOVED_BY_REPLACEMENT, /* a later entry, of its own layer or above, took the path */
};

/* An entry removed by a later entry, of its own layer or one above (listed by --verbose; a
 * wrong file there is no failure). */
struct ak_fsview_removed {
	const char *path;
	enum ak_entry_type type;
	int layer;	/* the layer that had put it there */
	int removed_by; /* the layer that removed it */
	enum ak_fsview_removal how;
	void *facts;
};

struct ak_fsview;

/* An empty filesystem (the root directory only); never NULL (err is not used). */
struct ak_fsview *ak_fsview_new(struct ak_error **err);
/* Free a view; the layer indexes it borrowed from are untouched. NULL is fine. */
void ak_fsview_free(struct ak_fsview *view);
static inline void ak_fsview_freep(struct ak_fsview **v)
{
	ak_fsview_free(*v);
}
#define cleanup_fsview __attribute__((cleanup(ak_fsview_freep)))

/* Apply one layer on top (layers in order, layer_no counting from 0). The view borrows
 * the index's strings and facts: the index must outlive the view. Errors (a symlink loop
 * or a non-directory in an entry's parent path) are AK_EXIT_ENV. */
int ak_fsview_apply_layer(struct ak_fsview *view, const struct ak_layer_index *idx, int layer_no,
			  struct ak_error **err);

/* The entry at exactly this path (normalised first; no symlink followed), or NULL. */
const struct ak_fsview_entry *ak_fsview_lookup(const struct ak_fsview *view, const char *path);

/* Follow path through symlinks as exec would, inside the image root: absolute targets
 * start at the root, relative ones at the link's directory, ".." stops at the root.
 * Returns 1 with *entry set, 0 when nothing is there (or a component is not a
 * directory), -1 with *err on "symlink loop" (more than AK_FSVIEW_MAX_LINKS links) or
 * a path too long. The root itself resolves to 0 (it is not an entry). */
int ak_fsview_resolve(const struct ak_fsview *view, const char *path,
		      const struct ak_fsview_entry **entry, struct ak_error **err);

/* Number of entries in the final filesystem (implicit directories included). */
size_t ak_fsview_count(const struct ak_fsview *view);

/* Call fn for each entry of the final filesystem, sorted by path (strcmp) or in order of
 * creation. A non-zero return from fn stops and is returned (err is not used). */
int ak_fsview_foreach(const struct ak_fsview *view, bool sorted,
		      int (*fn)(const struct ak_fsview_entry *entry, void *ctx), void *ctx,
		      struct ak_error **err);

/* Record what later layers remove (off by default: only --verbose lists it, and a
 * layer repeated 40,000 times would record millions). Set before applying layers. */
void ak_fsview_set_record_removed(struct ak_fsview *view, bool on);
/* What later layers removed, in the order it happened, when recording was on (the
 * array belongs to the view); nothing otherwise. */
const struct ak_fsview_removed *ak_fsview_removed(const struct ak_fsview *view, size_t *count);

#endif
