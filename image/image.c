#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/util.h"
#include "image/source.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

struct ak_image {
	struct ak_source *src;
	char *tmpdir; /* private extraction directory, removed on close */
	const char *kind;
	char *ref;
};

/* jansson ships json_decrefp for json_auto_t */
#define cleanup_json __attribute__((cleanup(json_decrefp)))

bool ak_media_type_is_index(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

bool ak_media_type_is_manifest(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST));
}

bool ak_media_type_is_config(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_CONFIG) || !strcmp(mt, MT_DOCKER_CONFIG));
}

/* --- JSON helpers --- */

static json_t *json_parse(const char *buf, size_t len, const char *what, struct ak_error **err)
{
	json_error_t jerr;
	/* Duplicate keys are refused: two parsers reading one document differently is how
	 * a manifest shows one thing to a checker and another to a runtime. */
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		ak_error_set(err, AK_EXIT_ENV, "'%s': invalid JSON: %s (line %d, column %d)", what,
			     jerr.text, jerr.line, jerr.column);
	return j;
}

/* An optional string member: *out NULL when absent or null; an error when another type. */
static int get_str(json_t *obj, const char *key, const char *what, const char **out,
		   struct ak_error **err)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': '%s' is not a string", what, key);
	*out = json_string_value(v);
	return 0;
}

static int dup_str(json_t *obj, const char *key, const char *what, char **out,
		   struct ak_error **err)
{
	const char *s;
	if (get_str(obj, key, what, &s, err) < 0)
		return -1;
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	return 0;
}

static int descriptor_from_json(json_t *o, const char *what, struct ak_descriptor *d,
				struct ak_error **err)
{
	*d = (struct ak_descriptor){0};
	if (!json_is_object(o))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': descriptor is not an object", what);
	const char *digest;
	if (get_str(o, "digest", what, &digest, err) < 0)
		return -1;
	if (!digest)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': descriptor without a digest", what);
	if (ak_digest_validate(digest, err) < 0)
		return ak_error_prefix(err, "'%s'", what);
	json_t *size = json_object_get(o, "size");
	if (!json_is_integer(size))
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': descriptor '%.80s' has no integer size", what, digest);
	d->size = (int64_t)json_integer_value(size);
	if (ak_blob_size_validate(d->size, digest, err) < 0)
		return ak_error_prefix(err, "'%s'", what);
	if (dup_str(o, "mediaType", what, &d->media_type, err) < 0)
		return -1;
	if (!(d->digest = strdup(digest))) {
		ak_descriptor_clear(d);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	return 0;
}

/* --- Docker schema 1 --- */

#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

static bool media_type_is_schema1(const char *mt)
{
	return mt && (!strcmp(mt, MT_DOCKER_V1) || !strcmp(mt, MT_DOCKER_V1_SIGNED));
}

/* Schema 1 (2015, deprecated) has schemaVersion 1 and fsLayers instead of layers. */
static bool json_is_schema1(json_t *root)
{
	json_t *v = json_object_get(root, "schemaVersion");
	const char *mt = json_string_value(json_object_get(root, "mediaType"));
	return (json_is_integer(v) && json_integer_value(v) == 1) || media_type_is_schema1(mt) ||
	       json_object_get(root, "fsLayers");
}

static int schema1_error(const char *what, struct ak_error **err)
{
	return ak_error_set(err, AK_EXIT_ENV,
			    "'%s' is a Docker schema 1 manifest, which archkit does not read: "
			    "convert it ('skopeo copy --format v2s2 SRC DEST') or rebuild and "
			    "push the image again",
			    what);
}

/* --- index --- */

void ak_index_doc_free(struct ak_index_doc *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct ak_index_entry *e = &d->entries[i];
		ak_descriptor_clear(&e->d);
		free(e->os);
		free(e->arch);
		free(e->variant);
		free(e->ref_name);
		free(e->image_name);
	}
	free(d->entries);
	*d = (struct ak_index_doc){0};
}

static int index_entry_from_json(json_t *o, const char *what, struct ak_index_entry *e,
				 struct ak_error **err)
{
	if (descriptor_from_json(o, what, &e->d, err) < 0)
		return -1;
	json_t *plat = json_object_get(o, "platform");
	if (plat && !json_is_null(plat)) {
		if (!json_is_object(plat))
			return ak_error_set(err, AK_EXIT_ENV, "'%s': 'platform' is not an object",
					    what);
		if (dup_str(plat, "os", what, &e->os, err) < 0 ||
		    dup_str(plat, "architecture", what, &e->arch, err) < 0 ||
		    dup_str(plat, "variant", what, &e->variant, err) < 0)
			return -1;
	}
	json_t *ann = json_object_get(o, "annotations");
	const char *reftype = NULL;
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann))
			return ak_error_set(err, AK_EXIT_ENV,
					    "'%s': 'annotations' is not an object", what);
		if (dup_str(ann, ANNOTATION_REF_NAME, what, &e->ref_name, err) < 0 ||
		    dup_str(ann, "io.containerd.image.name", what, &e->image_name, err) < 0 ||
		    get_str(ann, "vnd.docker.reference.type", what, &reftype, err) < 0)
			return -1;
	}
	e->attestation_annotation = reftype && !strcmp(reftype, "attestation-manifest");
	e->unknown_platform =
		e->os && e->arch && !strcmp(e->os, "unknown") && !strcmp(e->arch, "unknown");
	return 0;
}

static int index_from_json(json_t *root, const char *what, struct ak_index_doc *out,
			   struct ak_error **err)
{
	*out = (struct ak_index_doc){0};
	if (!json_is_object(root))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not a JSON object", what);
	json_t *arr = json_object_get(root, "manifests");
	if (!arr && json_is_schema1(root))
		return schema1_error(what, err);
	if (!arr)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': no 'manifests' in the index", what);
	if (!json_is_array(arr))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': 'manifests' is not an array", what);
	size_t n = json_array_size(arr);
	if (n > AK_IMAGE_ENTRIES_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': more than %d manifests", what,
				    AK_IMAGE_ENTRIES_MAX);
	out->entries = calloc(n ? n : 1, sizeof(*out->entries));
	if (!out->entries)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	for (size_t i = 0; i < n; i++) {
		out->n = i + 1;
		if (index_entry_from_json(json_array_get(arr, i), what, &out->entries[i], err) <
		    0) {
			ak_index_doc_free(out);
			return -1;
		}
	}
	return 0;
}

int ak_index_parse(const char *buf, size_t len, const char *what, struct ak_index_doc *out,
		   struct ak_error **err)
{
	*out = (struct ak_index_doc){0};
	cleanup_json json_t *root = json_parse(buf, len, what, err);
	if (!root)
		return -1;
	return index_from_json(root, what, out, err);
}

/* --- manifest --- */

void ak_manifest_doc_free(struct ak_manifest_doc *d)
{
	ak_descriptor_clear(&d->config);
	for (size_t i = 0; i < d->nlayers; i++)
		ak_descriptor_clear(&d->layers[i]);
	free(d->layers);
	*d = (struct ak_manifest_doc){0};
}

static int manifest_from_json(json_t *root, const char *what, struct ak_manifest_doc *out,
			      struct ak_error **err)
{
	*out = (struct ak_manifest_doc){0};
	if (!json_is_object(root))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not a JSON object", what);
	json_t *cfg = json_object_get(root, "config");
	if (!cfg && json_is_schema1(root))
		return schema1_error(what, err);
	if (!cfg)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': manifest without a config", what);
	if (descriptor_from_json(cfg, what, &out->config, err) < 0)
		return -1;
	json_t *arr = json_object_get(root, "layers");
	if (!json_is_array(arr)) {
		ak_manifest_doc_free(out);
		return ak_error_set(err, AK_EXIT_ENV, "'%s': 'layers' is not an array", what);
	}
	size_t n = json_array_size(arr);
	if (n > AK_IMAGE_ENTRIES_MAX) {
		ak_manifest_doc_free(out);
		return ak_error_set(err, AK_EXIT_ENV, "'%s': more than %d layers", what,
				    AK_IMAGE_ENTRIES_MAX);
	}
	out->layers = calloc(n ? n : 1, sizeof(*out->layers));
	if (!out->layers) {
		ak_manifest_doc_free(out);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		out->nlayers = i + 1;
		if (descriptor_from_json(json_array_get(arr, i), what, &out->layers[i], err) < 0) {
			ak_manifest_doc_free(out);
			return -1;
		}
	}
	return 0;
}

int ak_manifest_parse(const char *buf, size_t len, const char *what, struct ak_manifest_doc *out,
		      struct ak_error **err)
{
	*out = (struct ak_manifest_doc){0};
	cleanup_json json_t *root = json_parse(buf, len, what, err);
	if (!root)
		return -1;
	return manifest_from_json(root, what, out, err);
}

/* --- config --- */

void ak_config_doc_free(struct ak_config_doc *d)
{
	free(d->os);
	free(d->arch);
	free(d->variant);
	for (size_t i = 0; i < d->ndiff_ids; i++)
		free(d->diff_ids[i]);
	free(d->diff_ids);
	*d = (struct ak_config_doc){0};
}

/* Copy an array of strings (paths, tags, digests); NULL or null is an empty list. */
static int str_array(json_t *arr, const char *key, const char *what, char ***out, size_t *n,
		     struct ak_error **err)
{
	*out = NULL;
	*n = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': '%s' is not an array", what, key);
	size_t len = json_array_size(arr);
	if (len > AK_IMAGE_ENTRIES_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': more than %d entries in '%s'", what,
				    AK_IMAGE_ENTRIES_MAX, key);
	char **v = calloc(len ? len : 1, sizeof(*v));
	if (!v)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	*out = v;
	for (size_t i = 0; i < len; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s))
			return ak_error_set(err, AK_EXIT_ENV, "'%s': '%s' holds a non-string", what,
					    key);
		if (!(v[i] = strdup(json_string_value(s))))
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		*n = i + 1;
	}
	return 0;
}

int ak_config_parse(const char *buf, size_t len, const char *what, struct ak_config_doc *out,
		    struct ak_error **err)
{
	*out = (struct ak_config_doc){0};
	cleanup_json json_t *root = json_parse(buf, len, what, err);
	if (!root)
		return -1;
	if (!json_is_object(root))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not a JSON object", what);
	if (dup_str(root, "os", what, &out->os, err) < 0 ||
	    dup_str(root, "architecture", what, &out->arch, err) < 0 ||
	    dup_str(root, "variant", what, &out->variant, err) < 0)
		goto fail;
	json_t *rootfs = json_object_get(root, "rootfs");
	if (rootfs && json_is_object(rootfs)) {
		if (str_array(json_object_get(rootfs, "diff_ids"), "diff_ids", what, &out->diff_ids,
			      &out->ndiff_ids, err) < 0)
			goto fail;
		for (size_t i = 0; i < out->ndiff_ids; i++)
			if (ak_digest_validate(out->diff_ids[i], err) < 0) {
				ak_error_prefix(err, "'%s': diff_ids", what);
				goto fail;
			}
	}
	return 0;
fail:
	ak_config_doc_free(out);
	return -1;
}

/* --- docker save's manifest.json --- */

void ak_docker_manifest_free(struct ak_docker_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct ak_docker_entry *e = &m->entries[i];
		free(e->config);
		for (size_t j = 0; j < e->nrepo_tags; j++)
			free(e->repo_tags[j]);
		free(e->repo_tags);
		for (size_t j = 0; j < e->nlayers; j++)
			free(e->layers[j]);
		free(e->layers);
	}
	free(m->entries);
	*m = (struct ak_docker_manifest){0};
}

int ak_docker_manifest_parse(const char *buf, size_t len, struct ak_docker_manifest *out,
			     struct ak_error **err)
{
	const char *what = "manifest.json";
	*out = (struct ak_docker_manifest){0};
	cleanup_json json_t *root = json_parse(buf, len, what, err);
	if (!root)
		return -1;
	if (!json_is_array(root))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not a JSON array", what);
	size_t n = json_array_size(root);
	if (n > AK_IMAGE_ENTRIES_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': more than %d images", what,
				    AK_IMAGE_ENTRIES_MAX);
	out->entries = calloc(n ? n : 1, sizeof(*out->entries));
	if (!out->entries)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(root, i);
		struct ak_docker_entry *e = &out->entries[i];
		out->n = i + 1;
		if (!json_is_object(o)) {
			ak_error_set(err, AK_EXIT_ENV, "'%s': entry %zu is not an object", what, i);
			goto fail;
		}
		if (dup_str(o, "Config", what, &e->config, err) < 0)
			goto fail;
		if (!e->config) {
			ak_error_set(err, AK_EXIT_ENV, "'%s': entry %zu has no 'Config'", what, i);
			goto fail;
		}
		if (str_array(json_object_get(o, "RepoTags"), "RepoTags", what, &e->repo_tags,
			      &e->nrepo_tags, err) < 0)
			goto fail;
		json_t *layers = json_object_get(o, "Layers");
		if (!json_is_array(layers)) {
			ak_error_set(err, AK_EXIT_ENV, "'%s': entry %zu: 'Layers' is not an array",
				     what, i);
			goto fail;
		}
		if (str_array(layers, "Layers", what, &e->layers, &e->nlayers, err) < 0)
			goto fail;
	}
	return 0;
fail:
	ak_docker_manifest_free(out);
	return -1;
}

/* --- variant lists --- */

int ak_variant_list_note(struct ak_variant_list *l, const char *fmt, ...)
{
	if (l->n_notes >= 1024) /* a hostile index could ask for millions */
		return 0;
	char **nn = realloc(l->notes, (l->n_notes + 1) * sizeof(*nn));
	if (!nn)
		return -1;
	l->notes = nn;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&l->notes[l->n_notes], fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	l->n_notes++;
	return 0;
}

struct ak_variant *ak_variant_list_add(struct ak_variant_list *l)
{
	if (l->n >= AK_IMAGE_DOCS_MAX)
		return NULL;
	struct ak_variant *nv = realloc(l->items, (l->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	l->items = nv;
	struct ak_variant *v = &l->items[l->n++];
	*v = (struct ak_variant){.tree_fd = -1};
	return v;
}

static void variant_clear(struct ak_variant *v)
{
	free(v->index_platform);
	free(v->config_platform);
	free(v->folder_platform);
	free(v->ref_name);
	free(v->manifest_digest);
	ak_descriptor_clear(&v->config);
	for (size_t i = 0; i < v->nlayers; i++)
		ak_descriptor_clear(&v->layers[i]);
	free(v->layers);
	free(v->tree_path);
	if (v->tree_fd >= 0)
		close(v->tree_fd);
	*v = (struct ak_variant){.tree_fd = -1};
}

void ak_variant_list_free(struct ak_variant_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		variant_clear(&l->items[i]);
	free(l->items);
	for (size_t i = 0; i < l->n_notes; i++)
		free(l->notes[i]);
	free(l->notes);
	*l = (struct ak_variant_list){0};
}

static char *platform_string(const char *os, const char *arch, const char *variant)
{
	char *s = NULL;
	if (!os && !arch)
		return NULL;
	if (asprintf(&s, "%s/%s%s%s", os ? os : "?", arch ? arch : "?",
		     variant && *variant ? "/" : "", variant && *variant ? variant : "") < 0)
		return NULL;
	return s;
}

/* --- the walk --- */

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
	struct ak_index_doc idx;    /* MEMO_INDEX */
	struct ak_manifest_doc man; /* MEMO_MANIFEST */
	char *artifact_mt;	    /* MEMO_MANIFEST: its config is not an image config */
	struct ak_config_doc cfg;   /* MEMO_CONFIG */
};

#define SEEN_NOTES 4 /* repeated variants named in notes; the rest are counted */
#define MEMO_SLOTS (2 * AK_IMAGE_DOCS_MAX) /* power of two, never more than half full */

/* A variant already made: a manifest listed again with the same platform claim and name
 * is the same container, so it is probed once (an index listing one 40,000-layer
 * manifest 300 times must not cost 300 layer lists). */
struct seen {
	char *key; /* seen_key() */
	size_t len;
	uint64_t hash;
	size_t count;
	size_t note; /* 1 + its index in walk.repeated, 0 when not named */
};

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
	struct seen *seen; /* variants made, by seen_key(): an index may list one many times */
	size_t nseen, seen_cap;
	size_t repeats;		    /* listings that made no new variant */
	size_t nrepeated;	    /* distinct variants listed more than once */
	char *repeated[SEEN_NOTES]; /* the first few of them, as "'sha256:…' (linux/arm64)" */
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
	ak_index_doc_free(&m->idx);
	ak_manifest_doc_free(&m->man);
	free(m->artifact_mt);
	ak_config_doc_free(&m->cfg);
	free(m);
}

static void walk_free(struct walk *w)
{
	for (size_t i = 0; i < w->seen_cap; i++)
		free(w->seen[i].key);
	free(w->seen);
	w->seen = NULL;
	w->seen_cap = w->nseen = 0;
	for (size_t i = 0; i < SEEN_NOTES; i++)
		free(w->repeated[i]);
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
	int r;
	if (kind == MEMO_CONFIG) {
		r = ak_config_parse(buf, len, d->digest, &m->cfg, err);
	} else {
		json_t *root = json_parse(buf, len, d->digest, err);
		r = root ? 0 : -1;
		const char *own_mt = NULL;
		if (r == 0 && json_is_object(root))
			get_str(root, "mediaType", d->digest, &own_mt, NULL);
		if (r == 0 && own_mt && ak_media_type_is_index(own_mt) != (kind == MEMO_INDEX))
			r = ak_error_set(err, AK_EXIT_ENV,
					 "'%s': media type '%.100s' does not match its "
					 "descriptor's '%.100s'",
					 ak_digest_short(d->digest, sb), own_mt,
					 d->media_type ? d->media_type : "(none)");
		if (r == 0 && kind == MEMO_INDEX)
			r = index_from_json(root, d->digest, &m->idx, err);
		else if (r == 0)
			r = manifest_from_json(root, d->digest, &m->man, err);
		json_decref(root);
	}
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

/* digest, os, arch, variant and name, each with a byte saying whether it is there */
static char *seen_key(const char *digest, const struct claim *c, size_t *len)
{
	const char *parts[] = {digest, c->os, c->arch, c->variant, c->ref_name};
	size_t n = 0;
	for (size_t i = 0; i < 5; i++)
		n += 2 + (parts[i] ? strlen(parts[i]) : 0);
	char *k = malloc(n), *p = k;
	if (!k)
		return NULL;
	for (size_t i = 0; i < 5; i++) {
		*p++ = parts[i] ? '+' : '-';
		size_t l = parts[i] ? strlen(parts[i]) : 0;
		memcpy(p, parts[i] ? parts[i] : "", l);
		p += l;
		*p++ = '\0';
	}
	*len = n;
	return k;
}

static int seen_grow(struct walk *w)
{
	size_t cap = w->seen_cap ? w->seen_cap * 2 : 64;
	struct seen *t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	for (size_t i = 0; i < w->seen_cap; i++) {
		if (!w->seen[i].key)
			continue;
		size_t j = w->seen[i].hash & (cap - 1);
		while (t[j].key)
			j = (j + 1) & (cap - 1);
		t[j] = w->seen[i];
	}
	free(w->seen);
	w->seen = t;
	w->seen_cap = cap;
	return 0;
}

/* 1 when (digest, claim) made a variant before (counted), 0 when it is new (recorded). */
static int seen_check(struct walk *w, const char *digest, const struct claim *c,
		      struct ak_error **err)
{
	size_t len;
	char *key = seen_key(digest, c, &len);
	if (!key || ((w->nseen + 1) * 2 > w->seen_cap && seen_grow(w) < 0)) {
		free(key);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	uint64_t h = ak_siphash13(&w->key, key, len);
	size_t i = h & (w->seen_cap - 1);
	for (; w->seen[i].key; i = (i + 1) & (w->seen_cap - 1)) {
		struct seen *e = &w->seen[i];
		if (e->hash == h && e->len == len && !memcmp(e->key, key, len)) {
			free(key);
			if (e->count++ == 1 && w->nrepeated++ < SEEN_NOTES) {
				char sb[32];
				cleanup_free char *p = platform_string(c->os, c->arch, c->variant);
				if (asprintf(&w->repeated[w->nrepeated - 1], "'%s' (%s%s%s)",
					     ak_digest_short(digest, sb), p ? p : "no platform",
					     c->ref_name ? ", " : "",
					     c->ref_name ? c->ref_name : "") < 0) {
					w->repeated[w->nrepeated - 1] = NULL;
					return ak_error_set(err, AK_EXIT_ENV, "out of memory");
				}
				e->note = w->nrepeated;
			}
			w->repeats++;
			return 1;
		}
	}
	w->seen[i] = (struct seen){.key = key, .len = len, .hash = h, .count = 1};
	w->nseen++;
	return 0;
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
	int dup = manifest_digest ? seen_check(w, manifest_digest, c, err) : 0;
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
	v->config_platform = platform_string(cfg->os, cfg->arch, cfg->variant);
	v->config_parsed = ak_platform_from_oci(cfg->os, cfg->arch, cfg->variant);
	if (claimed) {
		v->index_platform = platform_string(c->os, c->arch, c->variant);
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

static int manifest_artifact_mt(struct memo *m, struct ak_error **err)
{
	const char *mt = m->man.config.media_type;
	if (mt && !ak_media_type_is_config(mt) && !(m->artifact_mt = strdup(mt)))
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	return 0;
}

static int walk_index(struct walk *w, const struct ak_index_doc *idx, const char *what,
		      const struct claim *above, bool is_root, struct ak_error **err);

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
	if (media_type_is_schema1(mt))
		return schema1_error(ak_digest_short(e->d.digest, sb), err);
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
		if (!m->artifact_mt && manifest_artifact_mt(m, err) < 0)
			return -1;
		return walk_manifest(w, &m->man, m->artifact_mt, e->d.digest, e->d.digest, &c, err);
	}
	w->stack[w->depth++] = e->d.digest;
	int r = walk_index(w, &m->idx, e->d.digest, &c, false, err);
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

static int walk_index(struct walk *w, const struct ak_index_doc *idx, const char *what,
		      const struct claim *above, bool is_root, struct ak_error **err)
{
	const char *tag = is_root ? w->img->src->tag : NULL;
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

/* One note per reason, naming a few of the manifests skipped. */
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
	for (size_t n = 1; n <= SEEN_NOTES && n <= w->nrepeated; n++)
		for (size_t i = 0; i < w->seen_cap; i++)
			if (w->seen[i].note == n && w->repeated[n - 1] &&
			    ak_variant_list_note(w->out,
						 "manifest %s is listed %zu times: probed once",
						 w->repeated[n - 1], w->seen[i].count) < 0)
				return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	if (w->nrepeated > SEEN_NOTES &&
	    ak_variant_list_note(w->out,
				 "%zu more manifests are listed more than once: each probed once",
				 w->nrepeated - SEEN_NOTES) < 0)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	return 0;
}

int ak_image_walk_root(struct ak_image *img, struct ak_variant_list *out, struct ak_error **err)
{
	struct ak_source *src = img->src;
	if (!src->ops->read_root)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' has no index", src->path);
	cleanup_free char *doc = NULL;
	size_t len = 0;
	if (src->ops->read_root(src, &doc, &len, err) < 0)
		return -1;
	/* name the document, not the image: the caller prefixes the image's name */
	const char *what = strcmp(src->ops->kind, "dir") == 0 ? "manifest.json" : "index.json";
	cleanup_json json_t *root = json_parse(doc, len, what, err);
	if (!root)
		return -1;
	struct walk w = {.img = img, .out = out};
	ak_hash_key_random(&w.key);
	struct claim none = {0};
	int r;
	if (json_is_object(root) && json_object_get(root, "layers") &&
	    !json_object_get(root, "manifests")) {
		/* the root is a single manifest (skopeo dir, a registry tag) */
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char digest[8 + 64 + 1] = "sha256:";
		if (EVP_Digest(doc, len, md, &mdlen, EVP_sha256(), NULL) != 1)
			return ak_error_set(err, AK_EXIT_ENV, "cannot compute digest");
		ak_hex_encode(md, mdlen < 32 ? mdlen : 32, digest + 7);
		struct memo m = {0};
		r = manifest_from_json(root, what, &m.man, err);
		if (r == 0)
			r = manifest_artifact_mt(&m, err);
		if (r == 0)
			r = walk_manifest(&w, &m.man, m.artifact_mt, what, digest, &none, err);
		ak_manifest_doc_free(&m.man);
		free(m.artifact_mt);
	} else {
		struct ak_index_doc idx;
		r = index_from_json(root, what, &idx, err);
		if (r == 0) {
			r = walk_index(&w, &idx, what, &none, true, err);
			ak_index_doc_free(&idx);
		}
	}
	if (r == 0)
		r = walk_notes(&w, err);
	walk_free(&w);
	return r;
}

/* --- opening --- */

static int sniff_has(int dirfd, const char *name, bool want_dir)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	/* a FIFO or device named index.json still says what the image means to be; the
	 * source's open then refuses it without blocking */
	return want_dir == S_ISDIR(st.st_mode);
}

static bool has_platform_folders(int dirfd)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return false;
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (ak_str_has_prefix(de->d_name, "linux_") && sniff_has(dirfd, de->d_name, true))
			return true;
	return false;
}

enum kind { K_NONE, K_OCI, K_DOCKER, K_DIR, K_LOCAL };

static enum kind sniff_dir(const char *path, struct ak_error **err)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", path);
		return K_NONE;
	}
	bool layout = sniff_has(fd, "oci-layout", false),
	     index = sniff_has(fd, "index.json", false),
	     manifest = sniff_has(fd, "manifest.json", false);
	if ((layout || index) && manifest)
		return K_DOCKER; /* Docker 25+ docker save: prefer manifest.json */
	if (layout || index)
		return K_OCI;
	if (manifest && sniff_has(fd, "version", false))
		return K_DIR;
	if (manifest)
		return K_DOCKER;
	if (has_platform_folders(fd))
		return K_LOCAL;
	ak_error_set(err, AK_EXIT_ENV,
		     "cannot tell the image format of '%s' (no oci-layout, index.json, "
		     "manifest.json or linux_* folders; use local:DIR for a root filesystem)",
		     path);
	return K_NONE;
}

/* Open dir as kind k; display (NULL: dir) is the name messages give it. */
static int open_kind(enum kind k, const char *dir, const char *display, const char *tag,
		     struct ak_image *img, struct ak_error **err)
{
	static const char *const names[] = {
		[K_OCI] = "oci", [K_DOCKER] = "docker-save", [K_DIR] = "dir", [K_LOCAL] = "local"};
	int r;
	switch (k) {
	case K_OCI:
		r = ak_source_oci_new(dir, tag, &img->src, err);
		break;
	case K_DOCKER:
		r = ak_source_docker_new(dir, tag, &img->src, err);
		break;
	case K_DIR:
		r = ak_source_skopeo_dir_new(dir, &img->src, err);
		break;
	case K_LOCAL:
		r = ak_source_local_new(dir, &img->src, err);
		break;
	default:
		return -1;
	}
	if (r < 0)
		return -1;
	if (!img->kind)
		img->kind = names[k];
	if (display) {
		free(img->src->path);
		if (!(img->src->path = strdup(display)))
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	if (k == K_OCI || k == K_DOCKER)
		return ak_source_oci_layout_check(img->src, k == K_OCI, err);
	return 0;
}

/* Split "PATH:TAG" where TAG has no '/' and PATH exists; a path that exists whole wins. */
static int split_tag(const char *s, char **path, char **tag)
{
	*path = NULL;
	*tag = NULL;
	const char *colon = strrchr(s, ':');
	if (colon && !strchr(colon + 1, '/') && access(s, F_OK) != 0) {
		*path = strndup(s, (size_t)(colon - s));
		*tag = colon[1] ? strdup(colon + 1) : NULL;
		if (!*path || (colon[1] && !*tag))
			return -1;
		return 0;
	}
	*path = strdup(s);
	return *path ? 0 : -1;
}

/* docker-archive:FILE[:NAME:TAG]: the longest prefix that exists is the file. */
static int split_docker(const char *s, char **path, char **tag)
{
	*path = NULL;
	*tag = NULL;
	for (const char *c = strchr(s, ':'); c; c = strchr(c + 1, ':')) {
		cleanup_free char *p = strndup(s, (size_t)(c - s));
		if (p && access(p, F_OK) == 0 && access(s, F_OK) != 0) {
			*path = steal_pointer(&p);
			*tag = c[1] ? strdup(c + 1) : NULL;
			return 0;
		}
	}
	*path = strdup(s);
	return *path ? 0 : -1;
}

static int open_extracted(struct ak_image *img, const char *file, enum kind want, const char *tag,
			  struct ak_error **err)
{
	if (ak_archive_extract(file, &img->tmpdir, err) < 0)
		return -1;
	enum kind k = sniff_dir(img->tmpdir, err);
	if (k == K_NONE) {
		ak_error_clear(err);
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': archive holds no index.json, manifest.json or linux_* "
				    "folders",
				    file);
	}
	if (want == K_OCI && k != K_OCI && k != K_DOCKER)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': not an oci-archive (no index.json)",
				    file);
	if (want == K_DOCKER && k != K_DOCKER)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': not a docker-archive (no manifest.json)", file);
	if (want != K_NONE)
		k = want;
	if (k == K_LOCAL && !img->kind)
		img->kind = "local-tar";
	if (k == K_OCI && !img->kind)
		img->kind = "oci-archive";
	if (k == K_DOCKER && !img->kind)
		img->kind = "docker-archive";
	return open_kind(k, img->tmpdir, file, tag, img, err);
}

static int image_open(struct ak_image *img, const char *ref, struct ak_error **err)
{
	cleanup_free char *path = NULL;
	cleanup_free char *tag = NULL;
	if (ak_str_has_prefix(ref, "docker://"))
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': registry sources are not supported yet", ref);
	if (!strcmp(ref, "-"))
		return open_extracted(img, "-", K_NONE, NULL, err);
	if (ak_str_has_prefix(ref, "oci:")) {
		if (split_tag(ref + 4, &path, &tag) < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		return open_kind(K_OCI, path, NULL, tag, img, err);
	}
	if (ak_str_has_prefix(ref, "oci-archive:")) {
		if (split_tag(ref + 12, &path, &tag) < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		return open_extracted(img, path, K_OCI, tag, err);
	}
	if (ak_str_has_prefix(ref, "docker-archive:")) {
		if (split_docker(ref + 15, &path, &tag) < 0)
			return ak_error_set(err, AK_EXIT_ENV, "out of memory");
		return open_extracted(img, path, K_DOCKER, tag, err);
	}
	if (ak_str_has_prefix(ref, "dir:"))
		return open_kind(K_DIR, ref + 4, NULL, NULL, img, err);
	if (ak_str_has_prefix(ref, "local:"))
		return open_kind(K_LOCAL, ref + 6, NULL, NULL, img, err);
	struct stat st;
	if (stat(ref, &st) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open image '%s'", ref);
	if (S_ISDIR(st.st_mode)) {
		enum kind k = sniff_dir(ref, err);
		return k == K_NONE ? -1 : open_kind(k, ref, NULL, NULL, img, err);
	}
	if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
		return open_extracted(img, ref, K_NONE, NULL, err);
	return ak_error_set(err, AK_EXIT_ENV, "'%s' is neither a directory nor an archive", ref);
}

int ak_image_open(const char *ref, struct ak_image **out, struct ak_error **err)
{
	struct ak_image *img = calloc(1, sizeof(*img));
	if (!img || !(img->ref = strdup(ref))) {
		free(img);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	if (image_open(img, ref, err) < 0) {
		ak_image_close(img);
		return -1;
	}
	*out = img;
	return 0;
}

int ak_image_open_source(struct ak_source *src, const char *ref, struct ak_image **out,
			 struct ak_error **err)
{
	struct ak_image *img = calloc(1, sizeof(*img));
	if (!img || !(img->ref = strdup(ref))) {
		free(img);
		ak_source_close(src);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	img->src = src;
	img->kind = src->ops->kind;
	*out = img;
	return 0;
}

const char *ak_image_kind(const struct ak_image *img)
{
	return img->kind;
}

const char *ak_image_tmpdir(const struct ak_image *img)
{
	return img->tmpdir;
}

void ak_image_close(struct ak_image *img)
{
	if (!img)
		return;
	ak_source_close(img->src);
	if (img->tmpdir)
		ak_tmpdir_remove(img->tmpdir);
	free(img->tmpdir);
	free(img->ref);
	free(img);
}

int ak_image_open_blob(struct ak_image *img, const struct ak_descriptor *d, struct ak_stream **out,
		       struct ak_error **err)
{
	if (!d->digest)
		return ak_error_set(err, AK_EXIT_ENV, "blob without a digest");
	if (ak_digest_validate(d->digest, err) < 0 ||
	    ak_blob_size_validate(d->size, d->digest, err) < 0)
		return -1;
	if (!img->src->ops->open_blob)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' has no blobs (%s output)",
				    img->src->path, img->kind);
	struct ak_stream *raw = NULL;
	if (img->src->ops->open_blob(img->src, d, &raw, err) < 0)
		return -1;
	return ak_blob_stream_new(raw, d, out, err);
}

/* --- variants --- */

static bool in_filter(const struct ak_platform *p, const struct ak_platform **filter,
		      size_t nfilter)
{
	for (size_t i = 0; i < nfilter; i++)
		if (p && p == filter[i])
			return true;
	return false;
}

static int no_match_error(const struct ak_variant_list *all, const struct ak_platform **filter,
			  size_t nfilter, const char *ref, struct ak_error **err)
{
	char has[1024] = "", want[512] = "";
	size_t n = 0;
	for (size_t i = 0; i < all->n && n + 40 < sizeof(has); i++) {
		const struct ak_variant *v = &all->items[i];
		const char *name = v->platform		? v->platform->name
				   : v->index_platform	? v->index_platform
				   : v->config_platform ? v->config_platform
							: "unknown";
		n += (size_t)snprintf(has + n, sizeof(has) - n, "%s%.32s", n ? ", " : "", name);
	}
	size_t m = 0;
	for (size_t i = 0; i < nfilter && m + 40 < sizeof(want); i++)
		m += (size_t)snprintf(want + m, sizeof(want) - m, "%s%s", m ? ", " : "",
				      filter[i]->name);
	return ak_error_set(err, AK_EXIT_ENV, "'%s' has no variant for %s (it has: %s)", ref, want,
			    n ? has : "none");
}

int ak_image_variants(struct ak_image *img, const struct ak_platform **filter, size_t nfilter,
		      struct ak_variant_list *out, struct ak_error **err)
{
	struct ak_variant_list all = {0};
	*out = (struct ak_variant_list){0};
	int r = img->src->ops->list_variants
			? img->src->ops->list_variants(img->src, img, &all, err)
			: ak_image_walk_root(img, &all, err);
	if (r < 0) {
		ak_variant_list_free(&all);
		return ak_error_prefix(err, "'%s'", img->ref);
	}
	for (size_t i = 0; i < all.n; i++) {
		struct ak_variant *v = &all.items[i];
		v->platform = v->index_parsed	 ? v->index_parsed
			      : v->config_parsed ? v->config_parsed
						 : v->folder_parsed;
		/* an output that says nothing about its platform takes the one asked for */
		if (!v->platform && nfilter == 1 && !v->index_platform && !v->config_platform &&
		    !v->folder_platform)
			v->platform = filter[0];
	}
	if (all.n == 0) {
		r = ak_error_set(
			err, AK_EXIT_ENV,
			"'%s' holds no image manifests (%zu attestation manifests skipped%s)",
			img->ref, all.skipped_attestations,
			all.n_notes ? ", other media types too" : "");
		ak_variant_list_free(&all);
		return r;
	}
	if (nfilter == 0) {
		*out = all;
		return 0;
	}
	size_t kept = 0;
	for (size_t i = 0; i < all.n; i++)
		if (in_filter(all.items[i].platform, filter, nfilter))
			kept++;
	if (kept == 0) {
		r = no_match_error(&all, filter, nfilter, img->ref, err);
		ak_variant_list_free(&all);
		return r;
	}
	/* move the kept variants to the front, clear the rest */
	size_t j = 0;
	for (size_t i = 0; i < all.n; i++) {
		if (in_filter(all.items[i].platform, filter, nfilter)) {
			struct ak_variant tmp = all.items[j];
			all.items[j++] = all.items[i];
			all.items[i] = tmp;
		}
	}
	for (size_t i = j; i < all.n; i++)
		variant_clear(&all.items[i]);
	all.n = j;
	*out = all;
	return 0;
}
