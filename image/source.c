/* What every source shares: verified blob reads over its open_blob, the root's data,
 * and the helpers of file sources, which read below one directory fd and never leave it. */
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
#include "common/xalloc.h"

int ak_source_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			struct ak_stream **out, struct ak_error **err)
{
	if (!d->digest)
		return ak_error_set(err, AK_EXIT_ENV, "blob without a digest");
	if (ak_digest_validate(d->digest, err) < 0 ||
	    ak_blob_size_validate(d->size, d->digest, err) < 0)
		return -1;
	if (!src->ops->open_blob)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' has no blobs (%s output)", src->path,
				    src->ops->kind);
	struct ak_stream *raw = NULL;
	if (src->ops->open_blob(src, d, &raw, err) < 0)
		return -1;
	return ak_blob_stream_new(raw, d, out, err);
}

int ak_source_read_doc(struct ak_source *src, const struct ak_descriptor *d, char **out,
		       size_t *len, struct ak_error **err)
{
	char sb[32];
	if (d->size > (int64_t)AK_JSON_MAX)
		return ak_error_set(
			err, AK_EXIT_ENV,
			"blob '%s': %lld bytes, more than the %u allowed for a document",
			ak_digest_short(d->digest, sb), (long long)d->size, AK_JSON_MAX);
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_blob(src, d, &s, err) < 0)
		return -1;
	if (ak_stream_read_all(s, AK_JSON_MAX, out, len, err) < 0)
		return ak_error_prefix(err, "blob '%s'", ak_digest_short(d->digest, sb));
	return 0;
}

void ak_source_close(struct ak_source *src)
{
	if (src)
		src->ops->close(src);
}

void ak_source_root_clear(struct ak_source_root *r)
{
	free(r->doc);
	free(r->note);
	for (size_t i = 0; r->files && i < r->docker.n; i++) {
		struct ak_source_docker_files *f = &r->files[i];
		ak_error_free(f->config.error);
		for (size_t j = 0; f->layers && j < r->docker.entries[i].nlayers; j++)
			ak_error_free(f->layers[j].error);
		free(f->layers);
	}
	free(r->files);
	ak_docker_manifest_free(&r->docker);
	for (size_t i = 0; i < r->ntrees; i++) {
		struct ak_source_tree *t = &r->trees[i];
		free(t->os);
		free(t->arch);
		free(t->variant);
		free(t->path);
		if (t->fd >= 0)
			close(t->fd);
	}
	free(r->trees);
	*r = (struct ak_source_root){0};
}

void ak_source_blob_path(const char *digest, char out[AK_BLOB_PATH_MAX])
{
	/* validated before a source sees it: "alg:hex", no '/' */
	const char *colon = strchr(digest, ':');
	snprintf(out, AK_BLOB_PATH_MAX, "blobs/%.*s/%s", (int)(colon - digest), digest, colon + 1);
}

/* --- file sources --- */

int ak_source_openat(int dirfd, const char *path, int flags, struct ak_error **err)
{
	int fd = ak_openat_beneath(dirfd, path, flags, 0);
	if (fd >= 0)
		return fd;
	if (errno == EXDEV)
		return ak_error_set(err, AK_EXIT_ENV, "'%.200s' leads outside the image", path);
	return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%.200s'", path);
}

int ak_source_open_regular(int dirfd, const char *path, int64_t *size, struct ak_error **err)
{
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer forever */
	cleanup_fd int fd = ak_source_openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, err);
	if (fd < 0 || ak_fd_require_regular(fd, path, size, err) < 0)
		return -1;
	return steal_fd(&fd);
}

int ak_source_open_file(int dirfd, const char *path, struct ak_stream **out, int64_t *size,
			struct ak_error **err)
{
	cleanup_fd int fd = ak_source_open_regular(dirfd, path, size, err);
	if (fd < 0)
		return -1;
	*out = ak_fd_stream_new(steal_fd(&fd), path);
	return 0;
}

int ak_source_read_json_stream(struct ak_stream *s, const char *name, char **doc, size_t *len,
			       struct ak_error **err)
{
	if (ak_stream_read_all(s, AK_JSON_MAX, doc, len, err) < 0)
		return ak_error_prefix(err, "'%s'", name);
	return 0;
}

int ak_source_read_json(struct ak_source *src, const char *name, char **doc, size_t *len,
			struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, name, &s, NULL, err) < 0)
		return -1;
	return ak_source_read_json_stream(s, name, doc, len, err);
}

void ak_source_file_close(struct ak_source *src)
{
	if (src->dirfd >= 0)
		close(src->dirfd);
	free(src->path);
	free(src);
}

int ak_source_file_new(const struct ak_source_ops *ops, const char *dir, struct ak_source **out,
		       struct ak_error **err)
{
	struct ak_source *src = ak_xcalloc(1, sizeof(*src));
	src->ops = ops;
	src->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src->dirfd < 0) {
		int e = errno;
		ak_source_file_close(src);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot open '%s'", dir);
	}
	src->path = ak_xstrdup(dir);
	*out = src;
	return 0;
}
