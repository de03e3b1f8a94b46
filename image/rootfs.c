#include "image/rootfs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/xalloc.h"
#include "image/decompress.h"
#include "image/layer-cache.h"

/* ---- jobs: each unique layer, and each local tree, scanned once ---- */

struct job {
	const struct ak_descriptor *layer; /* or NULL for a tree */
	const struct ak_variant *tree;
	const struct ak_variant *owner; /* whose descriptor this is, for messages */
	/* another file of a digest already scanned (docker save's "<id>/layer.tar" paths):
	 * only read to check its bytes, the index is scanned's */
	const struct job *scanned;
	struct ak_layer_index *index;
};

/* One variant: the jobs its layers (or its tree, as layer 0) come from. */
struct rootfs_variant {
	const struct ak_variant *src;
	struct job **layers;
	size_t nlayers;
};

struct layer_ref {
	const struct ak_descriptor *d;
	const struct ak_variant *v;
	struct job **slot; /* where its variant keeps the job */
	size_t order;
};

struct ak_rootfs {
	struct rootfs_variant *vars;
	size_t n;
	struct job *jobs;
	size_t njobs;
	struct layer_ref *refs; /* every layer descriptor of every variant (during the scan) */
	size_t nrefs;

	/* the scan */
	struct ak_image *img;
	uint64_t max_layer_bytes;
	struct ak_rootfs_consumers consumers;
	struct ak_layer_cache *cache; /* NULL unless a cache, a codec and a consumer */
	const struct ak_facts_codec *codec;
	size_t next;
	pthread_mutex_t lock;
	struct ak_error *err; /* the first failure; the others stop taking jobs */
};

/* "manifest 'sha256:0123…'", or what else names a variant that has no manifest digest. */
static const char *variant_label(const struct ak_variant *v, char buf[128])
{
	char sb[32];
	if (v->manifest_digest)
		snprintf(buf, 128, "manifest '%s'", ak_digest_short(v->manifest_digest, sb));
	else if (v->ref_name)
		snprintf(buf, 128, "image '%.80s'", v->ref_name);
	else
		snprintf(buf, 128, "variant '%s'", v->platform ? v->platform->name : "unknown");
	return buf;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static int cmp_ref(const void *a, const void *b)
{
	const struct layer_ref *x = a, *y = b;
	int c = strcmp(x->d->digest, y->d->digest);
	if (!c)
		c = strcmp(or_empty(x->d->path), or_empty(y->d->path));
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* One scan job per digest; one more job per other file of that digest (docker save
 * names layer files by id, so two files can claim one diff_id), which only checks its
 * bytes. Sorting, not a table keyed by digest: no digest an image chooses can make it
 * slow, and each descriptor learns its job once, not by a search per variant. */
static void plan_jobs(struct ak_rootfs *rs)
{
	size_t nrefs = 0, ntrees = 0;
	for (size_t i = 0; i < rs->n; i++) {
		nrefs += rs->vars[i].src->nlayers;
		ntrees += rs->vars[i].src->tree_fd >= 0;
	}
	rs->refs = ak_xcalloc(nrefs, sizeof(*rs->refs));
	rs->jobs = ak_xcalloc(nrefs + ntrees, sizeof(*rs->jobs));
	for (size_t i = 0; i < rs->n; i++) {
		struct rootfs_variant *rv = &rs->vars[i];
		const struct ak_variant *v = rv->src;
		/* a tree is the root filesystem instead of layers (image.h) */
		rv->nlayers = v->tree_fd >= 0 ? 1 : v->nlayers;
		rv->layers = ak_xcalloc(rv->nlayers, sizeof(*rv->layers));
		if (v->tree_fd >= 0) {
			struct job *j = &rs->jobs[rs->njobs++];
			*j = (struct job){.tree = v, .owner = v};
			rv->layers[0] = j;
			continue;
		}
		for (size_t k = 0; k < v->nlayers; k++, rs->nrefs++)
			rs->refs[rs->nrefs] = (struct layer_ref){.d = &v->layers[k],
								 .v = v,
								 .slot = &rv->layers[k],
								 .order = rs->nrefs};
	}
	qsort(rs->refs, rs->nrefs, sizeof(*rs->refs), cmp_ref);
	struct job *scan = NULL, *cur = NULL;
	for (size_t i = 0; i < rs->nrefs; i++) {
		const struct layer_ref *r = &rs->refs[i], *prev = i ? &rs->refs[i - 1] : NULL;
		bool new_digest = !prev || strcmp(r->d->digest, prev->d->digest) != 0;
		if (new_digest || strcmp(or_empty(r->d->path), or_empty(prev->d->path)) != 0) {
			cur = &rs->jobs[rs->njobs++];
			*cur = (struct job){.layer = r->d, .owner = r->v};
			if (new_digest)
				scan = cur;
			else
				cur->scanned = scan;
		}
		*r->slot = cur;
	}
}

/* After the scan: each job's own descriptor was checked against the bytes, so a
 * descriptor of the same blob that declares another size is wrong. */
static int check_sizes(const struct ak_rootfs *rs, struct ak_error **err)
{
	for (size_t i = 0; i < rs->nrefs; i++) {
		const struct layer_ref *r = &rs->refs[i];
		const struct ak_descriptor *real = (*r->slot)->layer;
		if (r->d->size == real->size)
			continue;
		char label[128], sb[32];
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s: layer '%s' is %lld bytes, its descriptor says %lld",
				    variant_label(r->v, label), ak_digest_short(r->d->digest, sb),
				    (long long)real->size, (long long)r->d->size);
	}
	return 0;
}

/* ---- the scan ---- */

/* Read a blob to its end through the verifying stream, keeping nothing. */
static int drain_blob(struct ak_image *img, const struct ak_descriptor *d, struct ak_error **err)
{
	static __thread unsigned char buf[1 << 16];
	struct ak_stream *s = NULL;
	if (ak_image_open_blob(img, d, &s, err) < 0)
		return -1;
	ssize_t n;
	while ((n = ak_stream_read(s, buf, sizeof(buf), err)) > 0)
		;
	ak_stream_close(s);
	return n < 0 ? -1 : 0;
}

/* A layer that failed to inflate or parse may simply be corrupt: when its bytes do not
 * match its digest, that is the root cause to report, not the gzip or tar symptom. */
static void prefer_digest_error(struct ak_image *img, const struct ak_descriptor *d,
				struct ak_error **err)
{
	struct ak_error *e2 = NULL;
	drain_blob(img, d, &e2);
	if (e2 && e2->kind == AK_ERR_DIGEST_MISMATCH) {
		ak_error_free(*err);
		*err = e2;
		return;
	}
	ak_error_free(e2);
}

static int scan_job(struct ak_rootfs *rs, struct job *j, const struct ak_layer_consumer *consumer,
		    struct ak_error **err)
{
	struct ak_layer_options lo = {.max_bytes = rs->max_layer_bytes};
	char label[128];
	if (!j->layer) {
		lo.name = j->tree->folder_platform ? j->tree->folder_platform : "tree";
		return ak_layer_scan_dir(j->tree->tree_fd, ".", &lo, consumer, &j->index, err);
	}
	lo.name = j->layer->digest;
	lo.media_type = j->layer->media_type;
	struct ak_stream *s = NULL;
	if (ak_image_open_blob(rs->img, j->layer, &s, err) < 0)
		return ak_error_prefix(err, "%s", variant_label(j->owner, label));
	if (ak_layer_scan(s, &lo, consumer, &j->index, err) == 0)
		return 0;
	/* a layer stopped at --max-layer-bytes is not re-read to the end for its digest:
	 * that read is the cost the cap is there to avoid */
	if (err && *err && (*err)->kind != AK_ERR_LIMIT && (*err)->kind != AK_ERR_DIGEST_MISMATCH)
		prefer_digest_error(rs->img, j->layer, err);
	return ak_error_prefix(err, "%s", variant_label(j->owner, label));
}

/* Whether a scan of the layer could have stopped at --max-layer-bytes. The cap counts
 * compressed bytes, inflated ones and sparse holes, which an index does not keep: the
 * sizes of its files bound them. Such a layer is scanned, so that the limit's error is
 * the scan's, and not stored. */
static bool within_cap(const struct ak_rootfs *rs, const struct ak_layer_index *idx,
		       const struct ak_descriptor *d)
{
	uint64_t cap = rs->max_layer_bytes ? rs->max_layer_bytes : AK_MAX_LAYER_BYTES_DEFAULT;
	uint64_t total = idx->uncompressed_bytes;
	if ((uint64_t)d->size > cap || total > cap)
		return false;
	for (size_t i = 0; i < idx->count; i++) {
		const struct ak_layer_entry *e = &idx->entries[i];
		if (e->type != AK_ENTRY_REGULAR)
			continue;
		if (e->size > cap - total)
			return false;
		total += e->size;
	}
	return true;
}

/* The job's index from the cache, or NULL to scan. */
static struct ak_layer_index *cache_load(struct ak_rootfs *rs, const struct job *j)
{
	if (!rs->cache || !j->layer)
		return NULL;
	struct ak_layer_index *idx = ak_layer_cache_load(rs->cache, j->layer, rs->codec);
	if (idx && !within_cap(rs, idx, j->layer)) {
		ak_layer_index_free(idx);
		return NULL;
	}
	return idx;
}

static int run_job(struct ak_rootfs *rs, struct job *j, struct ak_error **err)
{
	char label[128];
	if (j->scanned) {
		if (drain_blob(rs->img, j->layer, err) < 0)
			return ak_error_prefix(err, "%s", variant_label(j->owner, label));
		return 0;
	}
	/* the facts were made from these bytes, their digest verified: no read at all */
	if ((j->index = cache_load(rs, j)))
		return 0;
	const struct ak_rootfs_consumers *cs = &rs->consumers;
	size_t no = (size_t)(j - rs->jobs);
	struct ak_layer_consumer c = {0};
	if (cs->make && cs->make(cs->ctx, no, j->layer, &c, err) < 0)
		return -1;
	int r = scan_job(rs, j, cs->make ? &c : NULL, err);
	struct ak_error *e2 = NULL;
	/* the consumer's own error (out of memory, say) fails a scan that went well */
	if (cs->make && cs->finish && cs->finish(cs->ctx, no, &c, r == 0, &e2) < 0 && r == 0) {
		*err = e2;
		return -1;
	}
	ak_error_free(e2);
	if (r == 0 && rs->cache && j->layer && within_cap(rs, j->index, j->layer))
		ak_layer_cache_store(rs->cache, j->layer, j->index, rs->codec);
	return r;
}

static void *worker(void *arg)
{
	struct ak_rootfs *rs = arg;
	for (;;) {
		pthread_mutex_lock(&rs->lock);
		struct job *j = rs->err || rs->next >= rs->njobs ? NULL : &rs->jobs[rs->next++];
		pthread_mutex_unlock(&rs->lock);
		if (!j)
			return NULL;
		struct ak_error *err = NULL;
		if (run_job(rs, j, &err) < 0) {
			pthread_mutex_lock(&rs->lock);
			if (!rs->err)
				rs->err = err;
			else
				ak_error_free(err);
			pthread_mutex_unlock(&rs->lock);
		}
	}
}

static int scan_all(struct ak_rootfs *rs, int jobs, struct ak_error **err)
{
	pthread_t tids[64];
	unsigned workers = ak_parallel_jobs(jobs, sizeof(tids) / sizeof(tids[0]));
	if (workers > rs->njobs)
		workers = (unsigned)rs->njobs;
	pthread_mutex_init(&rs->lock, NULL);
	int started = 0;
	for (unsigned i = 1; i < workers; i++) /* this thread is worker 0 */
		if (pthread_create(&tids[started], NULL, worker, rs) == 0)
			started++;
	worker(rs);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&rs->lock);
	if (rs->err) {
		*err = rs->err;
		rs->err = NULL;
		return -1;
	}
	return 0;
}

int ak_rootfs_scan(struct ak_image *img, const struct ak_variant *const *variants, size_t n,
		   const struct ak_rootfs_options *opt, const struct ak_rootfs_consumers *consumers,
		   struct ak_rootfs **out, struct ak_error **err)
{
	*out = NULL;
	struct ak_rootfs *rs = ak_xcalloc(1, sizeof(*rs));
	rs->vars = ak_xcalloc(n, sizeof(*rs->vars));
	rs->n = n;
	for (size_t i = 0; i < n; i++)
		rs->vars[i].src = variants[i];
	rs->img = img;
	rs->max_layer_bytes = opt ? opt->max_layer_bytes : 0;
	if (consumers)
		rs->consumers = *consumers;
	/* facts from the cache stand for a consumer's: without one there are none to keep */
	if (opt && opt->cache && opt->codec && rs->consumers.make) {
		rs->cache = opt->cache;
		rs->codec = opt->codec;
	}
	plan_jobs(rs);
	int r = scan_all(rs, opt ? opt->jobs : 0, err);
	if (r == 0)
		r = check_sizes(rs, err);
	free(rs->refs);
	rs->refs = NULL;
	rs->nrefs = 0;
	rs->img = NULL;
	if (r < 0) {
		ak_rootfs_free(rs);
		return -1;
	}
	*out = rs;
	return 0;
}

void ak_rootfs_free(struct ak_rootfs *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; rs->jobs && i < rs->njobs; i++)
		ak_layer_index_free(rs->jobs[i].index);
	for (size_t i = 0; i < rs->n; i++)
		free(rs->vars[i].layers);
	free(rs->vars);
	free(rs->jobs);
	free(rs->refs);
	free(rs);
}

/* ---- after the scan ---- */

size_t ak_rootfs_njobs(const struct ak_rootfs *rs)
{
	return rs->njobs;
}

size_t ak_rootfs_nlayers(const struct ak_rootfs *rs, size_t i)
{
	return i < rs->n ? rs->vars[i].nlayers : 0;
}

const struct ak_layer_index *ak_rootfs_layer(const struct ak_rootfs *rs, size_t i, size_t k,
					     size_t *job)
{
	if (i >= rs->n || k >= rs->vars[i].nlayers)
		return NULL;
	const struct job *j = rs->vars[i].layers[k];
	if (j->scanned)
		j = j->scanned;
	if (job)
		*job = (size_t)(j - rs->jobs);
	return j->index;
}

struct ak_fsview *ak_rootfs_view(const struct ak_rootfs *rs, size_t i, bool record_removed,
				 struct ak_error **err)
{
	const struct ak_variant *src = rs->vars[i].src;
	const char *name = src->platform ? src->platform->name : "unknown";
	struct ak_fsview *view = ak_fsview_new(err);
	ak_fsview_set_record_removed(view, record_removed);
	int r = 0;
	if (src->tree_fd >= 0 &&
	    ak_fsview_apply_layer(view, ak_rootfs_layer(rs, i, 0, NULL), 0, err) < 0)
		r = ak_error_prefix(err, "%s", name);
	for (size_t k = 0; r == 0 && src->tree_fd < 0 && k < src->nlayers; k++) {
		char sb[32];
		/* "entry 'x/y': 'x' is not a directory" alone does not say where */
		if (ak_fsview_apply_layer(view, ak_rootfs_layer(rs, i, k, NULL), (int)k, err) < 0)
			r = ak_error_prefix(err, "%s: layer %zu '%s'", name, k + 1,
					    ak_digest_short(src->layers[k].digest, sb));
	}
	if (r < 0) {
		ak_fsview_free(view);
		return NULL;
	}
	return view;
}
