/* Layer facts cached by layer digest: the walker's entries (paths, types, links, modes)
 * and each file's facts as the consumer encodes them (probe: the ELF facts). Since the
 * digest was verified when the facts were made, a cached layer needs no download and no
 * inflate: re-probing an image whose base layers did not change reads only its new
 * layers. Files live under $XDG_CACHE_HOME/archkit/layers/ (--cache-dir), one per digest
 * named by its hex, are written atomically (temp file + rename), checked when read
 * (magic, format version, codec name and version, digest, length, checksum) and ignored
 * and rewritten when they do not pass; the directory is bounded in bytes, least recently
 * used removed first. Several processes may share a directory. */
#ifndef AK_LAYER_CACHE_H
#define AK_LAYER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/blob.h"
#include "image/layer.h"

#define AK_LAYER_CACHE_MAX_BYTES_DEFAULT (1ull << 30)
/* A cache file larger than this is neither read nor written. */
#define AK_LAYER_CACHE_FILE_MAX (256u << 20)

/* How a consumer's facts go to bytes and back. */
struct ak_facts_codec {
	const char *name; /* "elf"; at most 32 bytes */
	/* bump when the encoding or what it means changes, or when the consumer would make
	 * other facts of the same bytes (a classifier that learns something new) */
	uint32_t version;
	/* Append facts' encoding to *buf (realloc'd, *len updated); -1 on no memory. */
	int (*encode)(const void *facts, char **buf, size_t *len, size_t *cap);
	/* Facts from bytes; NULL when malformed (the whole cache file is then ignored). */
	void *(*decode)(const void *data, size_t len);
	void (*free_facts)(void *facts);
};

struct ak_layer_cache;
/* dir NULL: $XDG_CACHE_HOME/archkit/layers (~/.cache/archkit/layers); made (0700) when
 * missing. max_bytes 0: the default. A directory that cannot be written is no error:
 * stores then fail quietly. */
int ak_layer_cache_open(const char *dir, uint64_t max_bytes, struct ak_layer_cache **out,
			struct ak_error **err);
void ak_layer_cache_close(struct ak_layer_cache *c);

/* The cached index of the layer blob d names, or NULL (absent, unreadable, another
 * version or codec, made of a blob of another size, or under a media type declaring
 * another compression, which can change how the bytes were read: the caller scans and
 * stores). A hit marks the file as recently used. Thread-safe. */
struct ak_layer_index *ak_layer_cache_load(struct ak_layer_cache *c, const struct ak_descriptor *d,
					   const struct ak_facts_codec *codec);
/* Store an index just scanned from the blob d names, its digest verified (best effort:
 * a failure to write is no error of the probe; it returns -1 and the next probe scans
 * again). Removes the least recently used files when the directory grows past its
 * bound. Thread-safe. */
int ak_layer_cache_store(struct ak_layer_cache *c, const struct ak_descriptor *d,
			 const struct ak_layer_index *idx, const struct ak_facts_codec *codec);

/* ---- for codecs: the encoding the cache uses itself ---- */

/* Append n bytes / an unsigned LEB128 number / a string or NULL (length + 1, 0 for
 * NULL, then the bytes) to *buf; -1 on no memory. */
int ak_facts_put(char **buf, size_t *len, size_t *cap, const void *p, size_t n);
int ak_facts_put_uint(char **buf, size_t *len, size_t *cap, uint64_t v);
int ak_facts_put_str(char **buf, size_t *len, size_t *cap, const char *s);

/* Reads what the put functions wrote; past the end or malformed, bad is set and every
 * later read fails too. */
struct ak_facts_reader {
	const unsigned char *p;
	size_t left;
	bool bad;
};
/* The next n bytes (NULL when short). */
const void *ak_facts_get(struct ak_facts_reader *r, size_t n);
/* The next number; 0 with bad set when malformed or above max. */
uint64_t ak_facts_get_uint(struct ak_facts_reader *r, uint64_t max);
/* The next string, pointing into the data (not NUL-terminated), or *s NULL for a NULL
 * string; -1 (bad set) when longer than max, short, or holding a NUL. */
int ak_facts_get_str(struct ak_facts_reader *r, size_t max, const char **s, size_t *n);

#endif
