/* Layer facts cached by layer digest: the walker's entries (paths, types, links, modes)
 * and each file's facts as the consumer encodes them (probe: the ELF facts). Since the
 * digest was verified when the facts were made, a cached layer needs no download and no
 * inflate: re-probing an image whose base layers did not change reads only its new
 * layers. Files live under $XDG_CACHE_HOME/archkit/layers/ (--cache-dir), are written
 * atomically (temp file + rename), checked when read (magic, format version, codec
 * name and version, length, checksum) and ignored and rewritten when they do not
 * pass; the directory is bounded in bytes, least recently used removed first. */
#ifndef AK_LAYER_CACHE_H
#define AK_LAYER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/layer.h"

#define AK_LAYER_CACHE_MAX_BYTES_DEFAULT (1ull << 30)

/* How a consumer's facts go to bytes and back. */
struct ak_facts_codec {
	const char *name; /* "elf" */
	uint32_t version; /* bump when the encoding or what it means changes */
	/* Append facts' encoding to *buf (realloc'd, *len updated); -1 on no memory. */
	int (*encode)(const void *facts, char **buf, size_t *len, size_t *cap);
	/* Facts from bytes; NULL when malformed (the whole entry is then ignored). */
	void *(*decode)(const void *data, size_t len);
	void (*free_facts)(void *facts);
};

struct ak_layer_cache;
/* dir NULL: $XDG_CACHE_HOME/archkit/layers (~/.cache/archkit/layers); made when
 * missing. max_bytes 0: the default. */
int ak_layer_cache_open(const char *dir, uint64_t max_bytes, struct ak_layer_cache **out,
			struct ak_error **err);
void ak_layer_cache_close(struct ak_layer_cache *c);

/* The cached index of the layer with this digest, or NULL (absent, unreadable, another
 * version: the caller scans and stores). Thread-safe. */
struct ak_layer_index *ak_layer_cache_load(struct ak_layer_cache *c, const char *digest,
					   const struct ak_facts_codec *codec);
/* Store an index just scanned (best effort: a failure to write is no error of the
 * probe; it returns -1 and the next probe scans again). Thread-safe. */
int ak_layer_cache_store(struct ak_layer_cache *c, const char *digest,
			 const struct ak_layer_index *idx, const struct ak_facts_codec *codec);

#endif
