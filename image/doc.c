/* Image documents parsed into plain structs: the one place archkit reads JSON from an
 * image. */
#include "image/doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* jansson ships json_decrefp for json_auto_t */
#define cleanup_json __attribute__((cleanup(json_decrefp)))

bool ak_media_type_is_index(const char *mt)
{
	return mt && (!strcmp(mt, AK_MT_OCI_INDEX) || !strcmp(mt, AK_MT_DOCKER_LIST));
}

bool ak_media_type_is_manifest(const char *mt)
{
	return mt && (!strcmp(mt, AK_MT_OCI_MANIFEST) || !strcmp(mt, AK_MT_DOCKER_MANIFEST));
}

bool ak_media_type_is_config(const char *mt)
{
	return mt && (!strcmp(mt, AK_MT_OCI_CONFIG) || !strcmp(mt, AK_MT_DOCKER_CONFIG));
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
	*out = ak_xstrdup(s);
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
	d->digest = ak_xstrdup(digest);
	return 0;
}

/* --- Docker schema 1 --- */

bool ak_media_type_is_schema1(const char *mt)
{
	return mt && (!strcmp(mt, AK_MT_DOCKER_V1) || !strcmp(mt, AK_MT_DOCKER_V1_SIGNED));
}

/* Schema 1 (2015, deprecated) has schemaVersion 1 and fsLayers instead of layers. */
static bool json_is_schema1(json_t *root)
{
	json_t *v = json_object_get(root, "schemaVersion");
	const char *mt = json_string_value(json_object_get(root, "mediaType"));
	return (json_is_integer(v) && json_integer_value(v) == 1) || ak_media_type_is_schema1(mt) ||
	       json_object_get(root, "fsLayers");
}

int ak_doc_schema1_error(const char *what, struct ak_error **err)
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
		return ak_doc_schema1_error(what, err);
	if (!arr)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': no 'manifests' in the index", what);
	if (!json_is_array(arr))
		return ak_error_set(err, AK_EXIT_ENV, "'%s': 'manifests' is not an array", what);
	size_t n = json_array_size(arr);
	if (n > AK_IMAGE_ENTRIES_MAX)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': more than %d manifests", what,
				    AK_IMAGE_ENTRIES_MAX);
	out->entries = ak_xcalloc(n, sizeof(*out->entries));
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
		return ak_doc_schema1_error(what, err);
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
	out->layers = ak_xcalloc(n, sizeof(*out->layers));
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
	ak_process_clear(&d->process);
	*d = (struct ak_config_doc){0};
}

void ak_process_copy(struct ak_process *dst, const struct ak_process *src)
{
	dst->entrypoint = ak_xstrv_dup(src->entrypoint);
	dst->cmd = ak_xstrv_dup(src->cmd);
	dst->env = ak_xstrv_dup(src->env);
	dst->working_dir = ak_xstrdup(src->working_dir);
}

void ak_process_clear(struct ak_process *p)
{
	ak_strv_free(p->entrypoint);
	ak_strv_free(p->cmd);
	ak_strv_free(p->env);
	free(p->working_dir);
	*p = (struct ak_process){0};
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
	char **v = ak_xcalloc(len, sizeof(*v));
	*out = v;
	for (size_t i = 0; i < len; i++) {
		json_t *s = json_array_get(arr, i);
		if (!json_is_string(s))
			return ak_error_set(err, AK_EXIT_ENV, "'%s': '%s' holds a non-string", what,
					    key);
		v[i] = ak_xstrdup(json_string_value(s));
		*n = i + 1;
	}
	return 0;
}

/* One of the config's string arrays as a NULL-terminated copy: NULL when absent or
 * null; a string in it with a NUL byte could not reach execve, so it is refused. */
static int process_strv(json_t *run, const char *key, const char *what, char ***out,
			struct ak_error **err)
{
	char **v = NULL;
	size_t n = 0;
	json_t *arr = json_object_get(run, key);
	if (!arr || json_is_null(arr))
		return 0;
	if (str_array(arr, key, what, &v, &n, err) < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return -1;
	}
	*out = ak_xrealloc(v, (n + 1) * sizeof(*v));
	(*out)[n] = NULL;
	for (size_t i = 0; i < n; i++)
		if (strlen((*out)[i]) != json_string_length(json_array_get(arr, i)))
			return ak_error_set(err, AK_EXIT_ENV, "'%s': '%s' holds a NUL byte", what,
					    key);
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
	json_t *run = json_object_get(root, "config");
	if (run && json_is_object(run) &&
	    (process_strv(run, "Entrypoint", what, &out->process.entrypoint, err) < 0 ||
	     process_strv(run, "Cmd", what, &out->process.cmd, err) < 0 ||
	     process_strv(run, "Env", what, &out->process.env, err) < 0 ||
	     dup_str(run, "WorkingDir", what, &out->process.working_dir, err) < 0))
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
	out->entries = ak_xcalloc(n, sizeof(*out->entries));
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

/* --- documents of the graph walk --- */

void ak_doc_free(struct ak_doc *d)
{
	ak_index_doc_free(&d->idx);
	ak_manifest_doc_free(&d->man);
	*d = (struct ak_doc){0};
}

int ak_doc_parse_root(const char *buf, size_t len, const char *what, struct ak_doc *out,
		      struct ak_error **err)
{
	*out = (struct ak_doc){0};
	cleanup_json json_t *root = json_parse(buf, len, what, err);
	if (!root)
		return -1;
	if (json_is_object(root) && json_object_get(root, "layers") &&
	    !json_object_get(root, "manifests"))
		return manifest_from_json(root, what, &out->man, err);
	out->is_index = true;
	return index_from_json(root, what, &out->idx, err);
}

int ak_doc_parse_as(const char *buf, size_t len, const struct ak_descriptor *d, bool want_index,
		    struct ak_doc *out, struct ak_error **err)
{
	char sb[32];
	*out = (struct ak_doc){.is_index = want_index};
	cleanup_json json_t *root = json_parse(buf, len, d->digest, err);
	if (!root)
		return -1;
	const char *own_mt = NULL;
	if (json_is_object(root))
		get_str(root, "mediaType", d->digest, &own_mt, NULL);
	if (own_mt && ak_media_type_is_index(own_mt) != want_index)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': media type '%.100s' does not match its descriptor's "
				    "'%.100s'",
				    ak_digest_short(d->digest, sb), own_mt,
				    d->media_type ? d->media_type : "(none)");
	if (want_index)
		return index_from_json(root, d->digest, &out->idx, err);
	return manifest_from_json(root, d->digest, &out->man, err);
}

/* --- the oci-layout file --- */

int ak_oci_layout_parse(const char *buf, size_t len, const char *what, struct ak_error **err)
{
	cleanup_json json_t *j = json_parse(buf, len, "oci-layout", err);
	if (!j)
		return ak_error_prefix(err, "'%s'", what);
	json_t *v = json_is_object(j) ? json_object_get(j, "imageLayoutVersion") : NULL;
	if (!json_is_string(v))
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': 'oci-layout' has no 'imageLayoutVersion' string", what);
	/* 1.x.y: the layout has not changed incompatibly since 1.0.0; a 2.x layout would not
	 * be read right */
	const char *ver = json_string_value(v);
	if (strncmp(ver, "1.", 2) != 0 || ver[2] < '0' || ver[2] > '9')
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': 'oci-layout': imageLayoutVersion '%.40s' is not "
				    "supported (archkit reads 1.x)",
				    what, ver);
	return 0;
}
