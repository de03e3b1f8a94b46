/* Fuzz the layer cache's reader: the input follows a valid header prefix (magic,
 * format, codec, digest, blob size) and is sealed with the right checksum, so every
 * input reaches the index parser. A file that loads must also merge into a final
 * filesystem as a scanned index does, and survive a store and a load unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tmpdirs.h"
#include "image/fsview.h"
#include "image/layer-cache.h"

#define DIGEST "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static int u_encode(const void *facts, char **buf, size_t *len, size_t *cap)
{
	return ak_facts_put_uint(buf, len, cap, *(const uint64_t *)facts);
}

static void *u_decode(const void *data, size_t len)
{
	struct ak_facts_reader r = {.p = data, .left = len};
	uint64_t v = ak_facts_get_uint(&r, UINT64_MAX);
	uint64_t *facts = r.bad || r.left ? NULL : malloc(sizeof(*facts));
	if (facts)
		*facts = v;
	return facts;
}

static const struct ak_facts_codec codec = {
	.name = "fuzz", .version = 1, .encode = u_encode, .decode = u_decode, .free_facts = free};

static char dir[64];
static struct ak_layer_cache *cache;

static void cleanup(void)
{
	ak_layer_cache_close(cache);
	ak_rmtree_signal_safe(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cache) {
		snprintf(dir, sizeof(dir), "/tmp/ak-fuzz-cache-XXXXXX");
		if (!mkdtemp(dir) || ak_layer_cache_open(dir, 0, &cache, NULL) < 0)
			abort();
		atexit(cleanup);
	}
	struct ak_descriptor d = {.digest = DIGEST, .size = 1234};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	char sum[AK_DIGEST_MAX];
	if (ak_facts_put(&buf, &len, &cap, "AKLC", 4) < 0 ||
	    ak_facts_put_uint(&buf, &len, &cap, 1) < 0 ||
	    ak_facts_put_str(&buf, &len, &cap, codec.name) < 0 ||
	    ak_facts_put_uint(&buf, &len, &cap, codec.version) < 0 ||
	    ak_facts_put_str(&buf, &len, &cap, DIGEST) < 0 ||
	    ak_facts_put_uint(&buf, &len, &cap, (uint64_t)d.size) < 0 ||
	    ak_facts_put_uint(&buf, &len, &cap, 0) < 0 || /* no media type */
	    ak_facts_put(&buf, &len, &cap, data, size) < 0 || ak_digest_sha256(buf, len, sum) < 0 ||
	    ak_facts_put(&buf, &len, &cap, sum, 71) < 0)
		abort();
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, strchr(DIGEST, ':') + 1);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		abort();
	free(buf);

	struct ak_layer_index *idx = ak_layer_cache_load(cache, &d, &codec);
	if (!idx)
		return 0;
	struct ak_fsview *v = ak_fsview_new(NULL);
	if (v) {
		if (ak_fsview_apply_layer(v, idx, 0, NULL) == 0)
			ak_fsview_apply_layer(v, idx, 1, NULL);
		ak_fsview_free(v);
	}
	/* what loads stores, and loads back the same */
	if (ak_layer_cache_store(cache, &d, idx, &codec) < 0)
		abort();
	struct ak_layer_index *again = ak_layer_cache_load(cache, &d, &codec);
	if (!again || again->count != idx->count)
		abort();
	for (size_t i = 0; i < idx->count; i++) {
		const struct ak_layer_entry *a = &idx->entries[i], *b = &again->entries[i];
		if (a->type != b->type || a->mode != b->mode || a->size != b->size ||
		    strcmp(a->path, b->path) != 0 || (!a->link) != (!b->link) ||
		    (a->link && strcmp(a->link, b->link) != 0) || (!a->facts) != (!b->facts) ||
		    (a->facts && *(uint64_t *)a->facts != *(uint64_t *)b->facts))
			abort();
	}
	ak_layer_index_free(again);
	ak_layer_index_free(idx);
	return 0;
}
