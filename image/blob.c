#include "image/blob.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

static const EVP_MD *digest_md(const char *digest, size_t *hexlen)
{
	if (strncmp(digest, "sha256:", 7) == 0) {
		*hexlen = 64;
		return EVP_sha256();
	}
	if (strncmp(digest, "sha512:", 7) == 0) {
		*hexlen = 128;
		return EVP_sha512();
	}
	return NULL;
}

int ak_digest_validate(const char *digest, struct ak_error **err)
{
	size_t hexlen = 0;
	const char *colon = strchr(digest, ':');
	if (!colon || colon == digest)
		return ak_error_set(err, AK_EXIT_ENV, "malformed digest '%.80s'", digest);
	if (!digest_md(digest, &hexlen))
		return ak_error_set(
			err, AK_EXIT_ENV,
			"digest '%.80s': unsupported algorithm '%.*s' (sha256 or sha512)", digest,
			(int)(colon - digest > 20 ? 20 : colon - digest), digest);
	const char *hex = colon + 1;
	size_t n = strlen(hex);
	for (size_t i = 0; i < n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return ak_error_set(err, AK_EXIT_ENV,
					    "malformed digest '%.80s': not lowercase hex", digest);
	if (n != hexlen)
		return ak_error_set(err, AK_EXIT_ENV,
				    "malformed digest '%.80s': %zu hex digits, expected %zu",
				    digest, n, hexlen);
	return 0;
}

int ak_digest_sha256(const void *buf, size_t len, char out[AK_DIGEST_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -1;
	memcpy(out, "sha256:", 7);
	ak_hex_encode(md, mdlen, out + 7);
	return 0;
}

const char *ak_digest_short(const char *digest, char buf[32])
{
	if (!digest)
		return "(none)";
	const char *colon = strchr(digest, ':');
	size_t head = colon ? (size_t)(colon - digest) + 1 + 12 : 19;
	if (strlen(digest) <= head || head > 24) {
		snprintf(buf, 32, "%.28s", digest);
		return buf;
	}
	snprintf(buf, 32, "%.*s…", (int)head, digest);
	return buf;
}

int ak_blob_size_validate(int64_t size, const char *digest, struct ak_error **err)
{
	char sb[32];
	if (size < 0)
		return ak_error_set(err, AK_EXIT_ENV, "blob '%s': negative size %lld",
				    ak_digest_short(digest, sb), (long long)size);
	if (size > AK_BLOB_SIZE_MAX)
		return ak_error_set(err, AK_EXIT_ENV,
				    "blob '%s': size %lld is larger than 2^62 bytes",
				    ak_digest_short(digest, sb), (long long)size);
	return 0;
}

void ak_descriptor_copy(struct ak_descriptor *dst, const struct ak_descriptor *src)
{
	*dst = (struct ak_descriptor){.media_type = ak_xstrdup(src->media_type),
				      .digest = ak_xstrdup(src->digest),
				      .size = src->size,
				      .path = ak_xstrdup(src->path)};
}

void ak_descriptor_clear(struct ak_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->path);
	*d = (struct ak_descriptor){0};
}

/* --- a stream over a file descriptor --- */

struct fd_stream {
	struct ak_stream s;
	int fd;
	char *name;
};

static ssize_t fd_stream_read(struct ak_stream *s, void *buf, size_t len, struct ak_error **err)
{
	struct fd_stream *f = (struct fd_stream *)s;
	for (;;) {
		ssize_t r = read(f->fd, buf, len);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read '%s'",
					      f->name ? f->name : "blob");
	}
}

static void fd_stream_close(struct ak_stream *s)
{
	struct fd_stream *f = (struct fd_stream *)s;
	if (f->fd >= 0)
		close(f->fd);
	free(f->name);
	free(f);
}

struct ak_stream *ak_fd_stream_new(int fd, const char *name)
{
	struct fd_stream *f = ak_xcalloc(1, sizeof(*f));
	f->s.read = fd_stream_read;
	f->s.close = fd_stream_close;
	f->fd = fd;
	f->name = ak_xstrdup(name);
	return &f->s;
}

/* --- the verifying stream --- */

struct blob_stream {
	struct ak_stream s;
	struct ak_stream *inner;
	EVP_MD_CTX *ctx;
	char *digest;
	int64_t size, seen;
	bool done; /* verified end reached: further reads return 0 */
	bool failed;
};

static int blob_finish(struct blob_stream *b, struct ak_error **err)
{
	char sb[32];
	if (b->seen != b->size)
		return ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_TRUNCATED, 0,
					 "blob '%s': truncated: %lld of %lld bytes",
					 ak_digest_short(b->digest, sb), (long long)b->seen,
					 (long long)b->size);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_DigestFinal_ex(b->ctx, md, &mdlen) != 1)
		return ak_error_set(err, AK_EXIT_ENV, "blob '%s': cannot compute digest",
				    ak_digest_short(b->digest, sb));
	const char *colon = strchr(b->digest, ':');
	char got[8 + 2 * EVP_MAX_MD_SIZE + 1];
	size_t alg = (size_t)(colon - b->digest) + 1;
	memcpy(got, b->digest, alg);
	ak_hex_encode(md, mdlen, got + alg);
	if (strcmp(got, b->digest) != 0)
		return ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_DIGEST_MISMATCH, 0,
					 "blob '%s': digest mismatch (got %s)",
					 ak_digest_short(b->digest, sb), got);
	return 0;
}

static ssize_t blob_stream_read(struct ak_stream *s, void *buf, size_t len, struct ak_error **err)
{
	struct blob_stream *b = (struct blob_stream *)s;
	char sb[32];
	if (b->failed)
		return ak_error_set(err, AK_EXIT_ENV, "blob '%s': read after an error",
				    ak_digest_short(b->digest, sb));
	if (b->done || len == 0)
		return 0;
	/* Ask for at most one byte past the declared size, so a longer blob shows at once. */
	uint64_t left = (uint64_t)(b->size - b->seen) + 1;
	if (len > left)
		len = (size_t)left;
	ssize_t r = ak_stream_read(b->inner, buf, len, err);
	if (r < 0) {
		b->failed = true;
		return ak_error_prefix(err, "blob '%s'", ak_digest_short(b->digest, sb));
	}
	if (r == 0) {
		if (blob_finish(b, err) < 0) {
			b->failed = true;
			return -1;
		}
		b->done = true;
		return 0;
	}
	if ((uint64_t)r > (uint64_t)(b->size - b->seen)) {
		b->failed = true;
		return ak_error_set(err, AK_EXIT_ENV,
				    "blob '%s': longer than its descriptor's size %lld",
				    ak_digest_short(b->digest, sb), (long long)b->size);
	}
	if (EVP_DigestUpdate(b->ctx, buf, (size_t)r) != 1) {
		b->failed = true;
		return ak_error_set(err, AK_EXIT_ENV, "blob '%s': cannot compute digest",
				    ak_digest_short(b->digest, sb));
	}
	b->seen += r;
	return r;
}

static void blob_stream_close(struct ak_stream *s)
{
	struct blob_stream *b = (struct blob_stream *)s;
	ak_stream_close(b->inner);
	EVP_MD_CTX_free(b->ctx);
	free(b->digest);
	free(b);
}

int ak_blob_stream_new(struct ak_stream *inner, const struct ak_descriptor *d,
		       struct ak_stream **out, struct ak_error **err)
{
	cleanup_stream struct ak_stream *in = inner;
	size_t hexlen;
	if (!d->digest)
		return ak_error_set(err, AK_EXIT_ENV, "blob without a digest");
	if (ak_digest_validate(d->digest, err) < 0 ||
	    ak_blob_size_validate(d->size, d->digest, err) < 0)
		return -1;
	struct blob_stream *b = ak_xcalloc(1, sizeof(*b));
	b->s.read = blob_stream_read;
	b->s.close = blob_stream_close;
	b->ctx = EVP_MD_CTX_new();
	b->digest = ak_xstrdup(d->digest);
	b->size = d->size;
	if (!b->ctx || EVP_DigestInit_ex(b->ctx, digest_md(d->digest, &hexlen), NULL) != 1) {
		blob_stream_close(&b->s);
		return ak_error_set(err, AK_EXIT_ENV, "cannot set up a digest");
	}
	b->inner = steal_pointer(&in);
	*out = &b->s;
	return 0;
}

int ak_stream_read_all(struct ak_stream *s, size_t max, char **out, size_t *len,
		       struct ak_error **err)
{
	size_t cap = 4096, n = 0;
	cleanup_free char *buf = ak_xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				/* one more byte tells "exactly max" from "larger" */
				char extra;
				ssize_t r = ak_stream_read(s, &extra, 1, err);
				if (r < 0)
					return -1;
				if (r > 0)
					return ak_error_set(err, AK_EXIT_ENV,
							    "document is larger than %zu bytes",
							    max);
				break;
			}
			cap = cap * 2 > max ? max : cap * 2;
			buf = ak_xrealloc(buf, cap + 1);
		}
		ssize_t r = ak_stream_read(s, buf + n, cap - n, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = steal_pointer(&buf);
	return 0;
}
