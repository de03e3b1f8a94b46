/* Building a variant list (inside image/): platform strings, telling repeated
 * manifests apart from new ones, and settling and filtering platforms at the end. The
 * list type and ak_variant_list_note/add/free are in image.h. */
#ifndef AK_VARIANT_H
#define AK_VARIANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/platform.h"
#include "image/image.h"

/* "os/arch[/variant]" with "?" for a missing part; NULL when os and arch are both NULL. */
char *ak_platform_string(const char *os, const char *arch, const char *variant);

/* Free a variant's strings, layers and tree fd, and leave it empty (tree_fd -1). */
void ak_variant_clear(struct ak_variant *v);

#define AK_VARIANT_REPEATS_NAMED 4 /* repeated variants named in notes; the rest counted */

/* The variants a walk made, by manifest digest, platform claim and name: a manifest
 * listed again with the same claim and name is the same container, so it is probed once
 * (an index listing one 40,000-layer manifest 300 times must not cost 300 layer lists). */
struct ak_variant_dedup {
	struct ak_hash_key key;
	struct ak_variant_seen *slots; /* open addressing, never more than half full */
	size_t n, cap;
	size_t nrepeated;			  /* distinct variants listed more than once */
	char *repeated[AK_VARIANT_REPEATS_NAMED]; /* the first few, "'sha256:…' (linux/arm64)" */
};
void ak_variant_dedup_init(struct ak_variant_dedup *d);
/* true when (digest, os, arch, variant, name) made a variant before (counted), false when
 * it is new (recorded). */
bool ak_variant_dedup_check(struct ak_variant_dedup *d, const char *digest, const char *os,
			    const char *arch, const char *variant, const char *ref_name);
/* Add notes naming the manifests listed more than once. */
void ak_variant_dedup_notes(const struct ak_variant_dedup *d, struct ak_variant_list *out);
void ak_variant_dedup_free(struct ak_variant_dedup *d);

/* Settle each variant's platform (index, else config, else folder; with one filter entry,
 * that platform for a variant nothing names), then move into *out the variants whose
 * platform is in filter[] (all of them when nfilter is 0). all is consumed. An empty
 * list, or none matching, is an error naming ref and listing what the image has. */
int ak_variant_list_select(struct ak_variant_list *all, const struct ak_platform **filter,
			   size_t nfilter, const char *ref, struct ak_variant_list *out,
			   struct ak_error **err);

#endif
