/* The OCI image layout and skopeo's dir: transport. */
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

/* Open a blob file and refuse early when its size on disk is not the descriptor's. */
static int open_sized(struct ak_source *src, const char *path, const struct ak_descriptor *d,
		      struct ak_stream **out, struct ak_error **err)
{
	char sb[32];
	int64_t size = 0;
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, path, &s, &size, err) < 0) {
		if ((*err)->errnum == ENOENT) {
			ak_error_clear(err);
			return ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_OTHER, ENOENT,
						 "blob '%s' is missing from '%s'",
						 ak_digest_short(d->digest, sb), src->path);
		}
		return ak_error_prefix(err, "blob '%s'", ak_digest_short(d->digest, sb));
	}
	if (size != d->size)
		return ak_error_set(
			err, AK_EXIT_ENV, "blob '%s': %lld bytes on disk, its descriptor says %lld",
			ak_digest_short(d->digest, sb), (long long)size, (long long)d->size);
	*out = steal_pointer(&s);
	return 0;
}

/* --- OCI image layout --- */

static int oci_read_root(struct ak_source *src, struct ak_source_root *out, struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, "index.json", &s, NULL, err) < 0)
		return ak_error_prefix(err, "'%s' is not an OCI layout", src->path);
	out->form = AK_ROOT_GRAPH;
	out->name = "index.json";
	return ak_source_read_json_stream(s, out->name, &out->doc, &out->len, err);
}

int ak_source_layout_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			       struct ak_stream **out, struct ak_error **err)
{
	if (d->path) /* docker save's layer paths */
		return open_sized(src, d->path, d, out, err);
	char path[AK_BLOB_PATH_MAX];
	ak_source_blob_path(d->digest, path);
	return open_sized(src, path, d, out, err);
}

int ak_source_oci_layout_check(struct ak_source *src, bool required, struct ak_error **err)
{
	struct stat st;
	if (fstatat(src->dirfd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
		if (!required)
			return 0;
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s' is not an OCI layout: no 'oci-layout' file (the "
				    "image-layout spec requires one)",
				    src->path);
	}
	cleanup_stream struct ak_stream *s = NULL;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (ak_source_open_file(src->dirfd, "oci-layout", &s, NULL, err) < 0 ||
	    ak_stream_read_all(s, 4096, &buf, &len, err) < 0)
		return ak_error_prefix(err, "'%s'", src->path);
	return ak_oci_layout_parse(buf, len, src->path, err);
}

static const struct ak_source_ops oci_ops = {
	.kind = "oci",
	.read_root = oci_read_root,
	.open_blob = ak_source_layout_open_blob,
	.close = ak_source_file_close,
};

int ak_source_oci_new(const char *dir, struct ak_source **out, struct ak_error **err)
{
	return ak_source_file_new(&oci_ops, dir, out, err);
}

/* --- skopeo dir: --- */

static int dir_read_root(struct ak_source *src, struct ak_source_root *out, struct ak_error **err)
{
	out->form = AK_ROOT_GRAPH;
	out->name = "manifest.json";
	return ak_source_read_json(src, out->name, &out->doc, &out->len, err);
}

/* Blobs are named by their hex; per-instance manifests of a list (skopeo copy --all) are
 * HEX.manifest.json. */
static int dir_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			 struct ak_stream **out, struct ak_error **err)
{
	const char *hex = strchr(d->digest, ':') + 1;
	char path[128 + 32];
	snprintf(path, sizeof(path), "%s", hex);
	struct stat st;
	if (fstatat(src->dirfd, path, &st, 0) < 0)
		snprintf(path, sizeof(path), "%s.manifest.json", hex);
	return open_sized(src, path, d, out, err);
}

static const struct ak_source_ops dir_ops = {
	.kind = "dir",
	.read_root = dir_read_root,
	.open_blob = dir_open_blob,
	.close = ak_source_file_close,
};

int ak_source_skopeo_dir_new(const char *dir, struct ak_source **out, struct ak_error **err)
{
	return ak_source_file_new(&dir_ops, dir, out, err);
}
