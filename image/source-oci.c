/* File sources shared helpers, the OCI image layout and skopeo's dir: transport. */
#include "image/source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

int ak_source_openat(int dirfd, const char *path, int flags, struct ak_error **err)
{
	int fd = ak_openat_beneath(dirfd, path, flags, 0);
	if (fd >= 0)
		return fd;
	if (errno == EXDEV)
		return ak_error_set(err, AK_EXIT_ENV, "'%.200s' leads outside the image", path);
	return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%.200s'", path);
}

static const char *file_type_name(mode_t m)
{
	return S_ISDIR(m)		  ? "a directory"
	       : S_ISFIFO(m)		  ? "a FIFO"
	       : S_ISSOCK(m)		  ? "a socket"
	       : S_ISCHR(m) || S_ISBLK(m) ? "a device"
					  : "not a file";
}

int ak_source_open_regular(int dirfd, const char *path, int64_t *size, struct ak_error **err)
{
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer forever */
	cleanup_fd int fd = ak_source_openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, err);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot stat '%.200s'", path);
	if (!S_ISREG(st.st_mode))
		return ak_error_set(err, AK_EXIT_ENV, "'%.200s' is not a regular file (%s)", path,
				    file_type_name(st.st_mode));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read '%.200s'", path);
	if (size)
		*size = st.st_size;
	return steal_fd(&fd);
}

int ak_source_open_file(int dirfd, const char *path, struct ak_stream **out, int64_t *size,
			struct ak_error **err)
{
	cleanup_fd int fd = ak_source_open_regular(dirfd, path, size, err);
	if (fd < 0)
		return -1;
	*out = ak_fd_stream_new(steal_fd(&fd), path);
	if (!*out)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	return 0;
}

void ak_source_free_common(struct ak_source *src)
{
	if (src->dirfd >= 0)
		close(src->dirfd);
	free(src->path);
	free(src->tag);
	free(src);
}

void ak_source_close(struct ak_source *src)
{
	if (src)
		src->ops->close(src);
}

int ak_source_file_new(const struct ak_source_ops *ops, const char *dir, const char *tag,
		       struct ak_source **out, struct ak_error **err)
{
	struct ak_source *src = calloc(1, sizeof(*src));
	if (!src)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	src->ops = ops;
	src->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src->dirfd < 0) {
		int e = errno;
		ak_source_free_common(src);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot open '%s'", dir);
	}
	src->path = strdup(dir);
	src->tag = tag ? strdup(tag) : NULL;
	if (!src->path || (tag && !src->tag)) {
		ak_source_free_common(src);
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	}
	*out = src;
	return 0;
}

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
			return ak_error_set(err, AK_EXIT_ENV, "blob '%s' is missing from '%s'",
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

static int oci_read_root(struct ak_source *src, char **doc, size_t *len, struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, "index.json", &s, NULL, err) < 0)
		return ak_error_prefix(err, "'%s' is not an OCI layout", src->path);
	if (ak_stream_read_all(s, AK_JSON_MAX, doc, len, err) < 0)
		return ak_error_prefix(err, "'index.json'");
	return 0;
}

int ak_source_layout_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			       struct ak_stream **out, struct ak_error **err)
{
	if (d->path) /* docker save's layer paths */
		return open_sized(src, d->path, d, out, err);
	/* digest is validated: "alg:hex" with no '/' */
	char path[16 + 8 + 128 + 1];
	const char *colon = strchr(d->digest, ':');
	snprintf(path, sizeof(path), "blobs/%.*s/%s", (int)(colon - d->digest), d->digest,
		 colon + 1);
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

void ak_source_file_close(struct ak_source *src)
{
	ak_source_free_common(src);
}

static const struct ak_source_ops oci_ops = {
	.kind = "oci",
	.read_root = oci_read_root,
	.open_blob = ak_source_layout_open_blob,
	.close = ak_source_file_close,
};

int ak_source_oci_new(const char *dir, const char *tag, struct ak_source **out,
		      struct ak_error **err)
{
	return ak_source_file_new(&oci_ops, dir, tag, out, err);
}

/* --- skopeo dir: --- */

static int dir_read_root(struct ak_source *src, char **doc, size_t *len, struct ak_error **err)
{
	cleanup_stream struct ak_stream *s = NULL;
	if (ak_source_open_file(src->dirfd, "manifest.json", &s, NULL, err) < 0)
		return -1;
	if (ak_stream_read_all(s, AK_JSON_MAX, doc, len, err) < 0)
		return ak_error_prefix(err, "'manifest.json'");
	return 0;
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
	return ak_source_file_new(&dir_ops, dir, NULL, out, err);
}
