/* Content-addressed blobs: descriptors ({media type, digest, size}) and the verifying
 * stream every blob is read through. The digest and size are checked while the bytes
 * stream, so no consumer can finish on data that is not what the descriptor names. */
#ifndef AK_BLOB_H
#define AK_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/stream.h"

/* Largest blob size accepted in a descriptor (2^62); larger or negative is refused. */
#define AK_BLOB_SIZE_MAX ((int64_t)1 << 62)
/* Cap for JSON documents (indexes, manifests, configs, index.json, manifest.json). */
#define AK_JSON_MAX (4u << 20)

struct ak_descriptor {
	char *media_type; /* NULL when the document gave none */
	char *digest;	  /* "sha256:<64 hex>" (or sha512), validated */
	int64_t size;	  /* 0..AK_BLOB_SIZE_MAX */
	char *path;	  /* where a source finds it when not by digest (docker save's
			   * "<id>/layer.tar"), relative to the source; NULL otherwise */
};

/* Check "alg:hex": sha256 (64 lowercase hex) or sha512 (128); AK_EXIT_ENV otherwise. */
int ak_digest_validate(const char *digest, struct ak_error **err);
/* Refuse negative sizes and sizes above AK_BLOB_SIZE_MAX, naming the blob. */
int ak_blob_size_validate(int64_t size, const char *digest, struct ak_error **err);
#define AK_DIGEST_MAX (8 + 128 + 1) /* "sha512:" and 128 hex digits, NUL */
/* The sha256 digest of len bytes at buf, "sha256:<64 hex>", into out; -1 when it cannot
 * be computed. */
int ak_digest_sha256(const void *buf, size_t len, char out[AK_DIGEST_MAX]);
/* Short form of a digest for messages ("sha256:0123456789ab…"), in buf. */
const char *ak_digest_short(const char *digest, char buf[32]);

/* Deep-copy src into dst (dst's old contents are not freed). */
void ak_descriptor_copy(struct ak_descriptor *dst, const struct ak_descriptor *src);
/* Free a descriptor's strings (not the struct) and zero it. */
void ak_descriptor_clear(struct ak_descriptor *d);

/* A stream over a file descriptor; takes ownership of fd (closed by close()). */
struct ak_stream *ak_fd_stream_new(int fd, const char *name);
/* Wrap inner (ownership taken, even on failure) so reads verify d's digest and size:
 * more bytes than d->size, fewer, or another digest is an error from read(). */
int ak_blob_stream_new(struct ak_stream *inner, const struct ak_descriptor *d,
		       struct ak_stream **out, struct ak_error **err);
/* Read a stream to its end into a NUL-terminated buffer of at most max bytes. */
int ak_stream_read_all(struct ak_stream *s, size_t max, char **out, size_t *len,
		       struct ak_error **err);

#endif
