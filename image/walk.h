/* The walk: a source's root (source.h) made into variants. A graph root is walked down
 * its nested indexes and manifests; docker save's manifest.json is read with its configs
 * (and Docker 25+'s index.json for manifest digests and platforms); buildx local trees
 * become one variant each. */
#ifndef AK_WALK_H
#define AK_WALK_H

#include "common/error.h"
#include "image/image.h"
#include "image/source.h"

/* Append src's variants to out. tag (NULL: all) keeps the root index's entries of that
 * ref name, or docker save's images of that RepoTag. With nfilter > 0, a manifest whose
 * index descriptor claims a known platform not in filter[] is not read (a registry
 * fetches only what is probed): it is listed by that claim alone, with no config and no
 * layers, for ak_variant_list_select to drop and name. Errors name documents, not the
 * image: the caller prefixes its name. */
int ak_walk(struct ak_source *src, const char *tag, const struct ak_platform **filter,
	    size_t nfilter, struct ak_variant_list *out, struct ak_error **err);

#endif
