#include "probe/probe.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "elf/capture.h"
#include "elf/classify.h"
#include "image/fsview.h"
#include "image/image.h"
#include "image/layer-cache.h"
#include "image/layer.h"
#include "image/rootfs.h"
#include "probe/elf-facts-codec.h"

/* ---- scanning: one consumer per scan turns ELF files into facts ---- */

struct capture_ctx {
	struct ak_elf_capture *cap;
	uint64_t seen;	      /* bytes of the current file fed so far */
	struct ak_error *err; /* classifying failed (a libelf older than archkit) */
};

static bool cap_begin(void *ctx, const struct ak_layer_entry *e)
{
	struct capture_ctx *c = ctx;
	if (e->size < 4) /* shorter than the magic: not ELF (a cut-short ELF is a finding) */
		return false;
	c->seen = 0;
	c->cap = ak_elf_capture_begin(e->size, NULL);
	return true;
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

static void *cap_end(void *ctx, const struct ak_layer_entry *e)
{
	struct capture_ctx *c = ctx;
	struct ak_elf_facts *facts = NULL;
	size_t len = 0;
	const unsigned char *data = c->cap ? ak_elf_capture_data(c->cap, &len) : NULL;
	if (data && ak_elf_capture_is_elf(c->cap)) {
		facts = ak_xcalloc(1, sizeof(*facts));
		if (ak_elf_classify(data, len, ak_elf_capture_size(c->cap), facts, &c->err) < 0) {
			ak_elf_facts_free(facts);
			facts = NULL;
		}
	}
	ak_elf_capture_free(c->cap);
	c->cap = NULL;
	return facts;
}

/* One capture context per scan job: jobs run on several threads at once. */
static int cap_make(void *ctx, size_t job, const struct ak_descriptor *layer,
		    struct ak_layer_consumer *out, struct ak_error **err)
{
	struct capture_ctx *cc = ak_xcalloc(1, sizeof(*cc));
	*out = (struct ak_layer_consumer){
		.ctx = cc,
		.begin = cap_begin,
		.data = cap_data,
		.end = cap_end,
		.free_facts = ak_elf_facts_free,
	};
	return 0;
}

static int cap_finish(void *ctx, size_t job, struct ak_layer_consumer *c, bool ok,
		      struct ak_error **err)
{
	struct capture_ctx *cc = c->ctx;
	int r = 0;
	if (ok && cc->err) {
		*err = cc->err;
		cc->err = NULL;
		r = -1;
	}
	ak_error_free(cc->err);
	ak_elf_capture_free(cc->cap);
	free(cc);
	return r;
}

/* ---- findings ---- */

/* Append a finding, taking f's strings. */
static void add_finding(struct ak_probe_variant *v, struct ak_finding *f, const char *path,
			const char *layer)
{
	ak_grow_one(&v->findings, v->nfindings, sizeof(*v->findings));
	struct ak_probe_finding *pf = &v->findings[v->nfindings++];
	pf->f = *f;
	memset(f, 0, sizeof(*f));
	pf->path = ak_xstrdup(path);
	pf->layer = ak_xstrdup(layer);
	v->count[pf->f.sev]++;
}

/* found and expected are malloc'd (ak_xasprintf, ak_xstrdup) and taken. */
static void add_new_finding(struct ak_probe_variant *v, enum ak_severity sev, const char *code,
			    const char *path, const char *layer, char *found, char *expected)
{
	struct ak_finding f = {
		.sev = sev, .code = ak_xstrdup(code), .found = found, .expected = expected};
	add_finding(v, &f, path, layer);
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
	size_t code_errors; /* ELF files whose own judgement is an error */
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

static void check_loader(struct judge_ctx *jc, const struct ak_elf_facts *facts, const char *path,
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
		add_new_finding(
			jc->v, AK_SEV_ERROR, "loader-missing", path, layer,
			ak_xasprintf("PT_INTERP '%s', which is not in the image", facts->interp),
			ak_xasprintf("a loader present in the final filesystem (%s uses %s)",
				     jc->p->name, glibc));
		break;
	case 3:
		add_new_finding(jc->v, AK_SEV_ERROR, "loader-missing", path, layer,
				ak_xasprintf("PT_INTERP '%s' is not an ELF loader", facts->interp),
				ak_xasprintf("a loader for %s (%s)", jc->p->name, glibc));
		break;
	case 4:
		add_new_finding(
			jc->v, AK_SEV_ERROR, "loader-missing", path, layer,
			ak_xasprintf("PT_INTERP '%s' ends in a symlink loop", facts->interp),
			ak_xasprintf("a loader for %s (%s)", jc->p->name, glibc));
		break;
	case 2: {
		struct ak_finding f = {.sev = m->wrong.sev,
				       .code = ak_xstrdup(m->wrong.code),
				       .found = ak_xasprintf("PT_INTERP '%s' is %s", facts->interp,
							     m->wrong.found),
				       .expected = ak_xstrdup(m->wrong.expected)};
		/* past 16 distinct loaders the verdict is not memoised: free it here */
		if (m == &local)
			ak_finding_clear(&local.wrong);
		add_finding(jc->v, &f, path, layer);
		break;
	}
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
	int n = ak_elf_judge(facts, jc->p, found, NULL);
	if (ignored(jc->opt, path)) {
		/* the user said this file may carry other code: keep it visible, never failing */
		for (int i = 0; i < n; i++)
			ak_finding_clear(&found[i]);
		add_new_finding(jc->v, AK_SEV_INFO, "ignored", path, layer, ak_elf_describe(facts),
				ak_xstrdup("matched by --ignore"));
		return 0;
	}
	bool wrong = false;
	for (int i = 0; i < n; i++) {
		wrong |= found[i].sev == AK_SEV_ERROR;
		add_finding(jc->v, &found[i], path, layer);
	}
	jc->code_errors += wrong;
	/* a loader only matters for code of this machine: other findings already say more */
	bool same_machine =
		facts->e_machine == jc->p->e_machine && facts->elf_class == jc->p->elf_class;
	if (facts->has_interp && facts->interp && same_machine)
		check_loader(jc, facts, path, layer);
	return 0;
}

static void note_removed(struct ak_probe_variant *v, const struct ak_fsview *view,
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
		char *line = ak_xasprintf("/%s (layer %d, removed by layer %d): %s", rm[i].path,
					  rm[i].layer + 1, rm[i].removed_by + 1,
					  f[0].found ? f[0].found : f[0].code);
		for (int j = 0; j < k; j++)
			ak_finding_clear(&f[j]);
		ak_grow_one(&v->removed, v->nremoved, sizeof(*v->removed));
		v->removed[v->nremoved++] = line;
	}
}

/* ---- the plan: which variants to judge, which blobs to read ---- */

/* One variant to judge; items[i] is variant i of the scan. */
struct item {
	const struct ak_variant *src;
	size_t code_errors; /* ELF files whose judgement is an error: code src cannot run */
};

struct plan {
	const struct ak_variant_list *vl;
	struct item *items;
	size_t n;
	struct ak_rootfs *rs;
};

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static int plan_scan(struct plan *pl, struct ak_image *img, const struct ak_probe_options *opt,
		     struct ak_error **err)
{
	cleanup_free const struct ak_variant **vars = ak_xcalloc(pl->n, sizeof(*vars));
	for (size_t i = 0; i < pl->n; i++)
		vars[i] = pl->items[i].src;
	struct ak_rootfs_options ro = {.max_layer_bytes = opt->max_layer_bytes, .jobs = opt->jobs};
	struct ak_rootfs_consumers cs = {.make = cap_make, .finish = cap_finish};
	/* a cache that cannot be opened (no $HOME, a path that cannot be made) only
	 * costs the time it would have saved */
	struct ak_error *cache_err = NULL;
	if (!opt->no_cache && ak_layer_cache_open(opt->cache_dir, 0, &ro.cache, &cache_err) == 0)
		ro.codec = &ak_elf_facts_codec;
	ak_error_free(cache_err);
	int r = ak_rootfs_scan(img, vars, pl->n, &ro, &cs, &pl->rs, err);
	ak_layer_cache_close(ro.cache);
	return r;
}

static void plan_free(struct plan *pl)
{
	ak_rootfs_free(pl->rs);
	free(pl->items);
}

static bool wanted(const struct ak_probe_options *opt, const struct ak_platform *p)
{
	if (opt->nfilter == 0)
		return true;
	for (size_t i = 0; i < opt->nfilter; i++)
		if (p && p == opt->filter[i])
			return true;
	return false;
}

struct vkey {
	const struct ak_variant *v;
	size_t order;
};

static int cmp_vkey(const void *a, const void *b)
{
	const struct vkey *x = a, *y = b;
	int c = strcmp(x->v->manifest_digest, y->v->manifest_digest);
	if (!c && x->v->platform != y->v->platform)
		c = (uintptr_t)x->v->platform < (uintptr_t)y->v->platform ? -1 : 1;
	/* two tags of one manifest are two images a user pulls: a row each */
	if (!c)
		c = strcmp(or_empty(x->v->ref_name), or_empty(y->v->ref_name));
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void add_note(struct ak_probe_report *out, char *note)
{
	ak_grow_one(&out->notes, out->nnotes, sizeof(*out->notes));
	out->notes[out->nnotes++] = note;
}

/* The variants --platform asks for, each (manifest digest, platform) once: an index
 * may list one manifest many times, and judging it again says nothing new. */
static void plan_items(struct plan *pl, const struct ak_probe_options *opt,
		       struct ak_probe_report *out)
{
	const struct ak_variant_list *vl = pl->vl;
	cleanup_free struct vkey *keys = ak_xcalloc(vl->n, sizeof(*keys));
	cleanup_free bool *skip = ak_xcalloc(vl->n, sizeof(*skip));
	pl->items = ak_xcalloc(vl->n, sizeof(*pl->items));
	size_t nkeys = 0;
	for (size_t i = 0; i < vl->n; i++) {
		skip[i] = !wanted(opt, vl->items[i].platform);
		if (!skip[i] && vl->items[i].manifest_digest)
			keys[nkeys++] = (struct vkey){.v = &vl->items[i], .order = i};
	}
	qsort(keys, nkeys, sizeof(*keys), cmp_vkey);
	for (size_t i = 0; i < nkeys;) {
		size_t j = i + 1;
		while (j < nkeys && keys[j].v->platform == keys[i].v->platform &&
		       strcmp(keys[j].v->manifest_digest, keys[i].v->manifest_digest) == 0 &&
		       strcmp(or_empty(keys[j].v->ref_name), or_empty(keys[i].v->ref_name)) == 0)
			skip[keys[j++].order] = true;
		char sb[32];
		if (j - i > 1)
			add_note(out,
				 ak_xasprintf("manifest '%s' (%s) is listed %zu times: probed once",
					      ak_digest_short(keys[i].v->manifest_digest, sb),
					      keys[i].v->platform ? keys[i].v->platform->name
								  : "unknown",
					      j - i));
		i = j;
	}
	for (size_t i = 0; i < vl->n; i++)
		if (!skip[i])
			pl->items[pl->n++].src = &vl->items[i];
}

/* ---- judging ---- */

static int judge_variant(const struct ak_probe_options *opt, const struct plan *pl, size_t i,
			 struct ak_probe_variant *v, struct ak_error **err)
{
	struct item *it = &pl->items[i];
	const struct ak_variant *src = it->src;
	struct ak_fsview *view = ak_rootfs_view(pl->rs, i, opt->verbose, err);
	if (!view)
		return -1;
	struct judge_ctx jc = {.opt = opt, .v = v, .view = view, .p = src->platform, .src = src};
	ak_fsview_foreach(view, true, judge_entry, &jc, err); /* judge_entry never stops it */
	for (size_t m = 0; m < jc.nmemo; m++)
		ak_finding_clear(&jc.memo[m].wrong);
	if (opt->verbose)
		note_removed(v, view, src->platform);
	it->code_errors = jc.code_errors;
	ak_fsview_free(view);
	return 0;
}

/* ---- platform triangulation, identical variants, missing platforms ---- */

static void check_platforms(struct ak_probe_variant *v, const struct ak_variant *src)
{
	struct {
		const char *what, *raw;
		const struct ak_platform *p;
	} said[] = {
		{"index descriptor", src->index_platform, src->index_parsed},
		{"config", src->config_platform, src->config_parsed},
		{"folder name", src->folder_platform, src->folder_parsed},
	};
	for (size_t i = 0; i < 3; i++)
		if (said[i].raw && !said[i].p)
			add_new_finding(
				v, AK_SEV_ERROR, "unknown-platform", NULL, NULL,
				ak_xasprintf("%s says '%s'", said[i].what, said[i].raw),
				ak_xasprintf("a known platform (%s)", ak_platform_known_list()));
	for (size_t i = 0; i < 3; i++)
		for (size_t j = i + 1; j < 3; j++)
			if (said[i].p && said[j].p && said[i].p != said[j].p)
				add_new_finding(
					v, AK_SEV_ERROR, "platform-mismatch", NULL, NULL,
					ak_xasprintf("%s says %s", said[j].what, said[j].p->name),
					ak_xasprintf("%s, as the %s says", said[i].p->name,
						     said[i].what));
	if (!src->platform && !src->index_platform && !src->config_platform &&
	    !src->folder_platform)
		add_new_finding(
			v, AK_SEV_ERROR, "unknown-platform", NULL, NULL,
			ak_xstrdup("nothing in the image names this variant's platform"),
			ak_xstrdup("a platform (pass --platform for single-platform output)"));
}

/* Order items by their layer lists, so identical lists sit together. */
static int cmp_layer_lists(const void *a, const void *b)
{
	const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;
	const struct ak_variant *u = x->src, *w = y->src;
	if (u->nlayers != w->nlayers)
		return u->nlayers < w->nlayers ? -1 : 1;
	/* one manifest digest, one layer list: no need to read 40,000 digests again */
	if (!u->manifest_digest || !w->manifest_digest ||
	    strcmp(u->manifest_digest, w->manifest_digest) != 0)
		for (size_t i = 0; i < u->nlayers; i++) {
			int c = strcmp(u->layers[i].digest, w->layers[i].digest);
			if (c)
				return c;
		}
	return x < y ? -1 : x > y;
}

static bool same_layer_list(const struct item *x, const struct item *y)
{
	const struct ak_variant *u = x->src, *w = y->src;
	if (u->nlayers != w->nlayers)
		return false;
	if (u->manifest_digest && w->manifest_digest &&
	    strcmp(u->manifest_digest, w->manifest_digest) == 0)
		return true;
	for (size_t i = 0; i < u->nlayers; i++)
		if (strcmp(u->layers[i].digest, w->layers[i].digest) != 0)
			return false;
	return true;
}

/* Byte-identical layers for two platforms are wrong when the code in them cannot be
 * right for both: an ELF file of either variant is judged an error. Data, scripts, or
 * code both platforms run (armel code as arm/v5 and arm/v6) is a fine thing to share:
 * an info finding. One finding per other platform, not per other variant. */
static void check_identical(struct ak_probe_report *out, struct plan *pl)
{
	cleanup_free struct item **order = ak_xcalloc(pl->n, sizeof(*order));
	/* a group's platforms, each with "some variant of it holds code it cannot run" */
	cleanup_free const struct ak_platform **plats =
		ak_xcalloc(ak_platform_count, sizeof(*plats));
	cleanup_free bool *wrong = ak_xcalloc(ak_platform_count, sizeof(*wrong));
	size_t n = 0;
	for (size_t i = 0; i < pl->n; i++)
		if (pl->items[i].src->platform && pl->items[i].src->nlayers > 0)
			order[n++] = &pl->items[i];
	qsort(order, n, sizeof(*order), cmp_layer_lists);
	for (size_t g = 0; g < n;) {
		size_t end = g + 1, np = 0;
		while (end < n && same_layer_list(order[g], order[end]))
			end++;
		for (size_t a = g; a < end; a++) {
			size_t k = 0;
			while (k < np && plats[k] != order[a]->src->platform)
				k++;
			if (k == np && np < ak_platform_count) {
				plats[np] = order[a]->src->platform;
				wrong[np++] = false;
			}
			if (k < np)
				wrong[k] |= order[a]->code_errors > 0;
		}
		for (size_t a = g; np > 1 && a < end; a++) {
			const struct item *x = order[a];
			struct ak_probe_variant *v = &out->variants[x - pl->items];
			for (size_t k = 0; k < np; k++) {
				if (plats[k] == x->src->platform)
					continue;
				size_t nl = x->src->nlayers;
				if (x->code_errors > 0 || wrong[k])
					add_new_finding(
						v, AK_SEV_ERROR, "identical-layers", NULL, NULL,
						ak_xasprintf("the same %zu layer(s), byte for "
							     "byte, as %s",
							     nl, plats[k]->name),
						ak_xasprintf(
							"layers built for %s (a build step that "
							"ignored "
							"TARGETPLATFORM?)",
							x->src->platform->name));
				else
					add_new_finding(
						v, AK_SEV_INFO, "identical-layers", NULL, NULL,
						ak_xasprintf(
							"the same %zu layer(s), byte for byte, as "
							"%s, "
							"%s",
							nl, plats[k]->name,
							v->elf_files
								? "with ELF code that runs on both"
								: "with no ELF file in them"),
						ak_xstrdup("nothing to fix: content right for both "
							   "platforms "
							   "may be shared"));
			}
		}
		g = end;
	}
}

/* A platform asked for with --platform that the image lacks fails the probe, however
 * many were asked for: a variant of its own, with no layers and one error. */
static void add_missing(struct ak_probe_report *out, const struct ak_probe_options *opt,
			const struct ak_variant_list *vl, size_t *next)
{
	char has[1024];
	ak_variant_list_platforms(vl, has, sizeof(has));
	for (size_t i = 0; i < opt->nfilter; i++) {
		const struct ak_platform *p = opt->filter[i];
		bool present = false;
		for (size_t k = 0; k < vl->n && !present; k++)
			present = vl->items[k].platform == p;
		for (size_t k = 0; k < i && !present; k++)
			present = opt->filter[k] == p; /* asked twice: one finding */
		if (present)
			continue;
		struct ak_probe_variant *v = &out->variants[(*next)++];
		v->platform = p;
		v->missing = true;
		v->name = ak_xstrdup(p->name);
		add_new_finding(v, AK_SEV_ERROR, "platform-missing", NULL, NULL,
				ak_xasprintf("no variant for %s in the image (it has: %s)", p->name,
					     has[0] ? has : "none"),
				ak_xasprintf("a %s variant, as --platform asks", p->name));
	}
}

/* ---- the run ---- */

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
 * that pick the decompressor from the media type fail to pull it. Checked for every
 * descriptor, since two manifests may name one blob with different media types. */
static void check_layer_media_types(struct ak_probe_variant *v, const struct plan *pl, size_t k)
{
	const struct ak_variant *src = pl->items[k].src;
	for (size_t i = 0; i < src->nlayers; i++) {
		const struct ak_descriptor *d = &src->layers[i];
		const struct ak_layer_index *idx = ak_rootfs_layer(pl->rs, k, i, NULL);
		enum ak_compression declared;
		if (!idx || !ak_layer_media_type_compression(d->media_type, &declared) ||
		    declared == idx->compression)
			continue;
		add_new_finding(
			v, AK_SEV_ERROR, "layer-media-type-mismatch", NULL, d->digest,
			ak_xasprintf("layer %zu is %s, but its media type is '%s'", i + 1,
				     compression_words(idx->compression), d->media_type),
			ak_xasprintf(
				"%s, as the media type declares (a puller that decompresses by "
				"media type fails on it)",
				compression_words(declared)));
	}
}

static void fill_variant(struct ak_probe_variant *v, const struct ak_variant *src)
{
	v->platform = src->platform;
	v->nlayers = src->nlayers;
	v->name = ak_xstrdup(src->platform ? src->platform->name : "unknown");
	v->index_platform = ak_xstrdup(src->index_platform);
	v->config_platform = ak_xstrdup(src->config_platform);
	v->folder_platform = ak_xstrdup(src->folder_platform);
	v->manifest_digest = ak_xstrdup(src->manifest_digest);
	v->ref_name = ak_xstrdup(src->ref_name);
	check_platforms(v, src);
}

int ak_probe_run(const char *ref, const struct ak_probe_options *opt, struct ak_probe_report *out,
		 struct ak_error **err)
{
	memset(out, 0, sizeof(*out));
	struct ak_image_options io;
	ak_image_options_init(&io);
	if (opt->registry)
		io.registry = *opt->registry;
	struct ak_image *img = NULL;
	if (ak_image_open_with(ref, &io, &img, err) < 0)
		return -1;
	int r = ak_probe_run_image(img, ref, opt, out, err);
	ak_image_close(img);
	return r;
}

int ak_probe_run_image(struct ak_image *img, const char *ref, const struct ak_probe_options *opt,
		       struct ak_probe_report *out, struct ak_error **err)
{
	memset(out, 0, sizeof(*out));
	/* no filter here: a platform the image lacks is a finding, not an unreadable image;
	 * but what --platform leaves out is not read (from a registry: not fetched) */
	struct ak_variant_list vl = {0};
	int r = ak_image_variants_all(img, opt->filter, opt->nfilter, &vl, err);
	struct plan pl = {.vl = &vl};
	if (r == 0 && vl.n == 0)
		r = ak_error_set(err, AK_EXIT_ENV, "'%s' holds no image", ref);
	for (size_t i = 0; r == 0 && i < vl.n; i++) {
		struct ak_variant *v = &vl.items[i];
		/* an output that says nothing about its platform takes the one asked for */
		if (!v->platform && opt->nfilter == 1 && !v->index_platform &&
		    !v->config_platform && !v->folder_platform)
			v->platform = opt->filter[0];
	}
	if (r == 0) {
		out->kind = ak_xstrdup(ak_image_kind(img));
		out->skipped_attestations = vl.skipped_attestations;
		for (size_t i = 0; i < vl.n_notes; i++)
			add_note(out, ak_xstrdup(vl.notes[i]));
		plan_items(&pl, opt, out);
		out->variants = ak_xcalloc(pl.n + opt->nfilter + 1, sizeof(*out->variants));
		r = plan_scan(&pl, img, opt, err);
	}
	for (size_t i = 0; r == 0 && i < pl.n; i++) {
		struct ak_probe_variant *v = &out->variants[out->n++];
		fill_variant(v, pl.items[i].src);
		check_layer_media_types(v, &pl, i);
		r = judge_variant(opt, &pl, i, v, err);
	}
	if (r == 0) {
		check_identical(out, &pl);
		add_missing(out, opt, &vl, &out->n);
	}
	plan_free(&pl);
	ak_variant_list_free(&vl);
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
