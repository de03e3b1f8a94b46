/* Fuzz the layer path end to end: sniff + inflate (gzip/zstd/plain), tar walk, whiteouts,
 * fsview merge and symlink resolution, on arbitrary bytes. The first byte picks options
 * so the buildx sub-tree and literal-whiteout paths are reached too.
 * Seeds: fuzz/seeds/make-layer-seeds.sh (generated, never committed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/decompress.h"
#include "image/fsview.h"
#include "image/layer.h"

struct count {
	size_t seen;
};

static bool f_begin(void *ctx, const struct ak_layer_entry *e)
{
	((struct count *)ctx)->seen = 0;
	return true;
}

static int f_data(void *ctx, const void *buf, size_t len, struct ak_error **err)
{
	struct count *c = ctx;
	c->seen += len;
	return c->seen > (64u << 10); /* enough: exercises the "no more" path */
}

static void *f_end(void *ctx, const struct ak_layer_entry *e)
{
	size_t *facts = malloc(sizeof(*facts));
	if (facts)
		*facts = ((struct count *)ctx)->seen;
	return facts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	struct count c = {0};
	const struct ak_layer_consumer consumer = {&c, f_begin, f_data, f_end, free};
	struct ak_layer_options opts = {
		.name = "fuzz",
		.max_bytes = 16u << 20,
		.max_entries = 20000,
		.tar_prefix = (flags & 1) ? "linux_arm_v7/" : NULL,
		.literal_whiteouts = flags & 2,
	};
	struct ak_error *err = NULL;
	struct ak_stream *s = ak_memory_stream_open(data, size, &err);
	struct ak_layer_index *idx = NULL;
	if (!s || ak_layer_scan(s, &opts, &consumer, &idx, &err) < 0) {
		ak_error_free(err);
		return 0;
	}
	struct ak_fsview *v = ak_fsview_new(NULL);
	if (v) {
		ak_fsview_set_record_removed(v, true);
		/* the same layer twice: whiteouts then hit what the first copy put there */
		if (ak_fsview_apply_layer(v, idx, 0, NULL) == 0 &&
		    ak_fsview_apply_layer(v, idx, 1, NULL) == 0) {
			for (size_t i = 0; i < idx->count && i < 64; i++) {
				const struct ak_fsview_entry *e;
				struct ak_error *rerr = NULL;
				ak_fsview_resolve(v, idx->entries[i].path, &e, &rerr);
				ak_error_clear(&rerr);
				if (idx->entries[i].link) {
					ak_fsview_resolve(v, idx->entries[i].link, &e, &rerr);
					ak_error_clear(&rerr);
				}
				ak_fsview_lookup(v, idx->entries[i].path);
			}
			size_t n;
			ak_fsview_removed(v, &n);
		}
		ak_fsview_free(v);
	}
	ak_layer_index_free(idx);
	return 0;
}
