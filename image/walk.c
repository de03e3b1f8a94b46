/* The graph walk from a root document: nested indexes and manifests down to one variant
 * per image manifest, attestations and artifacts skipped with notes, each document read
 * and verified once however often it is listed, and bounds on depth, documents, bytes
 * and descriptors, so a hostile index costs little. */
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/util.h"
#include "image/source.h"
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
	struct ak_image *img;
	struct ak_variant_list *out;
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

int ak_image_read_blob(struct ak_image *img, const struct ak_descriptor *d, char **out, size_t *len,
		       struct ak_error **err)
{
	char sb[32];
	if (d->size > (int64_t)AK_JSON_MAX)
		return ak_error_set(
			err, AK_EXIT_ENV,
			"blob '%s': %lld bytes, more than the %u allowed for a document",
			ak_digest_short(d->digest, sb), (long long)d->size, AK_JSON_MAX);
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_image_open_blob(img, d, &s, err) < 0)
		return -1;
	if (ak_stream_read_all(s, AK_JSON_MAX, out, len, err) < 0)
		return ak_error_prefix(err, "blob '%s'", ak_digest_short(d->digest, sb));
	return 0;
}

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
	if (!w->memo && !(w->memo = calloc(MEMO_SLOTS, sizeof(*w->memo))))
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
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
	if (ak_image_read_blob(w->img, d, &buf, &len, err) < 0)
		return -1;
	w->doc_bytes += len;
	if (w->doc_bytes > AK_IMAGE_DOC_BYTES_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "image documents exceed %u bytes in all",
				    AK_IMAGE_DOC_BYTES_MAX);
	struct memo *m = calloc(1, sizeof(*m));
	if (!m || !(m->digest = strdup(d->digest))) {
		free(m);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
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
		if (ak_variant_list_note(w->out,
					 "skipped manifest '%s': config media type '%.100s' is not "
					 "an image config",
					 ak_digest_short(manifest_digest, sb), artifact_mt) < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
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
	int dup = manifest_digest ? ak_variant_dedup_check(&w->seen, manifest_digest, c->os,
							   c->arch, c->variant, c->ref_name, err)
				  : 0;
	if (dup)
		return dup < 0 ? -1 : 0;
	if (walk_count_descriptors(w, man->nlayers, err) < 0)
		return -1;
	struct ak_variant *v = ak_variant_list_add(w->out);
	if (!v)
		return ak_error_set(err, AK_EXIT_ENV, "too many variants");
	if (c->annotated &&
	    ak_variant_list_note(w->out,
				 "manifest '%s' is annotated as an attestation but its platform "
				 "%.40s/%.40s is runnable: probed, as a runtime would pull and run "
				 "it",
				 ak_digest_short(manifest_digest, sb), os ? os : "?",
				 arch ? arch : "?") < 0)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	v->config_platform = ak_platform_string(cfg->os, cfg->arch, cfg->variant);
	v->config_parsed = ak_platform_from_oci(cfg->os, cfg->arch, cfg->variant);
	if (claimed) {
		v->index_platform = ak_platform_string(c->os, c->arch, c->variant);
		v->index_parsed = ak_platform_from_oci(c->os, c->arch, c->variant);
	}
	if ((c->ref_name && !(v->ref_name = strdup(c->ref_name))) ||
	    (manifest_digest && !(v->manifest_digest = strdup(manifest_digest))) ||
	    ak_descriptor_copy(&v->config, &man->config) < 0 ||
	    !(v->layers = calloc(man->nlayers ? man->nlayers : 1, sizeof(*v->layers))))
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	for (size_t i = 0; i < man->nlayers; i++) {
		if (ak_descriptor_copy(&v->layers[i], &man->layers[i]) < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		v->nlayers = i + 1;
	}
	return 0;
}

/* The config media type of a manifest whose config is not an image config (an
 * artifact), in *artifact_mt; left NULL for an image. */
static int manifest_artifact_mt(const struct ak_manifest_doc *man, char **artifact_mt,
				struct ak_error **err)
{
	const char *mt = man->config.media_type;
	if (mt && !ak_media_type_is_config(mt) && !(*artifact_mt = strdup(mt)))
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	return 0;
}

static int walk_index(struct walk *w, const struct ak_index_doc *idx, const char *what,
		      const struct claim *above, const char *tag, struct ak_error **err);

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
		if (ak_variant_list_note(w->out,
					 "skipped '%s': media type '%.100s' is not an image",
					 ak_digest_short(e->d.digest, sb), mt ? mt : "(none)") < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		return 0;
	}
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
		if (!m->artifact_mt && manifest_artifact_mt(&m->doc.man, &m->artifact_mt, err) < 0)
			return -1;
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
	cleanup_free char *list = calloc(1, cap);
	if (!list)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
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
static int walk_notes(struct walk *w, struct ak_error **err)
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
		if (ak_variant_list_note(w->out,
					 "skipped %zu attestation manifest%s (%s): %s, which no "
					 "runtime runs",
					 n, n == 1 ? "" : "s", list, why[r]) < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	return ak_variant_dedup_notes(&w->seen, w->out, err);
}

int ak_image_walk_root(struct ak_image *img, struct ak_variant_list *out, struct ak_error **err)
{
	struct ak_source *src = ak_image_source(img);
	if (!src->ops->read_root)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' has no index", src->path);
	cleanup_free char *doc = NULL;
	size_t len = 0;
	if (src->ops->read_root(src, &doc, &len, err) < 0)
		return -1;
	/* name the document, not the image: the caller prefixes the image's name */
	const char *what = strcmp(src->ops->kind, "dir") == 0 ? "manifest.json" : "index.json";
	struct ak_doc root;
	if (ak_doc_parse_root(doc, len, what, &root, err) < 0)
		return -1;
	struct walk w = {.img = img, .out = out};
	ak_hash_key_random(&w.key);
	ak_variant_dedup_init(&w.seen);
	struct claim none = {0};
	int r;
	if (!root.is_index) {
		/* the root is a single manifest (skopeo dir, a registry tag) */
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char digest[8 + 64 + 1] = "sha256:";
		cleanup_free char *artifact_mt = NULL;
		if (EVP_Digest(doc, len, md, &mdlen, EVP_sha256(), NULL) != 1)
			r = ak_error_set(err, AK_EXIT_ENV, "cannot compute digest");
		else
			r = manifest_artifact_mt(&root.man, &artifact_mt, err);
		if (r == 0) {
			ak_hex_encode(md, mdlen < 32 ? mdlen : 32, digest + 7);
			r = walk_manifest(&w, &root.man, artifact_mt, what, digest, &none, err);
		}
	} else {
		r = walk_index(&w, &root.idx, what, &none, src->tag, err);
	}
	if (r == 0)
		r = walk_notes(&w, err);
	ak_doc_free(&root);
	walk_free(&w);
	return r;
}
