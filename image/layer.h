/* The layer walker: one pass over a layer blob (or a buildx output folder or tar
 * sub-tree), recording every entry with a normalised path and handing each regular
 * file's bytes to a consumer in chunks. Nothing is written to disk and no layer is held
 * whole. A walk keeps all its state in its own objects, so layers can be scanned in
 * parallel threads; the resulting ak_layer_index is then merged per variant by fsview. */
#ifndef AK_LAYER_H
#define AK_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/decompress.h"
#include "image/stream.h"

enum ak_entry_type {
	AK_ENTRY_REGULAR,
	AK_ENTRY_DIR,
	AK_ENTRY_SYMLINK,
	AK_ENTRY_HARDLINK, /* link is the normalised path of the file it shares */
	AK_ENTRY_OTHER,	   /* device, fifo, socket */
	AK_ENTRY_WHITEOUT, /* ".wh.NAME": path is the NAME it deletes from lower layers */
	AK_ENTRY_OPAQUE,   /* ".wh..wh..opq": path is the dir whose lower contents it hides */
};

/* "regular", "dir", "symlink", "hardlink", "other", "whiteout", "opaque". */
const char *ak_entry_type_name(enum ak_entry_type t);

/* One entry as recorded. Paths are normalised: no leading "/" or "./", no "." or ".."
 * components, no "//", no trailing "/"; "" never appears (the root is not an entry). */
struct ak_layer_entry {
	const char *path;
	const char *link; /* symlink target as written, hard-link target normalised, else NULL */
	uint64_t size;	  /* regular files: bytes of data; 0 otherwise */
	uint32_t mode;	  /* permission bits, setuid/setgid/sticky included (07777) */
	enum ak_entry_type type;
	void *facts; /* what the consumer's end() returned for this file, or NULL */
};

/* Who gets the file contents. Every callback is optional; all run on the walking
 * thread, in entry order. */
struct ak_layer_consumer {
	void *ctx;
	/* A regular file starts (entry->facts is NULL); return true to be fed its bytes. */
	bool (*begin)(void *ctx, const struct ak_layer_entry *entry);
	/* The next chunk, contiguous from offset 0 (sparse holes arrive as zeros). Return
	 * 0 to go on, 1 to get no more of this file, < 0 (with *err set) to stop the walk. */
	int (*data)(void *ctx, const void *buf, size_t len, struct ak_error **err);
	/* After begin() said yes: the file ended (or the walk is failing). The return value
	 * is stored as entry->facts; the index later frees it with free_facts. */
	void *(*end)(void *ctx, const struct ak_layer_entry *entry);
	void (*free_facts)(void *facts);
};

/* The entries and whiteouts of one layer, in archive order. Strings live in the
 * index's own arena; the index owns the facts and frees them with free_facts. */
struct ak_layer_index {
	struct ak_layer_entry *entries;
	size_t count;
	enum ak_compression compression;
	/* the layer's media type declares another compression than its bytes have
	 * (declared says which); containerd and others pick the decompressor from it */
	bool media_type_mismatch;
	enum ak_compression declared;
	uint64_t uncompressed_bytes; /* tar bytes read, trailing padding included */
	struct ak_layer_arena *arena;
	void (*free_facts)(void *facts);
};

#define AK_LAYER_MAX_ENTRIES_DEFAULT 4000000u
/* A recorded path or link is shorter than this (NUL included). */
#define AK_LAYER_PATH_MAX 4096

struct ak_layer_options {
	const char *name;	/* for messages: "layer 'NAME': ..." (a digest); may be NULL */
	uint64_t max_bytes;	/* cap on uncompressed bytes; 0: AK_MAX_LAYER_BYTES_DEFAULT */
	size_t max_entries;	/* cap on entries; 0: AK_LAYER_MAX_ENTRIES_DEFAULT */
	const char *tar_prefix; /* buildx type=tar: only entries under "linux_arm_v7/",
				   with the prefix stripped; NULL for a whole layer */
	bool literal_whiteouts; /* ".wh.*" names are plain files (a final filesystem, as
				   buildx type=tar writes), not whiteouts */
	const char *media_type; /* the descriptor's: breaks a sniffing tie and is checked
				   against the bytes (idx->media_type_mismatch); may be NULL */
};

/* The compression a layer media type declares: 1 with *out set for the OCI layer types
 * (tar, +gzip, +zstd, nondistributable too) and Docker's tar.gzip ones; 0 for anything
 * else, NULL included, and for Docker's plain "rootfs.diff.tar", whose compression
 * runtimes detect (containerd: "may have been compressed but failed to use the correct
 * media type") and which docker save sources use for layers whose type nothing names. */
int ak_layer_media_type_compression(const char *media_type, enum ak_compression *out);

/* Scan one layer blob: decompress by magic, walk the tar, record entries, feed regular
 * files to the consumer (may be NULL). opts may be NULL. Takes ownership of blob. Reads
 * the blob to its end, so a verifying stream gets to check the digest. max_bytes caps
 * the layer's total: every byte inflated (what follows the tar's end too), every
 * compressed byte, and the holes of sparse files, which a runtime writes out as zeros
 * (cap errors have errnum EFBIG). A damaged tar header fails the layer, as Go's
 * archive/tar does, instead of being skipped. Errors are prefixed "layer 'NAME': "
 * (AK_EXIT_ENV for bad input; a consumer's error keeps its status). */
int ak_layer_scan(struct ak_stream *blob, const struct ak_layer_options *opts,
		  const struct ak_layer_consumer *consumer, struct ak_layer_index **out,
		  struct ak_error **err);

/* Walk a directory tree (buildx type=local output folder, e.g. "linux_arm_v7") given
 * as dirfd (borrowed; AT_FDCWD allowed) + path. Never follows a symlink, in the tree or
 * out of it; files with several links become hard links to the first path seen.
 * Names starting ".wh." are ordinary files here. */
int ak_layer_scan_dir(int dirfd, const char *path, const struct ak_layer_options *opts,
		      const struct ak_layer_consumer *consumer, struct ak_layer_index **out,
		      struct ak_error **err);

/* Free an index and every facts pointer in it; NULL is fine. */
void ak_layer_index_free(struct ak_layer_index *idx);
static inline void ak_layer_index_freep(struct ak_layer_index **idx)
{
	ak_layer_index_free(*idx);
}
#define cleanup_layer_index __attribute__((cleanup(ak_layer_index_freep)))

/* Normalise a tar path into out (size outlen): strips "./" and leading "/", collapses
 * "//" and ".", resolves ".." lexically. Returns 0, -1 when ".." climbs above the
 * root, -2 when the result is too long. The empty string means the root itself. */
int ak_layer_path_normalise(const char *in, char *out, size_t outlen);

/* A bump allocator for strings and small records that all die together. */
struct ak_layer_arena;
struct ak_layer_arena *ak_layer_arena_new(void);
void *ak_layer_arena_alloc(struct ak_layer_arena *a, size_t len);
/* Copy len bytes of s and a NUL. */
char *ak_layer_arena_strndup(struct ak_layer_arena *a, const char *s, size_t len);
void ak_layer_arena_free(struct ak_layer_arena *a);

#endif
