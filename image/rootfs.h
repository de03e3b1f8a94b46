/* One scan of the unique layers of a set of variants, in parallel, and each variant's
 * final filesystem built from those scans. Each unique layer blob (and each buildx local
 * tree) is read once, whatever number of variants share it, or not at all when the layer
 * cache holds its facts; a consumer made per scan job sees its regular files (probe
 * captures ELF headers, verify IMAGE writes the bytes). The step behind `archkit probe`
 * and `archkit verify IMAGE`. */
#ifndef AK_ROOTFS_H
#define AK_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/fsview.h"
#include "image/image.h"
#include "image/layer.h"

/* Makes the layer consumer of one scan job. Called on the thread that runs the job. */
struct ak_rootfs_consumers {
	void *ctx;
	/* Fill *out for job number job (0 .. njobs-1, unique per scanned blob or tree;
	 * layer is the descriptor scanned, NULL for a tree). Not called for a job that only
	 * reads another file of a digest already scanned to check its bytes, nor for a
	 * layer found in the cache (ak_rootfs_options). Return < 0
	 * with *err to fail the scan. May be NULL: no consumer, entries only. */
	int (*make)(void *ctx, size_t job, const struct ak_descriptor *layer,
		    struct ak_layer_consumer *out, struct ak_error **err);
	/* The job ended (ok says whether its scan succeeded): release what make() made.
	 * Called once for each make() that returned 0, with the consumer it filled (the
	 * facts it made stay in the index and are freed with it). Return < 0 with *err to
	 * fail a scan that succeeded (an error the consumer kept, such as out of memory);
	 * unused when ok is false. May be NULL. */
	int (*finish)(void *ctx, size_t job, struct ak_layer_consumer *c, bool ok,
		      struct ak_error **err);
};

struct ak_layer_cache;
struct ak_facts_codec;

struct ak_rootfs_options {
	uint64_t max_layer_bytes; /* 0: the default */
	int jobs;		  /* layers scanned at once; <= 0: the CPU count */
	/* Layer facts cache (borrowed; NULL: none) and how the consumer's facts are
	 * kept in it; used only with both and a consumer. A layer job tries the cache by
	 * its descriptor first: on a hit no blob is opened and no consumer made, the
	 * facts come from the codec; after a scan it stores. Trees and the jobs that only
	 * check another file's bytes are never cached. */
	struct ak_layer_cache *cache;
	const struct ak_facts_codec *codec;
};

struct ak_rootfs;

/* Scan every unique layer (and tree) of variants[0..n-1] once, in parallel. Each
 * descriptor's size is checked against its blob, deduplicated ones too. Errors name the
 * variant and the layer; a layer that fails to inflate and whose bytes do not match its
 * digest reports the digest mismatch. The variants are borrowed and must outlive *out;
 * img is only used during the call. opt and consumers may be NULL. */
int ak_rootfs_scan(struct ak_image *img, const struct ak_variant *const *variants, size_t n,
		   const struct ak_rootfs_options *opt, const struct ak_rootfs_consumers *consumers,
		   struct ak_rootfs **out, struct ak_error **err);
void ak_rootfs_free(struct ak_rootfs *rs);

/* Number of scan jobs (the job numbers make() saw are below it). */
size_t ak_rootfs_njobs(const struct ak_rootfs *rs);
/* The index of variant i's k-th layer (bottom first; for a tree, k = 0 is the tree), and
 * the job that scanned it; NULL when k is out of range. */
const struct ak_layer_index *ak_rootfs_layer(const struct ak_rootfs *rs, size_t i, size_t k,
					     size_t *job);
/* Layers of variant i as ak_rootfs_layer counts them (1 for a tree). */
size_t ak_rootfs_nlayers(const struct ak_rootfs *rs, size_t i);

/* Build the final filesystem of variant i, i < n (record_removed:
 * ak_fsview_set_record_removed). The view borrows from rs: free it first. Errors name
 * the variant (its platform, or "unknown") and the layer: "linux/arm64: layer 2
 * 'sha256:0123…': entry 'x/y': 'x' is not a directory". */
struct ak_fsview *ak_rootfs_view(const struct ak_rootfs *rs, size_t i, bool record_removed,
				 struct ak_error **err);

#endif
