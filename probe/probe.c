#include "probe/probe.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "probe/elf-capture.h"
#include "probe/elf-classify.h"
#include "probe/fsview.h"
#include "probe/image.h"
#include "probe/layer.h"

/* ---- scanning: one consumer per scan turns ELF files into facts ---- */

struct capture_ctx {
	struct ak_elf_capture *cap;
	uint64_t seen;	      /* bytes of the current file fed so far */
	struct ak_error *err; /* out of memory while classifying */
};

static bool cap_begin(void *ctx, const struct ak_layer_entry *e)
{
	struct capture_ctx *c = ctx;
	if (e->size < 16) /* nothing shorter holds an ELF identification */
		return false;
	c->seen = 0;
	c->cap = ak_elf_capture_begin(e->size, NULL);
	return c->cap != NULL;
}

static int cap_data(void *ctx, const void *buf, size_t len, struct ak_error **err)
{
	struct capture_ctx *c = ctx;
	int r = ak_elf_capture_feed(c->cap, buf, len);
	if (r == -ENOMEM)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory capturing an ELF file");
	c->seen += len;
	/* a file that is not ELF is decided by its first four bytes: skip the rest */
	return c->seen >= 4 && !ak_elf_capture_is_elf(c->cap) ? 1 : 0;
}

static void facts_free(void *p)
{
	if (p) {
		ak_elf_facts_clear(p);
		free(p);
	}
}

static void *cap_end(void *ctx, const struct ak_layer_entry *e)
{
	struct capture_ctx *c = ctx;
	struct ak_elf_facts *facts = NULL;
	size_t len = 0;
	const unsigned char *data = c->cap ? ak_elf_capture_data(c->cap, &len) : NULL;
	if (data && ak_elf_capture_is_elf(c->cap)) {
		facts = calloc(1, sizeof(*facts));
		if (facts &&
		    ak_elf_classify(data, len, ak_elf_capture_size(c->cap), facts, &c->err) < 0) {
			facts_free(facts);
			facts = NULL;
		}
	}
	ak_elf_capture_free(c->cap);
	c->cap = NULL;
	return facts;
}

/* ---- jobs: each unique layer, and each local tree, scanned once ---- */

struct job {
	const struct ak_descriptor *layer; /* or NULL for a tree */
	const struct ak_variant *tree;
	struct ak_layer_index *index;
};

struct scan_state {
	struct ak_image *img;
	const struct ak_probe_options *opt;
	struct job *jobs;
	size_t njobs;
	size_t next;
	pthread_mutex_t lock;
	struct ak_error *err; /* the first failure; the others stop taking jobs */
};

/* A layer that failed to inflate or parse may simply be corrupt: when its bytes do not
 * match its digest, that is the root cause to report, not the gzip or tar symptom. */
static void prefer_digest_error(struct scan_state *st, const struct ak_descriptor *d,
				struct ak_error **err)
{
	struct ak_stream *s = NULL;
	struct ak_error *e2 = NULL;
	if (ak_image_open_blob(st->img, d, &s, &e2) == 0) {
		static __thread unsigned char buf[1 << 16];
		ssize_t n;
		while ((n = ak_stream_read(s, buf, sizeof(buf), &e2)) > 0)
			;
		ak_stream_close(s);
	}
	if (e2 && strstr(e2->msg, "digest mismatch")) {
		ak_error_free(*err);
		*err = e2;
		return;
	}
	ak_error_free(e2);
}

static int run_job(struct scan_state *st, struct job *j, struct ak_error **err)
{
	struct capture_ctx cc = {0};
	struct ak_layer_consumer consumer = {
		.ctx = &cc,
		.begin = cap_begin,
		.data = cap_data,
		.end = cap_end,
		.free_facts = facts_free,
	};
	struct ak_layer_options lo = {.max_bytes = st->opt->max_layer_bytes};
	int r;
	if (j->layer) {
		lo.name = j->layer->digest;
		lo.media_type = j->layer->media_type;
		struct ak_stream *s = NULL;
		if (ak_image_open_blob(st->img, j->layer, &s, err) < 0)
			return -1;
		r = ak_layer_scan(s, &lo, &consumer, &j->index, err);
		/* a layer stopped at --max-layer-bytes (EFBIG) is not re-read to the end
		 * for its digest: that read is the cost the cap is there to avoid */
		if (r < 0 && err && *err && (*err)->errnum != EFBIG &&
		    !strstr((*err)->msg, "digest mismatch"))
			prefer_digest_error(st, j->layer, err);
	} else {
		lo.name = j->tree->folder_platform ? j->tree->folder_platform : "tree";
		r = ak_layer_scan_dir(j->tree->tree_fd, ".", &lo, &consumer, &j->index, err);
	}
	if (r == 0 && cc.err) {
		*err = cc.err;
		cc.err = NULL;
		r = -1;
	}
	ak_error_free(cc.err);
	return r;
}

static void *worker(void *arg)
{
	struct scan_state *st = arg;
	for (;;) {
		pthread_mutex_lock(&st->lock);
		struct job *j = st->err || st->next >= st->njobs ? NULL : &st->jobs[st->next++];
		pthread_mutex_unlock(&st->lock);
		if (!j)
			return NULL;
		struct ak_error *err = NULL;
		if (run_job(st, j, &err) < 0) {
			pthread_mutex_lock(&st->lock);
			if (!st->err)
				st->err = err;
			else
				ak_error_free(err);
			pthread_mutex_unlock(&st->lock);
		}
	}
}

static int scan_all(struct scan_state *st, int jobs, struct ak_error **err)
{
	if (jobs <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = n > 0 ? (int)n : 1;
	}
	if ((size_t)jobs > st->njobs)
		jobs = (int)st->njobs;
	pthread_mutex_init(&st->lock, NULL);
	pthread_t tids[64];
	int started = 0;
	for (int i = 1; i < jobs && i < 64; i++) /* this thread is worker 0 */
		if (pthread_create(&tids[started], NULL, worker, st) == 0)
			started++;
	worker(st);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&st->lock);
	if (st->err) {
		*err = st->err;
		st->err = NULL;
		return -1;
	}
	return 0;
}

/* ---- findings ---- */

static int add_finding(struct ak_probe_variant *v, struct ak_finding *f, const char *path,
		       const char *layer)
{
	struct ak_probe_finding *nf = realloc(v->findings, (v->nfindings + 1) * sizeof(*nf));
	if (!nf) {
		ak_finding_clear(f);
		return -1;
	}
	v->findings = nf;
	struct ak_probe_finding *pf = &nf[v->nfindings++];
	pf->f = *f;
	memset(f, 0, sizeof(*f));
	pf->path = path ? strdup(path) : NULL;
	pf->layer = layer ? strdup(layer) : NULL;
	v->count[pf->f.sev]++;
	return 0;
}

static int add_new_finding(struct ak_probe_variant *v, enum ak_severity sev, const char *code,
			   const char *path, const char *layer, char *found, char *expected)
{
	struct ak_finding f = {
		.sev = sev, .code = strdup(code), .found = found, .expected = expected};
	return add_finding(v, &f, path, layer);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	char *s = NULL;
	if (vasprintf(&s, f, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

struct loader_memo {
	const char *interp;
	int verdict; /* 0 fine, 1 missing, 2 wrong machine, 3 not an ELF, 4 loop */
	struct ak_finding wrong;
};

struct judge_ctx {
	const struct ak_probe_options *opt;
	struct ak_probe_variant *v;
	const struct ak_fsview *view;
	const struct ak_platform *p;
	const struct ak_variant *src;
	struct loader_memo memo[16];
	size_t nmemo;
};

static const char *layer_label(const struct judge_ctx *jc, int layer)
{
	if (jc->src->nlayers == 0 || layer < 0 || (size_t)layer >= jc->src->nlayers)
		return "tree";
	return jc->src->layers[layer].digest;
}

static bool ignored(const struct ak_probe_options *opt, const char *path)
{
	for (size_t i = 0; i < opt->nignore; i++) {
		const char *g = opt->ignore[i];
		/* globs may be written with or without the leading slash */
		if (fnmatch(g, path, 0) == 0 || (g[0] == '/' && fnmatch(g + 1, path, 0) == 0))
			return true;
	}
	return false;
}

static int check_loader(struct judge_ctx *jc, const struct ak_elf_facts *facts, const char *path,
			const char *layer)
{
	struct loader_memo *m = NULL;
	for (size_t i = 0; i < jc->nmemo; i++)
		if (strcmp(jc->memo[i].interp, facts->interp) == 0)
			m = &jc->memo[i];
	struct loader_memo local = {.interp = facts->interp};
	if (!m) {
		m = jc->nmemo < 16 ? &jc->memo[jc->nmemo++] : &local;
		*m = local;
		const struct ak_fsview_entry *e = NULL;
		struct ak_error *err = NULL;
		int r = ak_fsview_resolve(jc->view, facts->interp, &e, &err);
		ak_error_free(err);
		if (r < 0)
			m->verdict = 4;
		else if (r == 0 || !e)
			m->verdict = 1;
		else if (!e->facts)
			m->verdict = 3;
		else if (ak_elf_judge_loader(e->facts, jc->p, &m->wrong) == 1)
			m->verdict = 2;
	}
	const char *glibc = jc->p->glibc_loader ? jc->p->glibc_loader : "-";
	switch (m->verdict) {
	case 1:
		return add_new_finding(
			jc->v, AK_SEV_ERROR, "loader-missing", path, layer,
			fmt("PT_INTERP '%s', which is not in the image", facts->interp),
			fmt("a loader present in the final filesystem (%s uses %s)", jc->p->name,
			    glibc));
	case 3:
		return add_new_finding(jc->v, AK_SEV_ERROR, "loader-missing", path, layer,
				       fmt("PT_INTERP '%s' is not an ELF loader", facts->interp),
				       fmt("a loader for %s (%s)", jc->p->name, glibc));
	case 4:
		return add_new_finding(jc->v, AK_SEV_ERROR, "loader-missing", path, layer,
				       fmt("PT_INTERP '%s' ends in a symlink loop", facts->interp),
				       fmt("a loader for %s (%s)", jc->p->name, glibc));
	case 2: {
		struct ak_finding f = {
			.sev = m->wrong.sev,
			.code = strdup(m->wrong.code),
			.found = fmt("PT_INTERP '%s' is %s", facts->interp, m->wrong.found),
			.expected = m->wrong.expected ? strdup(m->wrong.expected) : NULL};
		/* past 16 distinct loaders the verdict is not memoised: free it here */
		if (m == &local)
			ak_finding_clear(&local.wrong);
		return add_finding(jc->v, &f, path, layer);
	}
	default:
		return 0;
	}
}

static int judge_entry(const struct ak_fsview_entry *e, void *ctx)
{
	struct judge_ctx *jc = ctx;
	if (e->type != AK_ENTRY_REGULAR)
		return 0;
	jc->v->files++;
	const struct ak_elf_facts *facts = e->facts;
	if (!facts)
		return 0;
	jc->v->elf_files++;
	if (!jc->p)
		return 0;
	char path[4200];
	snprintf(path, sizeof(path), "/%s", e->path);
	const char *layer = layer_label(jc, e->layer);
	struct ak_finding found[AK_ELF_FINDINGS_MAX];
	struct ak_error *err = NULL;
	int n = ak_elf_judge(facts, jc->p, found, &err);
	if (n < 0) {
		ak_error_free(err);
		return -1;
	}
	if (ignored(jc->opt, path)) {
		/* the user said this file may carry other code: keep it visible, never failing */
		char *what = ak_elf_describe(facts);
		for (int i = 0; i < n; i++)
			ak_finding_clear(&found[i]);
		return add_new_finding(jc->v, AK_SEV_INFO, "ignored", path, layer,
				       what ? what : strdup("ELF file"),
				       strdup("matched by --ignore"));
	}
	for (int i = 0; i < n; i++)
		if (add_finding(jc->v, &found[i], path, layer) < 0)
			return -1;
	/* a loader only matters for code of this machine: other findings already say more */
	bool same_machine =
		facts->e_machine == jc->p->e_machine && facts->elf_class == jc->p->elf_class;
	if (facts->has_interp && facts->interp && same_machine &&
	    check_loader(jc, facts, path, layer) < 0)
		return -1;
	return 0;
}

static int note_removed(struct ak_probe_variant *v, const struct ak_fsview *view,
			const struct ak_platform *p)
{
	size_t n = 0;
	const struct ak_fsview_removed *rm = ak_fsview_removed(view, &n);
	for (size_t i = 0; i < n; i++) {
		if (!rm[i].facts || !p)
			continue;
		struct ak_finding f[AK_ELF_FINDINGS_MAX];
		int k = ak_elf_judge(rm[i].facts, p, f, NULL);
		if (k <= 0)
			continue;
		char *line =
			fmt("/%s (layer %d, removed by layer %d): %s", rm[i].path, rm[i].layer + 1,
			    rm[i].removed_by + 1, f[0].found ? f[0].found : f[0].code);
		for (int j = 0; j < k; j++)
			ak_finding_clear(&f[j]);
		char **nr = realloc(v->removed, (v->nremoved + 1) * sizeof(*nr));
		if (!nr || !line) {
			free(line);
			return -1;
		}
		v->removed = nr;
		nr[v->nremoved++] = line;
	}
	return 0;
}

/* ---- platform triangulation and identical variants ---- */

static int check_platforms(struct ak_probe_variant *v, const struct ak_variant *src)
{
	struct {
		const char *what, *raw;
		const struct ak_platform *p;
	} said[] = {
		{"index descriptor", src->index_platform, src->index_parsed},
		{"config", src->config_platform, src->config_parsed},
		{"folder name", src->folder_platform, src->folder_parsed},
	};
	for (size_t i = 0; i < 3; i++) {
		if (said[i].raw && !said[i].p &&
		    add_new_finding(v, AK_SEV_ERROR, "unknown-platform", NULL, NULL,
				    fmt("%s says '%s'", said[i].what, said[i].raw),
				    fmt("a known platform (%s)", ak_platform_known_list())) < 0)
			return -1;
	}
	for (size_t i = 0; i < 3; i++)
		for (size_t j = i + 1; j < 3; j++)
			if (said[i].p && said[j].p && said[i].p != said[j].p &&
			    add_new_finding(
				    v, AK_SEV_ERROR, "platform-mismatch", NULL, NULL,
				    fmt("%s says %s", said[j].what, said[j].p->name),
				    fmt("%s, as the %s says", said[i].p->name, said[i].what)) < 0)
				return -1;
	if (!src->platform && !src->index_platform && !src->config_platform &&
	    !src->folder_platform &&
	    add_new_finding(v, AK_SEV_ERROR, "unknown-platform", NULL, NULL,
			    strdup("nothing in the image names this variant's platform"),
			    strdup("a platform (pass --platform for single-platform output)")) < 0)
		return -1;
	return 0;
}

static bool same_layers(const struct ak_variant *a, const struct ak_variant *b)
{
	if (a->nlayers == 0 || a->nlayers != b->nlayers)
		return false;
	for (size_t i = 0; i < a->nlayers; i++)
		if (strcmp(a->layers[i].digest, b->layers[i].digest) != 0)
			return false;
	return true;
}

static int check_identical(struct ak_probe_report *r, const struct ak_variant_list *vl)
{
	for (size_t i = 0; i < vl->n; i++)
		for (size_t j = 0; j < vl->n; j++) {
			const struct ak_variant *a = &vl->items[i], *b = &vl->items[j];
			if (i == j || !a->platform || !b->platform || a->platform == b->platform ||
			    !same_layers(a, b))
				continue;
			if (add_new_finding(&r->variants[i], AK_SEV_ERROR, "identical-layers", NULL,
					    NULL,
					    fmt("the same %zu layer(s), byte for byte, as %s",
						a->nlayers, b->platform->name),
					    fmt("layers built for %s (a build step that ignored "
						"TARGETPLATFORM?)",
						a->platform->name)) < 0)
				return -1;
		}
	return 0;
}

/* ---- the run ---- */

static struct job *find_layer_job(struct job *jobs, size_t n, const char *digest)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].layer && strcmp(jobs[i].layer->digest, digest) == 0)
			return &jobs[i];
	return NULL;
}

static struct job *find_tree_job(struct job *jobs, size_t n, const struct ak_variant *v)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].tree == v)
			return &jobs[i];
	return NULL;
}

static const char *compression_words(enum ak_compression c)
{
	switch (c) {
	case AK_COMPRESSION_GZIP:
		return "gzip-compressed";
	case AK_COMPRESSION_ZSTD:
		return "zstd-compressed";
	default:
		return "an uncompressed tar";
	}
}

/* A layer whose media type names another compression than its bytes have: runtimes
 * that pick the decompressor from the media type fail to pull it. */
static int check_layer_media_types(struct ak_probe_variant *v, const struct ak_variant *src,
				   struct job *jobs, size_t njobs)
{
	for (size_t i = 0; i < src->nlayers; i++) {
		const struct ak_descriptor *d = &src->layers[i];
		struct job *j = find_layer_job(jobs, njobs, d->digest);
		const struct ak_layer_index *idx = j ? j->index : NULL;
		if (!idx || !idx->media_type_mismatch)
			continue;
		const char *found = compression_words(idx->compression);
		const char *want = compression_words(idx->declared);
		if (add_new_finding(v, AK_SEV_ERROR, "layer-media-type-mismatch", NULL, d->digest,
				    fmt("layer %zu is %s, but its media type is '%s'", i + 1, found,
					d->media_type),
				    fmt("%s, as the media type declares (a puller that "
					"decompresses by media type fails on it)",
					want)) < 0)
			return -1;
	}
	return 0;
}

static int judge_variant(const struct ak_probe_options *opt, const struct ak_variant *src,
			 struct ak_probe_variant *v, struct job *jobs, size_t njobs,
			 struct ak_error **err)
{
	struct ak_fsview *view = ak_fsview_new(err);
	if (!view)
		return -1;
	int r = 0;
	if (src->tree_fd >= 0) {
		struct job *j = find_tree_job(jobs, njobs, src);
		r = ak_fsview_apply_layer(view, j->index, 0, err);
	}
	for (size_t i = 0; r == 0 && i < src->nlayers; i++) {
		struct job *j = find_layer_job(jobs, njobs, src->layers[i].digest);
		r = ak_fsview_apply_layer(view, j->index, (int)i, err);
	}
	struct judge_ctx jc = {.opt = opt, .v = v, .view = view, .p = src->platform, .src = src};
	if (r == 0) {
		r = ak_fsview_foreach(view, true, judge_entry, &jc, err);
		if (r > 0 || (r < 0 && err && !*err))
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory judging %s", v->name);
	}
	for (size_t i = 0; i < jc.nmemo; i++)
		ak_finding_clear(&jc.memo[i].wrong);
	if (r == 0 && opt->verbose && note_removed(v, view, src->platform) < 0)
		r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
	ak_fsview_free(view);
	return r;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int ak_probe_run(const char *ref, const struct ak_probe_options *opt, struct ak_probe_report *out,
		 struct ak_error **err)
{
	memset(out, 0, sizeof(*out));
	struct ak_image *img = NULL;
	if (ak_image_open(ref, &img, err) < 0)
		return -1;
	struct ak_variant_list vl = {0};
	int r = ak_image_variants(img, opt->filter, opt->nfilter, &vl, err);
	struct job *jobs = NULL;
	size_t njobs = 0;
	if (r == 0 && vl.n == 0)
		r = ak_error_set(err, AK_EXIT_ENV, "'%s' holds no image", ref);
	if (r == 0) {
		size_t cap = 0;
		for (size_t i = 0; i < vl.n; i++)
			cap += vl.items[i].nlayers + 1;
		jobs = calloc(cap, sizeof(*jobs));
		if (!jobs)
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
		for (size_t i = 0; r == 0 && i < vl.n; i++) {
			const struct ak_variant *v = &vl.items[i];
			if (v->tree_fd >= 0)
				jobs[njobs++].tree = v;
			for (size_t k = 0; k < v->nlayers; k++)
				if (!find_layer_job(jobs, njobs, v->layers[k].digest))
					jobs[njobs++].layer = &v->layers[k];
		}
	}
	if (r == 0) {
		struct scan_state st = {.img = img, .opt = opt, .jobs = jobs, .njobs = njobs};
		r = scan_all(&st, opt->jobs, err);
	}
	if (r == 0) {
		out->kind = strdup(ak_image_kind(img));
		out->variants = calloc(vl.n, sizeof(*out->variants));
		out->n = vl.n;
		out->skipped_attestations = vl.skipped_attestations;
		out->notes = calloc(vl.n_notes + 1, sizeof(char *));
		for (size_t i = 0; i < vl.n_notes; i++)
			out->notes[out->nnotes++] = strdup(vl.notes[i]);
		if (!out->variants || !out->kind)
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	for (size_t i = 0; r == 0 && i < vl.n; i++) {
		const struct ak_variant *src = &vl.items[i];
		struct ak_probe_variant *v = &out->variants[i];
		v->platform = src->platform;
		v->name = strdup(src->platform ? src->platform->name : "unknown");
		v->index_platform = dup_or_null(src->index_platform);
		v->config_platform = dup_or_null(src->config_platform);
		v->folder_platform = dup_or_null(src->folder_platform);
		v->manifest_digest = dup_or_null(src->manifest_digest);
		v->ref_name = dup_or_null(src->ref_name);
		v->nlayers = src->nlayers;
		if (check_platforms(v, src) < 0 || check_layer_media_types(v, src, jobs, njobs) < 0)
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
		else
			r = judge_variant(opt, src, v, jobs, njobs, err);
	}
	if (r == 0 && check_identical(out, &vl) < 0)
		r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
	for (size_t i = 0; i < njobs; i++)
		ak_layer_index_free(jobs[i].index);
	free(jobs);
	ak_variant_list_free(&vl);
	ak_image_close(img);
	if (r < 0)
		ak_probe_report_free(out);
	return r;
}

void ak_probe_report_free(struct ak_probe_report *r)
{
	for (size_t i = 0; r->variants && i < r->n; i++) {
		struct ak_probe_variant *v = &r->variants[i];
		free(v->name);
		free(v->index_platform);
		free(v->config_platform);
		free(v->folder_platform);
		free(v->manifest_digest);
		free(v->ref_name);
		for (size_t k = 0; k < v->nfindings; k++) {
			ak_finding_clear(&v->findings[k].f);
			free(v->findings[k].path);
			free(v->findings[k].layer);
		}
		free(v->findings);
		for (size_t k = 0; k < v->nremoved; k++)
			free(v->removed[k]);
		free(v->removed);
	}
	for (size_t i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	free(r->variants);
	free(r->kind);
	memset(r, 0, sizeof(*r));
}

int ak_probe_worst(const struct ak_probe_report *r)
{
	int worst = -1;
	for (size_t i = 0; i < r->n; i++)
		for (int s = AK_SEV_ERROR; s >= 0; s--)
			if (r->variants[i].count[s] && s > worst)
				worst = s;
	return worst;
}
