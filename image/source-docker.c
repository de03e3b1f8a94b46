/* docker save output as a directory: the old form (manifest.json, <id>/layer.tar with
 * duplicate layers as symlinks, configs named <hex>.json) and Docker 25+ (an OCI layout
 * whose index.json carries no platform, plus manifest.json pointing into blobs/). The
 * variants come from manifest.json, whose layer order docker itself uses; the platform
 * comes from each config; index.json, when there, adds manifest digests. */
#include "image/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

#define MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

static bool is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* "blobs/sha256/HEX" or ".../HEX.json" or "HEX.json" name their own digest. */
static char *digest_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".json"))
		n -= 5;
	if (!is_hex64(base, n))
		return NULL;
	if (!ak_str_has_prefix(path, "blobs/") && strchr(path, '/'))
		return NULL; /* <id>/layer.tar-style: the id is not a content digest */
	char *d = NULL;
	if (asprintf(&d, "sha256:%.64s", base) < 0)
		return NULL;
	return d;
}

static int file_size(struct ak_source *src, const char *path, int64_t *size, struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, path, &s, size, err) < 0)
		return ak_error_prefix(err, "'%s'", src->path);
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

static int tag_error(const struct ak_docker_manifest *m, const char *tag, struct ak_error **err)
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

/* Fill v from one manifest.json entry. */
static int entry_variant(struct ak_source *src, struct ak_image *img,
			 const struct ak_docker_entry *e, struct ak_variant *v, size_t *doc_bytes,
			 struct ak_error **err)
{
	v->config.digest = digest_from_path(e->config);
	if (!v->config.digest)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'manifest.json': cannot tell the digest of config '%.200s'",
				    e->config);
	if (!(v->config.path = strdup(e->config)) ||
	    !(v->config.media_type = strdup(MT_DOCKER_CONFIG)))
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	if (file_size(src, e->config, &v->config.size, err) < 0)
		return -1;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ak_image_read_blob(img, &v->config, &buf, &len, err) < 0)
		return -1;
	/* thousands of entries naming one 4 MiB config would read gigabytes */
	if ((*doc_bytes += len) > AK_IMAGE_DOC_BYTES_MAX)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'manifest.json': its configs exceed %u bytes in all",
				    AK_IMAGE_DOC_BYTES_MAX);
	struct ak_config_doc cfg;
	if (ak_config_parse(buf, len, e->config, &cfg, err) < 0)
		return -1;
	if ((cfg.os || cfg.arch) &&
	    asprintf(&v->config_platform, "%s/%s%s%s", cfg.os ? cfg.os : "?",
		     cfg.arch ? cfg.arch : "?", cfg.variant && *cfg.variant ? "/" : "",
		     cfg.variant && *cfg.variant ? cfg.variant : "") < 0)
		v->config_platform = NULL;
	v->config_parsed = ak_platform_from_oci(cfg.os, cfg.arch, cfg.variant);
	int r = 0;
	v->layers = calloc(e->nlayers ? e->nlayers : 1, sizeof(*v->layers));
	if (!v->layers)
		r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
	for (size_t i = 0; r == 0 && i < e->nlayers; i++) {
		struct ak_descriptor *d = &v->layers[i];
		v->nlayers = i + 1;
		d->digest = digest_from_path(e->layers[i]);
		if (!d->digest) {
			/* old form: the layer tar is the uncompressed diff named by diff_ids */
			if (cfg.ndiff_ids != e->nlayers) {
				r = ak_error_set(err, AK_EXIT_ENV,
						 "'%s': %zu layers but %zu diff_ids in config",
						 src->path, e->nlayers, cfg.ndiff_ids);
				break;
			}
			d->digest = strdup(cfg.diff_ids[i]);
		}
		d->path = strdup(e->layers[i]);
		d->media_type = strdup(MT_DOCKER_LAYER_TAR);
		if (!d->digest || !d->path || !d->media_type)
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
		else
			r = file_size(src, d->path, &d->size, err);
	}
	ak_config_doc_free(&cfg);
	if (r == 0 && e->nrepo_tags && !(v->ref_name = strdup(e->repo_tags[0])))
		r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
	return r;
}

static bool blobs_present(struct ak_source *src, const struct ak_variant *v)
{
	for (size_t i = 0; i < v->nlayers; i++) {
		const char *d = v->layers[i].digest, *colon = strchr(d, ':');
		char path[200];
		struct stat st;
		snprintf(path, sizeof(path), "blobs/%.*s/%s", (int)(colon - d), d, colon + 1);
		if (fstatat(src->dirfd, path, &st, 0) < 0)
			return false;
	}
	return true;
}

static void move_variant(struct ak_variant *dst, struct ak_variant *src)
{
	*dst = *src;
	*src = (struct ak_variant){.tree_fd = -1};
}

static int docker_list_variants(struct ak_source *src, struct ak_image *img,
				struct ak_variant_list *out, struct ak_error **err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	{
		cleanup_stream struct ak_stream *s = NULL;
		if (ak_source_open_file(src->dirfd, "manifest.json", &s, NULL, err) < 0)
			return -1;
		if (ak_stream_read_all(s, AK_JSON_MAX, &buf, &len, err) < 0)
			return ak_error_prefix(err, "'manifest.json'");
	}
	struct ak_docker_manifest m;
	if (ak_docker_manifest_parse(buf, len, &m, err) < 0)
		return -1;
	int r = 0;
	struct ak_variant_list walked = {0};
	struct stat st;
	if (fstatat(src->dirfd, "index.json", &st, 0) == 0) {
		/* Docker 25+: index.json's tags are ref.names, not RepoTags */
		char *tag = src->tag;
		src->tag = NULL;
		r = ak_image_walk_root(img, &walked, err);
		src->tag = tag;
		if (r < 0)
			goto out;
		out->skipped_attestations += walked.skipped_attestations;
		for (size_t i = 0; i < walked.n_notes; i++)
			ak_variant_list_note(out, "%s", walked.notes[i]);
	}
	bool any = false;
	size_t doc_bytes = 0, layers = 0;
	for (size_t i = 0; i < m.n && r == 0; i++) {
		const struct ak_docker_entry *e = &m.entries[i];
		if (src->tag && !tag_matches(e, src->tag))
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
		if ((r = entry_variant(src, img, e, v, &doc_bytes, err)) < 0)
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
	if (r == 0 && src->tag && !any)
		r = tag_error(&m, src->tag, err);
	/* index.json may list platforms manifest.json does not (containerd store) */
	for (size_t j = 0; j < walked.n && r == 0 && !src->tag; j++) {
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
	ak_docker_manifest_free(&m);
	return r;
}

static const struct ak_source_ops docker_ops = {
	.kind = "docker-save",
	.read_root = NULL, /* set below: index.json when there (Docker 25+) */
	.open_blob = ak_source_layout_open_blob,
	.list_variants = docker_list_variants,
	.close = ak_source_file_close,
};

static int docker_read_root(struct ak_source *src, char **doc, size_t *len, struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, "index.json", &s, NULL, err) < 0)
		return -1;
	if (ak_stream_read_all(s, AK_JSON_MAX, doc, len, err) < 0)
		return ak_error_prefix(err, "'index.json'");
	return 0;
}

static const struct ak_source_ops docker25_ops = {
	.kind = "docker-save",
	.read_root = docker_read_root,
	.open_blob = ak_source_layout_open_blob,
	.list_variants = docker_list_variants,
	.close = ak_source_file_close,
};

int ak_source_docker_new(const char *dir, const char *tag, struct ak_source **out,
			 struct ak_error **err)
{
	if (ak_source_file_new(&docker_ops, dir, tag, out, err) < 0)
		return -1;
	struct stat st;
	if (fstatat((*out)->dirfd, "index.json", &st, 0) == 0)
		(*out)->ops = &docker25_ops;
	return 0;
}
