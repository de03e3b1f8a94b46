/* The walk from a source's root. A graph: nested indexes and manifests down to one
 * variant per image manifest, attestations and artifacts skipped with notes, each
 * document read and verified once however often it is listed, and bounds on depth,
 * documents, bytes and descriptors, so a hostile index costs little. Docker save's
 * manifest.json and buildx local trees are read here too, from what the source found. */
#include "image/walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/variant.h"

/* Why a manifest was skipped as an attestation: no runtime would run it. */
enum skip_reason {
	SKIP_INDEX_UNKNOWN,  /* its descriptor's platform is unknown/unknown */
	SKIP_CONFIG_UNKNOWN, /* no platform in the descriptor, unknown/unknown in its config */
	SKIP_NO_PLATFORM,    /* annotated as an attestation, no platform anywhere */
	SKIP_NREASONS
};

#define SKIP_EXAMPLES 3

/* A document read once and kept by digest, so an index that lists one manifest 300
 * times reads, parses and verifies it once. */
enum memo_kind { MEMO_INDEX, MEMO_MANIFEST, MEMO_CONFIG };
struct memo {
	char *digest;
	enum memo_kind kind;
	int64_t size;
	struct ak_doc doc;	  /* MEMO_INDEX, MEMO_MANIFEST */
	char *artifact_mt;	  /* MEMO_MANIFEST: its config is not an image config */
	struct ak_config_doc cfg; /* MEMO_CONFIG */
};

#define MEMO_SLOTS (2 * AK_IMAGE_DOCS_MAX) /* power of two, never more than half full */

struct walk {
	struct ak_source *src;
	struct ak_variant_list *out;
	const struct ak_platform **filter; /* what is wanted; nfilter 0: everything */
	size_t nfilter;
	size_t docs;	    /* unique documents read */
	size_t doc_bytes;   /* their bytes */
	size_t descriptors; /* index entries walked and layers listed, repeats counted */
	const char *stack[AK_IMAGE_DEPTH_MAX + 2]; /* digests of the indexes above */
	size_t depth;
	struct memo **memo; /* MEMO_SLOTS, open addressing */
	struct ak_hash_key key;
	struct ak_variant_dedup seen; /* an index may list one variant many times */
	size_t skipped[SKIP_NREASONS];
	char examples[SKIP_NREASONS][SKIP_EXAMPLES][32];
};

/* What a descriptor above claims, inherited by nested documents that claim nothing. */
struct claim {
	const char *os, *arch, *variant, *ref_name;
	bool annotated; /* this very descriptor carries the attestation annotation */
};

static void memo_free(struct memo *m)
{
	if (!m)
		return;
	free(m->digest);
	ak_doc_free(&m->doc);
	free(m->artifact_mt);
	ak_config_doc_free(&m->cfg);
	free(m);
}

static void walk_free(struct walk *w)
{
	ak_variant_dedup_free(&w->seen);
	if (!w->memo)
		return;
	for (size_t i = 0; i < MEMO_SLOTS; i++)
		memo_free(w->memo[i]);
	free(w->memo);
	w->memo = NULL;
}

static size_t memo_hash(const struct walk *w, const char *digest, enum memo_kind kind)
{
	return (size_t)(ak_siphash13(&w->key, digest, strlen(digest)) ^ (uint64_t)kind) &
	       (MEMO_SLOTS - 1);
}

/* The slot for (digest, kind): the memo there, or an empty slot to fill. */
static struct memo **memo_slot(struct walk *w, const char *digest, enum memo_kind kind)
{
	for (size_t i = memo_hash(w, digest, kind);; i = (i + 1) & (MEMO_SLOTS - 1)) {
		struct memo *m = w->memo[i];
		if (!m || (m->kind == kind && !strcmp(m->digest, digest)))
			return &w->memo[i];
	}
}

static int walk_count_descriptors(struct walk *w, size_t n, struct ak_error **err)
{
	w->descriptors += n;
	if (w->descriptors > AK_IMAGE_DESCRIPTORS_MAX)
		return ak_error_set(
			err, AK_EXIT_ENV,
			"image lists more than %d descriptors in all (index entries and "
			"layers, repeats counted)",
			AK_IMAGE_DESCRIPTORS_MAX);
	return 0;
}

/* Read and parse the document d names, once per (digest, kind): later calls get the
 * same memo. A repeat whose size differs from the first is refused, as its read would
 * have been. */
static int walk_read_doc(struct walk *w, const struct ak_descriptor *d, enum memo_kind kind,
			 struct memo **out, struct ak_error **err)
{
	char sb[32];
	if (!w->memo)
		w->memo = ak_xcalloc(MEMO_SLOTS, sizeof(*w->memo));
	struct memo **slot = memo_slot(w, d->digest, kind);
	if (*slot) {
		if ((*slot)->size != d->size)
			return ak_error_set(err, AK_EXIT_ENV,
					    "blob '%s': descriptors disagree on its size (%lld and "
					    "%lld)",
					    ak_digest_short(d->digest, sb),
					    (long long)(*slot)->size, (long long)d->size);
		*out = *slot;
		return 0;
	}
	if (++w->docs > AK_IMAGE_DOCS_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "image refers to more than %d documents",
				    AK_IMAGE_DOCS_MAX);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ak_source_read_doc(w->src, d, &buf, &len, err) < 0)
		return -1;
	w->doc_bytes += len;
	if (w->doc_bytes > AK_IMAGE_DOC_BYTES_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "image documents exceed %u bytes in all",
				    AK_IMAGE_DOC_BYTES_MAX);
	struct memo *m = ak_xcalloc(1, sizeof(*m));
	m->digest = ak_xstrdup(d->digest);
	m->kind = kind;
	m->size = d->size;
	int r = kind == MEMO_CONFIG
			? ak_config_parse(buf, len, d->digest, &m->cfg, err)
			: ak_doc_parse_as(buf, len, d, kind == MEMO_INDEX, &m->doc, err);
	if (r < 0) {
		memo_free(m);
		return -1;
	}
	*out = *slot = m;
	return 0;
}

static void walk_skip(struct walk *w, enum skip_reason why, const char *digest)
{
	size_t n = w->skipped[why]++;
	if (n < SKIP_EXAMPLES)
		ak_digest_short(digest, w->examples[why][n]);
	w->out->skipped_attestations++;
}

static bool is_unknown(const char *os, const char *arch)
{
	return os && arch && !strcmp(os, "unknown") && !strcmp(arch, "unknown");
}

/* One variant from a manifest (memo'd or the root document itself). */
static int walk_manifest(struct walk *w, const struct ak_manifest_doc *man, const char *artifact_mt,
			 const char *what, const char *manifest_digest, const struct claim *c,
			 struct ak_error **err)
{
	char sb[32];
	if (artifact_mt) {
		/* artifacts (signatures, SBOMs, helm charts) look like manifests */
		ak_variant_list_note(w->out,
				     "skipped manifest '%s': config media type '%.100s' is not an "
				     "image config",
				     ak_digest_short(manifest_digest, sb), artifact_mt);
		return 0;
	}
	struct memo *cm;
	if (walk_read_doc(w, &man->config, MEMO_CONFIG, &cm, err) < 0)
		return ak_error_prefix(err, "config of '%s'", what);
	const struct ak_config_doc *cfg = &cm->cfg;
	bool claimed = c->os || c->arch;
	const char *os = claimed ? c->os : cfg->os, *arch = claimed ? c->arch : cfg->arch;
	/* what a runtime matches (containerd: the descriptor's platform, else the config's) */
	if (is_unknown(os, arch)) {
		walk_skip(w, claimed ? SKIP_INDEX_UNKNOWN : SKIP_CONFIG_UNKNOWN, manifest_digest);
		return 0;
	}
	if (c->annotated && !os && !arch) {
		walk_skip(w, SKIP_NO_PLATFORM, manifest_digest);
		return 0;
	}
	if (manifest_digest && ak_variant_dedup_check(&w->seen, manifest_digest, c->os, c->arch,
						      c->variant, c->ref_name))
		return 0;
	if (walk_count_descriptors(w, man->nlayers, err) < 0)
		return -1;
	struct ak_variant *v = ak_variant_list_add(w->out);
	if (!v)
		return ak_error_set(err, AK_EXIT_ENV, "too many variants");
	if (c->annotated)
		ak_variant_list_note(
			w->out,
			"manifest '%s' is annotated as an attestation but its platform "
			"%.40s/%.40s is runnable: probed, as a runtime would pull and "
			"run it",
			ak_digest_short(manifest_digest, sb), os ? os : "?", arch ? arch : "?");
	v->config_platform = ak_platform_string(cfg->os, cfg->arch, cfg->variant);
	v->config_parsed = ak_platform_from_oci(cfg->os, cfg->arch, cfg->variant);
	ak_process_copy(&v->process, &cfg->process);
	if (claimed) {
		v->index_platform = ak_platform_string(c->os, c->arch, c->variant);
		v->index_parsed = ak_platform_from_oci(c->os, c->arch, c->variant);
	}
	v->ref_name = ak_xstrdup(c->ref_name);
	v->manifest_digest = ak_xstrdup(manifest_digest);
	ak_descriptor_copy(&v->config, &man->config);
	v->layers = ak_xcalloc(man->nlayers, sizeof(*v->layers));
	for (size_t i = 0; i < man->nlayers; i++)
		ak_descriptor_copy(&v->layers[i], &man->layers[i]);
	v->nlayers = man->nlayers;
	return 0;
}

/* The config media type of a manifest whose config is not an image config (an
 * artifact), in *artifact_mt; left NULL for an image. */
static void manifest_artifact_mt(const struct ak_manifest_doc *man, char **artifact_mt)
{
	const char *mt = man->config.media_type;
	if (mt && !ak_media_type_is_config(mt))
		*artifact_mt = ak_xstrdup(mt);
}

static int walk_index(struct walk *w, const struct ak_index_doc *idx, const char *what,
		      const struct claim *above, const char *tag, struct ak_error **err);

/* A manifest claimed for a platform the filter leaves out: listed by its claim, unread. */
static int walk_unwanted(struct walk *w, const struct ak_index_entry *e, const struct claim *c,
			 int *listed, struct ak_error **err)
{
	*listed = 0;
	if (!w->nfilter || !ak_media_type_is_manifest(e->d.media_type))
		return 0;
	const struct ak_platform *p = ak_platform_from_oci(c->os, c->arch, c->variant);
	if (!p)
		return 0; /* unknown or absent: the config may say more */
	for (size_t i = 0; i < w->nfilter; i++)
		if (w->filter[i] == p)
			return 0;
	struct ak_variant *v = ak_variant_list_add(w->out);
	if (!v)
		return ak_error_set(err, AK_EXIT_ENV, "too many variants");
	v->index_parsed = p;
	v->index_platform = ak_platform_string(c->os, c->arch, c->variant);
	v->manifest_digest = ak_xstrdup(e->d.digest);
	*listed = 1;
	return 0;
}

/* Follow one descriptor of an index. */
static int walk_entry(struct walk *w, const struct ak_index_entry *e, const struct claim *above,
		      struct ak_error **err)
{
	char sb[32];
	struct claim c = *above;
	if (e->arch || e->os) {
		c.os = e->os;
		c.arch = e->arch;
		c.variant = e->variant;
	}
	/* the whole name ("docker.io/x/y:2") says more than the ref name ("2") */
	if (e->image_name || e->ref_name)
		c.ref_name = e->image_name ? e->image_name : e->ref_name;
	c.annotated = e->attestation_annotation;
	const char *mt = e->d.media_type;
	bool is_index = ak_media_type_is_index(mt), is_manifest = ak_media_type_is_manifest(mt);
	if (ak_media_type_is_schema1(mt))
		return ak_doc_schema1_error(ak_digest_short(e->d.digest, sb), err);
	if (!is_index && !is_manifest) {
		ak_variant_list_note(w->out, "skipped '%s': media type '%.100s' is not an image",
				     ak_digest_short(e->d.digest, sb), mt ? mt : "(none)");
		return 0;
	}
	int unwanted;
	if (walk_unwanted(w, e, &c, &unwanted, err) < 0)
		return -1;
	if (unwanted)
		return 0;
	for (size_t i = 0; i < w->depth; i++)
		if (!strcmp(w->stack[i], e->d.digest))
			return ak_error_set(err, AK_EXIT_ENV, "index '%s' refers to itself",
					    ak_digest_short(e->d.digest, sb));
	if (is_index && w->depth >= AK_IMAGE_DEPTH_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "indexes nested deeper than %d levels",
				    AK_IMAGE_DEPTH_MAX);
	struct memo *m;
	if (walk_read_doc(w, &e->d, is_index ? MEMO_INDEX : MEMO_MANIFEST, &m, err) < 0)
		return -1;
	if (!is_index) {
		if (!m->artifact_mt)
			manifest_artifact_mt(&m->doc.man, &m->artifact_mt);
		return walk_manifest(w, &m->doc.man, m->artifact_mt, e->d.digest, e->d.digest, &c,
				     err);
	}
	w->stack[w->depth++] = e->d.digest;
	int r = walk_index(w, &m->doc.idx, e->d.digest, &c, NULL, err);
	w->depth--;
	return r;
}

static int tag_error(const struct ak_index_doc *idx, const char *tag, const char *what,
		     struct ak_error **err)
{
	size_t cap = 1024, n = 0;
	cleanup_free char *list = ak_xcalloc(1, cap);
	for (size_t i = 0; i < idx->n; i++) {
		const char *r = idx->entries[i].ref_name;
		if (!r || n + strlen(r) + 8 >= cap)
			continue;
		n += (size_t)snprintf(list + n, cap - n, "%s'%s'", n ? ", " : "", r);
	}
	return ak_error_set(err, AK_EXIT_ENV, "tag '%s' not found in '%s' (available: %s)", tag,
			    what, n ? list : "no tags");
}

/* Walk the entries of an index; tag (the root's only) keeps the entries of that ref name. */
static int walk_index(struct walk *w, const struct ak_index_doc *idx, const char *what,
		      const struct claim *above, const char *tag, struct ak_error **err)
{
	bool found = false;
	if (walk_count_descriptors(w, idx->n, err) < 0)
		return -1;
	for (size_t i = 0; i < idx->n; i++) {
		const struct ak_index_entry *e = &idx->entries[i];
		if (tag && (!e->ref_name || strcmp(e->ref_name, tag) != 0))
			continue;
		found = true;
		if (e->unknown_platform) {
			/* nothing to read: no runtime runs unknown/unknown */
			walk_skip(w, SKIP_INDEX_UNKNOWN, e->d.digest);
			continue;
		}
		if (walk_entry(w, e, above, err) < 0)
			return -1;
	}
	if (tag && !found)
		return tag_error(idx, tag, what, err);
	return 0;
}

/* One note per reason, naming a few of the manifests skipped; then the repeated ones. */
static void walk_notes(struct walk *w)
{
	static const char *const why[SKIP_NREASONS] = {
		[SKIP_INDEX_UNKNOWN] = "platform unknown/unknown in the index",
		[SKIP_CONFIG_UNKNOWN] = "platform unknown/unknown in the config",
		[SKIP_NO_PLATFORM] = ("annotated vnd.docker.reference.type=attestation-manifest, "
				      "with no platform in the index or the config"),
	};
	for (int r = 0; r < SKIP_NREASONS; r++) {
		size_t n = w->skipped[r];
		if (!n)
			continue;
		char list[3 * 34 + 8] = "";
		size_t len = 0;
		for (size_t i = 0; i < n && i < SKIP_EXAMPLES; i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						i ? ", " : "", w->examples[r][i]);
		if (n > SKIP_EXAMPLES)
			snprintf(list + len, sizeof(list) - len, ", …");
		ak_variant_list_note(
			w->out,
			"skipped %zu attestation manifest%s (%s): %s, which no runtime "
			"runs",
			n, n == 1 ? "" : "s", list, why[r]);
	}
	ak_variant_dedup_notes(&w->seen, w->out);
}

/* Walk the graph whose root document (named what) is doc. */
static int walk_graph(struct ak_source *src, const char *doc, size_t len, const char *what,
		      const char *tag, const struct ak_platform **filter, size_t nfilter,
		      struct ak_variant_list *out, struct ak_error **err)
{
	struct ak_doc root;
	if (ak_doc_parse_root(doc, len, what, &root, err) < 0)
		return -1;
	struct walk w = {.src = src, .out = out, .filter = filter, .nfilter = nfilter};
	ak_hash_key_random(&w.key);
	ak_variant_dedup_init(&w.seen);
	struct claim none = {0};
	int r;
	if (!root.is_index) {
		/* the root is a single manifest (skopeo dir, a registry tag) */
		char digest[AK_DIGEST_MAX];
		cleanup_free char *artifact_mt = NULL;
		if (ak_digest_sha256(doc, len, digest) < 0) {
			r = ak_error_set(err, AK_EXIT_ENV, "cannot compute digest");
		} else {
			manifest_artifact_mt(&root.man, &artifact_mt);
			r = walk_manifest(&w, &root.man, artifact_mt, what, digest, &none, err);
		}
	} else {
		r = walk_index(&w, &root.idx, what, &none, tag, err);
	}
	if (r == 0)
		walk_notes(&w);
	ak_doc_free(&root);
	walk_free(&w);
	return r;
}

/* --- docker save's manifest.json --- */

/* "blobs/sha256/HEX" or ".../HEX.json" or "HEX.json" name their own digest. */
static char *digest_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".json"))
		n -= 5;
	if (!ak_str_has_prefix(path, "blobs/") && strchr(path, '/'))
		return NULL; /* <id>/layer.tar-style: the id is not a content digest */
	if (n != 64)
		return NULL;
	char *d = ak_xasprintf("sha256:%.64s", base);
	if (ak_digest_validate(d, NULL) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

/* The size the source found for a file, or the error it met opening it. */
static int file_size(const struct ak_source_file *f, int64_t *size, struct ak_error **err)
{
	if (f->error)
		return ak_error_set_kind(err, f->error->status, f->error->kind, f->error->errnum,
					 "%s", f->error->msg);
	*size = f->size;
	return 0;
}

/* Docker writes "docker.io/library/x:1" where users type "x:1". */
static const char *short_name(const char *t)
{
	if (ak_str_has_prefix(t, "docker.io/library/"))
		return t + 18;
	if (ak_str_has_prefix(t, "docker.io/"))
		return t + 10;
	return t;
}

/* A RepoTag matches by full name, by short name or by its tag alone ("1.0"). */
static bool tag_matches(const struct ak_docker_entry *e, const char *tag)
{
	for (size_t i = 0; i < e->nrepo_tags; i++) {
		const char *t = e->repo_tags[i];
		const char *colon = strrchr(t, ':');
		if (!strcmp(t, tag) || !strcmp(short_name(t), short_name(tag)) ||
		    (colon && !strchr(colon, '/') && !strcmp(colon + 1, tag)))
			return true;
	}
	return false;
}

static int docker_tag_error(const struct ak_docker_manifest *m, const char *tag,
			    struct ak_error **err)
{
	char list[1024] = "";
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = 0; j < m->entries[i].nrepo_tags && n + 80 < sizeof(list); j++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s'%.64s'",
					      n ? ", " : "", m->entries[i].repo_tags[j]);
	return ak_error_set(err, AK_EXIT_ENV,
			    "tag '%s' not found in 'manifest.json' (available: %s)", tag,
			    n ? list : "no tags");
}

/* Fill v from manifest.json's entry i. */
static int entry_variant(struct ak_source *src, const struct ak_source_root *root, size_t i,
			 struct ak_variant *v, size_t *doc_bytes, struct ak_error **err)
{
	const struct ak_docker_entry *e = &root->docker.entries[i];
	const struct ak_source_docker_files *f = &root->files[i];
	v->config.digest = digest_from_path(e->config);
	if (!v->config.digest)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'manifest.json': cannot tell the digest of config '%.200s'",
				    e->config);
	v->config.path = ak_xstrdup(e->config);
	v->config.media_type = ak_xstrdup(AK_MT_DOCKER_CONFIG);
	if (file_size(&f->config, &v->config.size, err) < 0)
		return -1;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ak_source_read_doc(src, &v->config, &buf, &len, err) < 0)
		return -1;
	/* thousands of entries naming one 4 MiB config would read gigabytes */
	if ((*doc_bytes += len) > AK_IMAGE_DOC_BYTES_MAX)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'manifest.json': its configs exceed %u bytes in all",
				    AK_IMAGE_DOC_BYTES_MAX);
	struct ak_config_doc cfg;
	if (ak_config_parse(buf, len, e->config, &cfg, err) < 0)
		return -1;
	v->config_platform = ak_platform_string(cfg.os, cfg.arch, cfg.variant);
	v->config_parsed = ak_platform_from_oci(cfg.os, cfg.arch, cfg.variant);
	ak_process_copy(&v->process, &cfg.process);
	int r = 0;
	v->layers = ak_xcalloc(e->nlayers, sizeof(*v->layers));
	for (size_t j = 0; r == 0 && j < e->nlayers; j++) {
		struct ak_descriptor *d = &v->layers[j];
		v->nlayers = j + 1;
		d->digest = digest_from_path(e->layers[j]);
		if (!d->digest) {
			/* old form: the layer tar is the uncompressed diff named by diff_ids */
			if (cfg.ndiff_ids != e->nlayers) {
				r = ak_error_set(err, AK_EXIT_ENV,
						 "'%s': %zu layers but %zu diff_ids in config",
						 src->path, e->nlayers, cfg.ndiff_ids);
				break;
			}
			d->digest = ak_xstrdup(cfg.diff_ids[j]);
		}
		d->path = ak_xstrdup(e->layers[j]);
		d->media_type = ak_xstrdup(AK_MT_DOCKER_LAYER_TAR);
		r = file_size(&f->layers[j], &d->size, err);
	}
	ak_config_doc_free(&cfg);
	if (r == 0 && e->nrepo_tags)
		v->ref_name = ak_xstrdup(e->repo_tags[0]);
	return r;
}

/* Are v's layers in the source? Only a missing blob says no: any other failure is
 * reported when the layer is read. */
static bool blobs_present(struct ak_source *src, const struct ak_variant *v)
{
	for (size_t i = 0; i < v->nlayers; i++) {
		struct ak_stream *s = NULL;
		cleanup_error struct ak_error *e = NULL;
		if (src->ops->open_blob(src, &v->layers[i], &s, &e) == 0)
			ak_stream_close(s);
		else if (e && e->errnum == ENOENT)
			return false;
	}
	return true;
}

static void move_variant(struct ak_variant *dst, struct ak_variant *src)
{
	*dst = *src;
	*src = (struct ak_variant){.tree_fd = -1};
}

/* The variants come from manifest.json, whose layer order docker itself uses; the
 * platform from each config; index.json, when there (Docker 25+), adds manifest digests
 * and the platforms manifest.json does not list (a containerd store). */
static int walk_docker(struct ak_source *src, const struct ak_source_root *root, const char *tag,
		       struct ak_variant_list *out, struct ak_error **err)
{
	const struct ak_docker_manifest *m = &root->docker;
	int r = 0;
	struct ak_variant_list walked = {0};
	if (root->doc) {
		/* index.json's tags are ref.names, not RepoTags: it is walked whole */
		r = walk_graph(src, root->doc, root->len, "index.json", NULL, NULL, 0, &walked,
			       err);
		if (r < 0)
			goto out;
		out->skipped_attestations += walked.skipped_attestations;
		for (size_t i = 0; i < walked.n_notes; i++)
			ak_variant_list_note(out, "%s", walked.notes[i]);
	}
	bool any = false;
	size_t doc_bytes = 0, layers = 0;
	for (size_t i = 0; i < m->n && r == 0; i++) {
		const struct ak_docker_entry *e = &m->entries[i];
		if (tag && !tag_matches(e, tag))
			continue;
		any = true;
		if ((layers += e->nlayers) > AK_IMAGE_DESCRIPTORS_MAX) {
			r = ak_error_set(err, AK_EXIT_ENV,
					 "'manifest.json' lists more than %d layers in all",
					 AK_IMAGE_DESCRIPTORS_MAX);
			break;
		}
		struct ak_variant *v = ak_variant_list_add(out);
		if (!v) {
			r = ak_error_set(err, AK_EXIT_ENV, "too many variants");
			break;
		}
		if ((r = entry_variant(src, root, i, v, &doc_bytes, err)) < 0)
			break;
		for (size_t j = 0; j < walked.n; j++) {
			struct ak_variant *w = &walked.items[j];
			if (!w->config.digest || strcmp(w->config.digest, v->config.digest) != 0)
				continue;
			v->manifest_digest = w->manifest_digest;
			v->index_platform = w->index_platform;
			v->index_parsed = w->index_parsed;
			w->manifest_digest = w->index_platform = NULL;
			free(w->config.digest);
			w->config.digest = NULL; /* used */
			break;
		}
	}
	if (r == 0 && tag && !any)
		r = docker_tag_error(m, tag, err);
	for (size_t j = 0; j < walked.n && r == 0 && !tag; j++) {
		struct ak_variant *w = &walked.items[j];
		if (!w->config.digest)
			continue;
		char sb[32];
		if (!blobs_present(src, w)) {
			ak_variant_list_note(out,
					     "skipped manifest '%s': its layers are not in '%s'",
					     ak_digest_short(w->manifest_digest, sb), src->path);
			continue;
		}
		struct ak_variant *v = ak_variant_list_add(out);
		if (!v) {
			r = ak_error_set(err, AK_EXIT_ENV, "too many variants");
			break;
		}
		move_variant(v, w);
		/* named as manifest.json names its images */
		if (v->ref_name && short_name(v->ref_name) != v->ref_name)
			memmove(v->ref_name, short_name(v->ref_name),
				strlen(short_name(v->ref_name)) + 1);
	}
out:
	ak_variant_list_free(&walked);
	return r;
}

/* --- buildx local trees --- */

static int walk_trees(struct ak_source_root *root, struct ak_variant_list *out,
		      struct ak_error **err)
{
	for (size_t i = 0; i < root->ntrees; i++) {
		struct ak_source_tree *t = &root->trees[i];
		struct ak_variant *v = ak_variant_list_add(out);
		if (!v)
			return ak_error_set(err, AK_EXIT_ENV, "too many variants");
		v->tree_fd = steal_fd(&t->fd);
		v->tree_path = steal_pointer(&t->path);
		if (!t->os)
			continue; /* one root filesystem: nothing says its platform */
		v->folder_platform = ak_platform_string(t->os, t->arch, t->variant);
		v->folder_parsed = ak_platform_from_oci(t->os, t->arch, t->variant);
	}
	return 0;
}

int ak_walk(struct ak_source *src, const char *tag, const struct ak_platform **filter,
	    size_t nfilter, struct ak_variant_list *out, struct ak_error **err)
{
	struct ak_source_root root = {0};
	int r = src->ops->read_root(src, &root, err);
	if (r == 0 && root.note)
		ak_variant_list_note(out, "%s", root.note);
	if (r == 0) {
		switch (root.form) {
		case AK_ROOT_GRAPH:
			r = walk_graph(src, root.doc, root.len, root.name, tag, filter, nfilter,
				       out, err);
			break;
		case AK_ROOT_DOCKER:
			r = walk_docker(src, &root, tag, out, err);
			break;
		case AK_ROOT_TREES:
			r = walk_trees(&root, out, err);
			break;
		}
	}
	ak_source_root_clear(&root);
	return r;
}
