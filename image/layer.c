/* Layer walker: tar via libarchive fed from an inflating ak_stream, and the same
 * recording over a directory tree. libarchive only parses: we never extract, so a
 * hostile entry can at worst be refused, never written anywhere. */
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

#define AK_PATH_MAX AK_LAYER_PATH_MAX
#define READ_BUF_SIZE (256u << 10)
#define DIR_DEPTH_MAX 256

/* ---- arena ---- */

#define ARENA_BLOCK (64u << 10)

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct ak_layer_arena {
	struct arena_block *head;
};

struct ak_layer_arena *ak_layer_arena_new(void)
{
	return ak_xcalloc(1, sizeof(struct ak_layer_arena));
}

void *ak_layer_arena_alloc(struct ak_layer_arena *a, size_t len)
{
	len = (len + 7) & ~(size_t)7;
	struct arena_block *b = a->head;
	if (!b || b->cap - b->used < len) {
		size_t cap = len > ARENA_BLOCK / 4 ? len : ARENA_BLOCK;
		b = ak_xmalloc(sizeof(*b) + cap);
		b->cap = cap;
		b->used = 0;
		/* a big one-off block goes behind the head so the head keeps filling */
		if (a->head && cap != ARENA_BLOCK) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	void *p = (char *)b->data + b->used;
	b->used += len;
	return p;
}

char *ak_layer_arena_strndup(struct ak_layer_arena *a, const char *s, size_t len)
{
	char *p = ak_layer_arena_alloc(a, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void ak_layer_arena_free(struct ak_layer_arena *a)
{
	if (!a)
		return;
	for (struct arena_block *b = a->head, *next; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

/* ---- paths ---- */

int ak_layer_path_normalise(const char *in, char *out, size_t outlen)
{
	size_t len = 0;
	const char *p = in;
	if (outlen == 0)
		return -2;
	while (*p) {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			if (len == 0)
				return -1;
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--; /* the separating '/' */
			continue;
		}
		if (len + (len > 0) + n + 1 > outlen)
			return -2;
		if (len > 0)
			out[len++] = '/';
		memcpy(out + len, start, n);
		len += n;
	}
	out[len] = '\0';
	return 0;
}

const char *ak_entry_type_name(enum ak_entry_type t)
{
	switch (t) {
	case AK_ENTRY_REGULAR:
		return "regular";
	case AK_ENTRY_DIR:
		return "dir";
	case AK_ENTRY_SYMLINK:
		return "symlink";
	case AK_ENTRY_HARDLINK:
		return "hardlink";
	case AK_ENTRY_WHITEOUT:
		return "whiteout";
	case AK_ENTRY_OPAQUE:
		return "opaque";
	default:
		return "other";
	}
}

/* ---- index ---- */

void ak_layer_index_free(struct ak_layer_index *idx)
{
	if (!idx)
		return;
	if (idx->free_facts)
		for (size_t i = 0; i < idx->count; i++)
			if (idx->entries[i].facts)
				idx->free_facts(idx->entries[i].facts);
	free(idx->entries);
	ak_layer_arena_free(idx->arena);
	free(idx);
}

static struct ak_layer_index *index_new(const struct ak_layer_consumer *consumer)
{
	struct ak_layer_index *idx = ak_xcalloc(1, sizeof(*idx));
	idx->arena = ak_layer_arena_new();
	idx->free_facts = consumer ? consumer->free_facts : NULL;
	return idx;
}

/* State shared by the tar and directory walks. */
struct walk {
	struct ak_layer_index *idx;
	size_t cap;
	size_t max_entries;
	uint64_t max_bytes;
	const struct ak_layer_consumer *consumer;
	char path[AK_PATH_MAX];
	char link[AK_PATH_MAX];
	unsigned char *buf; /* READ_BUF_SIZE */
	struct ak_stream *stream;
	struct ak_error *stream_err; /* what the stream said when libarchive saw -1 */
	const char *prefix;	     /* normalised tar_prefix, or NULL */
	size_t prefix_len;
	bool literal_whiteouts;
	bool at_eof; /* the stream ended; serving the end-of-archive padding */
	size_t eof_padding_left;
	/* sparse holes charged against max_bytes along with the inflated bytes, and
	 * what of them the current file has yet to feed as zeros */
	uint64_t hole_bytes;
	uint64_t holes_prepaid;
};

/* Charge n more bytes that exist only once expanded (sparse holes) to the layer. */
static int charge_holes(struct walk *w, uint64_t n, struct ak_error **err)
{
	uint64_t used = w->idx->uncompressed_bytes + w->hole_bytes;
	if (used > w->max_bytes || n > w->max_bytes - used) {
		return ak_error_set_kind(
			err, AK_EXIT_ENV, AK_ERR_LIMIT, EFBIG,
			"sparse file expands the layer beyond the limit of %" PRIu64
			" bytes (see --max-layer-bytes)",
			w->max_bytes);
	}
	w->hole_bytes += n;
	return 0;
}

/* Append an entry; strings are copied into the arena. Returns the entry or NULL. */
static struct ak_layer_entry *add_entry(struct walk *w, enum ak_entry_type type, const char *path,
					const char *link, uint64_t size, uint32_t mode,
					struct ak_error **err)
{
	struct ak_layer_index *idx = w->idx;
	if (idx->count >= w->max_entries) {
		ak_error_set(err, AK_EXIT_ENV, "more than %zu entries", w->max_entries);
		return NULL;
	}
	if (idx->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		idx->entries = ak_xrealloc(idx->entries, cap * sizeof(*idx->entries));
		w->cap = cap;
	}
	struct ak_layer_entry *e = &idx->entries[idx->count];
	*e = (struct ak_layer_entry){.type = type, .size = size, .mode = mode & 07777};
	e->path = ak_layer_arena_strndup(idx->arena, path, strlen(path));
	if (link)
		e->link = ak_layer_arena_strndup(idx->arena, link, strlen(link));
	idx->count++;
	return e;
}

static const unsigned char zeros[4096];

/* Feed a run of zeros (a sparse hole). The entry's holes were charged to the layer
 * when its header was read; zeros beyond them (a sparse map reaching past the file's
 * size, a file that shrank while read) are charged here. */
static int feed_zeros(struct walk *w, uint64_t n, int *stop, struct ak_error **err)
{
	uint64_t prepaid = n < w->holes_prepaid ? n : w->holes_prepaid;
	w->holes_prepaid -= prepaid;
	if (n > prepaid && charge_holes(w, n - prepaid, err) < 0)
		return -1;
	while (n > 0 && !*stop) {
		size_t chunk = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
		int r = w->consumer->data(w->consumer->ctx, zeros, chunk, err);
		if (r < 0)
			return -1;
		*stop = r > 0;
		n -= chunk;
	}
	return 0;
}

/* begin/end around delivering one regular file; read_chunk pulls the next chunk. */
typedef int (*chunk_reader)(struct walk *w, void *src, const void **buf, size_t *len,
			    uint64_t *offset, struct ak_error **err);

static int deliver_file(struct walk *w, struct ak_layer_entry *e, chunk_reader read_chunk,
			void *src, struct ak_error **err)
{
	const struct ak_layer_consumer *c = w->consumer;
	if (!c || !c->begin || !c->begin(c->ctx, e))
		return 0;
	int ret = 0;
	if (c->data) {
		uint64_t pos = 0;
		int stop = 0;
		while (!stop) {
			const void *buf;
			size_t len;
			uint64_t offset;
			int r = read_chunk(w, src, &buf, &len, &offset, err);
			if (r < 0) {
				ret = -1;
				break;
			}
			if (r == 0)
				break;
			if (offset < pos) {
				ret = ak_error_set(err, AK_EXIT_ENV, "overlapping sparse data");
				break;
			}
			if (offset > pos && feed_zeros(w, offset - pos, &stop, err) < 0) {
				ret = -1;
				break;
			}
			pos = offset + len;
			if (stop || len == 0)
				continue;
			r = c->data(c->ctx, buf, len, err);
			if (r < 0) {
				ret = -1;
				break;
			}
			stop = r > 0;
		}
		if (ret == 0 && !stop && pos < e->size &&
		    feed_zeros(w, e->size - pos, &stop, err) < 0)
			ret = -1;
	}
	void *facts = c->end ? c->end(c->ctx, e) : NULL;
	if (ret < 0 && facts && c->free_facts) {
		c->free_facts(facts);
		facts = NULL;
	}
	e->facts = facts;
	return ret;
}

/* ---- tar ---- */

static la_ssize_t tar_read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct walk *w = ctx;
	if (w->at_eof) {
		/* umoci (and others) end layers right after the last entry's data, without its
		 * padding or the two zero blocks, and Go's archive/tar (containerd) accepts
		 * that: pad to the block boundary, and libarchive takes the end of the stream
		 * at a header as the end. A cut inside the last block reads as zeros; the
		 * blob's digest is what proves the bytes. */
		static const unsigned char eof_zeros[512];
		size_t n = w->eof_padding_left < sizeof(eof_zeros) ? w->eof_padding_left
								   : sizeof(eof_zeros);
		w->eof_padding_left -= n;
		*buf = eof_zeros;
		return (la_ssize_t)n;
	}
	ssize_t n = ak_stream_read(w->stream, w->buf, READ_BUF_SIZE, &w->stream_err);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", w->stream_err ? w->stream_err->msg : "read error");
		return -1;
	}
	if (n == 0) {
		w->at_eof = true;
		w->eof_padding_left = (512 - w->idx->uncompressed_bytes % 512) % 512;
		return tar_read_cb(a, ctx, buf);
	}
	*buf = w->buf;
	w->idx->uncompressed_bytes += (uint64_t)n;
	if (w->hole_bytes && w->idx->uncompressed_bytes + w->hole_bytes > w->max_bytes) {
		ak_decompress_cap_error(&w->stream_err, "uncompressed size", w->max_bytes);
		archive_set_error(a, EFBIG, "%s", w->stream_err ? w->stream_err->msg : "too big");
		return -1;
	}
	return n;
}

/* The error for a failed libarchive call at offset (in the tar stream): the stream's
 * own when it caused it. libarchive sometimes fails without a message (a long name or
 * link cut short): say what is known instead. */
static int tar_error(struct walk *w, struct archive *a, const char *what, int64_t offset,
		     struct ak_error **err)
{
	if (w->stream_err) {
		struct ak_error *e = w->stream_err;
		w->stream_err = NULL;
		if (err && !*err)
			*err = e;
		else
			ak_error_free(e);
		return -1;
	}
	const char *msg = archive_error_string(a);
	/* libarchive read into the zeros served past the end, or failed wordlessly
	 * after the end: the layer was cut short */
	if (w->at_eof &&
	    (!msg || archive_filter_bytes(a, 0) > (la_int64_t)w->idx->uncompressed_bytes))
		return ak_error_set(err, AK_EXIT_ENV,
				    "%s at offset %" PRId64 ": the layer ends after %" PRIu64
				    " bytes, inside this entry (truncated)%s%s%s",
				    what, offset, w->idx->uncompressed_bytes,
				    msg ? " (libarchive: " : "", msg ? msg : "", msg ? ")" : "");
	if (msg)
		return ak_error_set(err, AK_EXIT_ENV, "%s at offset %" PRId64 ": %s", what, offset,
				    msg);
	int e = archive_errno(a);
	if (e > 0)
		return ak_error_errno(err, AK_EXIT_ENV, e,
				      "%s at offset %" PRId64 " (libarchive gave no reason)", what,
				      offset);
	return ak_error_set(err, AK_EXIT_ENV,
			    "%s at offset %" PRId64 " (libarchive gave no reason)", what, offset);
}

static int tar_chunk(struct walk *w, void *src, const void **buf, size_t *len, uint64_t *offset,
		     struct ak_error **err)
{
	struct archive *a = src;
	la_int64_t off;
	int r = archive_read_data_block(a, buf, len, &off);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r < ARCHIVE_WARN)
		return tar_error(w, a, "bad tar data", archive_filter_bytes(a, 0), err);
	if (off < 0)
		return ak_error_set(err, AK_EXIT_ENV, "bad tar data: negative offset");
	*offset = (uint64_t)off;
	return 1;
}

static const char *entry_pathname(struct archive_entry *ae)
{
	const char *p = archive_entry_pathname(ae);
	return p ? p : archive_entry_pathname_utf8(ae);
}

/* Normalise a tar path and apply the sub-tree prefix. Returns 1 with the result in
 * out, 0 when the entry lies outside the prefix (or is the root), -1 on error. */
static int tar_path(struct walk *w, const char *raw, char *out, struct ak_error **err)
{
	/* "/" alone (or "./") is the root; anything else absolute is refused rather than
	 * silently re-rooted: no honest layer builder writes one */
	if (raw[0] == '/' && raw[strspn(raw, "/.")] != '\0')
		return ak_error_set(err, AK_EXIT_ENV, "entry '%s' is an absolute path", raw);
	int r = ak_layer_path_normalise(raw, out, AK_PATH_MAX);
	if (r == -1)
		return ak_error_set(err, AK_EXIT_ENV, "entry '%s' escapes the root", raw);
	if (r < 0)
		return ak_error_set(err, AK_EXIT_ENV, "entry '%.64s...' has a path too long", raw);
	if (w->prefix) {
		if (strncmp(out, w->prefix, w->prefix_len) != 0 ||
		    (out[w->prefix_len] != '/' && out[w->prefix_len] != '\0'))
			return 0;
		size_t skip = w->prefix_len + (out[w->prefix_len] == '/');
		memmove(out, out + skip, strlen(out + skip) + 1);
	}
	return out[0] != '\0';
}

static int tar_entry(struct walk *w, struct archive *a, struct archive_entry *ae,
		     struct ak_error **err)
{
	const char *raw = entry_pathname(ae);
	if (!raw)
		return ak_error_set(err, AK_EXIT_ENV, "entry without a name");
	int r = tar_path(w, raw, w->path, err);
	if (r <= 0)
		return r;
	uint32_t mode = archive_entry_mode(ae);
	const char *hard = archive_entry_hardlink(ae);
	if (!hard)
		hard = archive_entry_hardlink_utf8(ae);
	if (hard) {
		r = tar_path(w, hard, w->link, err);
		if (r < 0)
			return ak_error_prefix(err, "entry '%s'", raw);
		if (r == 0)
			return ak_error_set(err, AK_EXIT_ENV,
					    "entry '%s' links to '%s' outside the tree", raw, hard);
		return add_entry(w, AK_ENTRY_HARDLINK, w->path, w->link, 0, mode, err) ? 0 : -1;
	}

	/* whiteouts: the AUFS names OCI kept */
	char *base = strrchr(w->path, '/');
	base = base ? base + 1 : w->path;
	if (!w->literal_whiteouts && strncmp(base, ".wh.", 4) == 0) {
		size_t dirlen = base == w->path ? 0 : (size_t)(base - w->path - 1);
		if (strcmp(base, ".wh..wh..opq") == 0) {
			w->path[dirlen] = '\0';
			return add_entry(w, AK_ENTRY_OPAQUE, w->path, NULL, 0, 0, err) ? 0 : -1;
		}
		if (strncmp(base, ".wh..wh.", 8) == 0)
			return 0; /* AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs) */
		const char *name = base + 4;
		if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return ak_error_set(err, AK_EXIT_ENV, "invalid whiteout entry '%s'", raw);
		memmove(base, name, strlen(name) + 1);
		return add_entry(w, AK_ENTRY_WHITEOUT, w->path, NULL, 0, 0, err) ? 0 : -1;
	}

	switch (archive_entry_filetype(ae)) {
	case AE_IFREG: {
		la_int64_t size = archive_entry_size(ae);
		/* holes count whether or not the consumer reads the file: a runtime
		 * extracting the layer writes them out */
		w->holes_prepaid = 0;
		if (size > 0 && archive_entry_sparse_count(ae) > 0) {
			uint64_t data = 0;
			la_int64_t off, len;
			archive_entry_sparse_reset(ae);
			while (archive_entry_sparse_next(ae, &off, &len) == ARCHIVE_OK)
				if (len > 0)
					data += (uint64_t)len;
			uint64_t holes = data < (uint64_t)size ? (uint64_t)size - data : 0;
			if (charge_holes(w, holes, err) < 0)
				return ak_error_prefix(err, "entry '%s'", raw);
			w->holes_prepaid = holes;
		}
		struct ak_layer_entry *e = add_entry(w, AK_ENTRY_REGULAR, w->path, NULL,
						     size > 0 ? (uint64_t)size : 0, mode, err);
		if (!e)
			return -1;
		return deliver_file(w, e, tar_chunk, a, err) < 0
			       ? ak_error_prefix(err, "entry '%s'", raw)
			       : 0;
	}
	case AE_IFDIR:
		return add_entry(w, AK_ENTRY_DIR, w->path, NULL, 0, mode, err) ? 0 : -1;
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(ae);
		if (!target)
			target = archive_entry_symlink_utf8(ae);
		if (!target)
			target = "";
		if (strlen(target) >= AK_PATH_MAX)
			return ak_error_set(err, AK_EXIT_ENV,
					    "entry '%s' has a link target too long", raw);
		return add_entry(w, AK_ENTRY_SYMLINK, w->path, target, 0, mode, err) ? 0 : -1;
	}
	default:
		return add_entry(w, AK_ENTRY_OTHER, w->path, NULL, 0, mode, err) ? 0 : -1;
	}
}

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static int walk_tar(struct walk *w, struct ak_error **err)
{
	__attribute__((cleanup(archive_freep))) struct archive *a = archive_read_new();
	if (!a)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	/* tar only: decompression already happened, and by magic */
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_empty(a);
	if (archive_read_open(a, w, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return tar_error(w, a, "not a tar archive", 0, err);
	for (;;) {
		/* where the next header starts, for messages (libarchive's own
		 * archive_read_header_position() is gone once a read has failed) */
		int64_t at = archive_filter_bytes(a, 0);
		struct archive_entry *ae;
		int r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_RETRY) {
			/* a header whose checksum fails: libarchive would scan on for the next
			 * good one, Go's archive/tar (containerd, moby) fails the layer */
			if (w->stream_err)
				return tar_error(w, a, "bad tar archive", at, err);
			if (w->at_eof && (uint64_t)at + 512 > w->idx->uncompressed_bytes)
				return ak_error_set(err, AK_EXIT_ENV,
						    "truncated tar archive: the layer ends inside "
						    "the header at offset %" PRId64,
						    at);
			return ak_error_set(err, AK_EXIT_ENV,
					    "damaged tar header at offset %" PRId64
					    " (its checksum does not match)",
					    at);
		}
		if (r < ARCHIVE_WARN)
			return tar_error(w, a, "bad tar archive", at, err);
		if (tar_entry(w, a, ae, err) < 0)
			return -1;
		/* what the entry left unread, so the next header's offset is known */
		if (archive_read_data_skip(a) < ARCHIVE_OK)
			return tar_error(w, a, "bad tar data", archive_filter_bytes(a, 0), err);
	}
	/* Drain what follows the end-of-archive blocks: a verifying stream checks the
	 * digest at its end, and trailing garbage in a compressed stream is an error.
	 * These bytes count against the cap like any others. */
	for (;;) {
		ssize_t n = ak_stream_read(w->stream, w->buf, READ_BUF_SIZE, err);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		w->idx->uncompressed_bytes += (uint64_t)n;
		if (w->idx->uncompressed_bytes + w->hole_bytes > w->max_bytes)
			return ak_decompress_cap_error(err, "uncompressed size", w->max_bytes);
	}
	return 0;
}

static void walk_init(struct walk *w, const struct ak_layer_options *opts,
		      const struct ak_layer_consumer *consumer)
{
	static const struct ak_layer_options defaults;
	if (!opts)
		opts = &defaults;
	w->consumer = consumer;
	w->max_bytes = opts->max_bytes ? opts->max_bytes : AK_MAX_LAYER_BYTES_DEFAULT;
	w->max_entries = opts->max_entries ? opts->max_entries : AK_LAYER_MAX_ENTRIES_DEFAULT;
	w->literal_whiteouts = opts->literal_whiteouts;
	w->idx = index_new(consumer);
	w->buf = ak_xmalloc(READ_BUF_SIZE);
}

static void walk_cleanup(struct walk *w)
{
	ak_layer_index_free(w->idx);
	free(w->buf);
	free((char *)w->prefix);
	ak_stream_close(w->stream);
	ak_error_free(w->stream_err);
}

static int layer_error(const struct ak_layer_options *opts, struct ak_error **err)
{
	if (opts && opts->name)
		ak_error_prefix(err, "layer '%s'", opts->name);
	return -1;
}

int ak_layer_scan(struct ak_stream *blob, const struct ak_layer_options *opts,
		  const struct ak_layer_consumer *consumer, struct ak_layer_index **out,
		  struct ak_error **err)
{
	__attribute__((cleanup(walk_cleanup))) struct walk w = {0};
	cleanup_stream struct ak_stream *owned = blob;
	walk_init(&w, opts, consumer);
	if (opts && opts->tar_prefix) {
		char *prefix = ak_xmalloc(AK_PATH_MAX);
		w.prefix = prefix;
		if (ak_layer_path_normalise(opts->tar_prefix, prefix, AK_PATH_MAX) < 0 ||
		    !prefix[0])
			return ak_error_set(err, AK_EXIT_USAGE, "invalid tar prefix '%s'",
					    opts->tar_prefix);
		w.prefix_len = strlen(prefix);
	}
	enum ak_compression kind, declared;
	bool has_declared = opts && ak_layer_media_type_compression(opts->media_type, &declared);
	w.stream = ak_decompress_open(steal_pointer(&owned), w.max_bytes,
				      has_declared ? &declared : NULL, &kind, err);
	if (!w.stream)
		return layer_error(opts, err);
	w.idx->compression = kind;
	if (has_declared && declared != kind) {
		w.idx->media_type_mismatch = true;
		w.idx->declared = declared;
	}
	if (walk_tar(&w, err) < 0)
		return layer_error(opts, err);
	*out = steal_pointer(&w.idx);
	return 0;
}

int ak_layer_media_type_compression(const char *media_type, enum ak_compression *out)
{
	static const struct {
		const char *type;
		enum ak_compression c;
	} known[] = {
		{"application/vnd.oci.image.layer.v1.tar", AK_COMPRESSION_NONE},
		{"application/vnd.oci.image.layer.v1.tar+gzip", AK_COMPRESSION_GZIP},
		{"application/vnd.oci.image.layer.v1.tar+zstd", AK_COMPRESSION_ZSTD},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", AK_COMPRESSION_NONE},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		 AK_COMPRESSION_GZIP},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		 AK_COMPRESSION_ZSTD},
		{"application/vnd.docker.image.rootfs.diff.tar.gzip", AK_COMPRESSION_GZIP},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", AK_COMPRESSION_GZIP},
	};
	if (!media_type)
		return 0;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(media_type, known[i].type) == 0) {
			*out = known[i].c;
			return 1;
		}
	return 0;
}

/* ---- directory tree ---- */

/* Files with several links, by inode, so later names become hard links. */
struct inode_seen {
	dev_t dev;
	ino_t ino;
	const char *path;
};

struct dir_walk {
	struct walk w;
	struct inode_seen *seen;
	size_t seen_count, seen_cap; /* open addressing, cap a power of two */
};

static size_t inode_slot(const struct dir_walk *d, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev;
	h ^= h >> 29;
	return (size_t)h & (d->seen_cap - 1);
}

/* *first: the first path seen for (dev, ino), or NULL after remembering path for it. */
static void inode_remember(struct dir_walk *d, dev_t dev, ino_t ino, const char *path,
			   const char **first)
{
	if (d->seen_count * 2 >= d->seen_cap) {
		size_t cap = d->seen_cap ? d->seen_cap * 2 : 64;
		struct inode_seen *old = d->seen;
		size_t old_cap = d->seen_cap;
		d->seen = ak_xcalloc(cap, sizeof(*d->seen));
		d->seen_cap = cap;
		for (size_t i = 0; i < old_cap; i++) {
			if (!old[i].path)
				continue;
			size_t j = inode_slot(d, old[i].dev, old[i].ino);
			while (d->seen[j].path)
				j = (j + 1) & (cap - 1);
			d->seen[j] = old[i];
		}
		free(old);
	}
	size_t j = inode_slot(d, dev, ino);
	while (d->seen[j].path) {
		if (d->seen[j].dev == dev && d->seen[j].ino == ino) {
			*first = d->seen[j].path;
			return;
		}
		j = (j + 1) & (d->seen_cap - 1);
	}
	d->seen[j] = (struct inode_seen){dev, ino, path};
	d->seen_count++;
	*first = NULL;
}

struct file_src {
	int fd;
	uint64_t left, pos;
};

static int file_chunk(struct walk *w, void *src, const void **buf, size_t *len, uint64_t *offset,
		      struct ak_error **err)
{
	struct file_src *f = src;
	if (f->left == 0)
		return 0;
	size_t want = f->left < READ_BUF_SIZE ? (size_t)f->left : READ_BUF_SIZE;
	long n = ak_read_full(f->fd, w->buf, want);
	if (n < 0)
		return ak_error_errno(err, AK_EXIT_ENV, (int)-n, "cannot read '%s'", w->path);
	if (n == 0)
		return 0; /* shrank while we read: what we saw is what we report */
	*buf = w->buf;
	*len = (size_t)n;
	*offset = f->pos;
	f->pos += (uint64_t)n;
	f->left -= (uint64_t)n;
	return 1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char ***names)
{
	free(*names);
}

/* Walk the directory open as fd (consumed) whose normalised path is w.path[0..len). */
static int walk_dir_fd(struct dir_walk *d, int fd, size_t len, int depth, struct ak_error **err)
{
	struct walk *w = &d->w;
	if (depth > DIR_DEPTH_MAX) {
		close(fd);
		return ak_error_set(err, AK_EXIT_ENV, "directory '%s' nested too deep", w->path);
	}
	cleanup_dir DIR *dir = fdopendir(fd);
	if (!dir) {
		int e = errno;
		close(fd);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot read directory '%s'", w->path);
	}
	/* names sorted, so the index does not depend on the file system's order */
	__attribute__((cleanup(free_names))) char **names = NULL;
	size_t count = 0, cap = 0;
	struct ak_layer_arena *names_arena = ak_layer_arena_new();
	int ret = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 32;
			names = ak_xrealloc(names, cap * sizeof(*names));
		}
		names[count++] =
			ak_layer_arena_strndup(names_arena, de->d_name, strlen(de->d_name));
		errno = 0;
	}
	if (errno) {
		ret = ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read directory '%s'",
				     w->path);
		goto out;
	}
	if (count > 1)
		qsort(names, count, sizeof(*names), cmp_names);

	for (size_t i = 0; i < count && ret == 0; i++) {
		const char *name = names[i];
		size_t n = strlen(name);
		if (len + 1 + n + 1 > AK_PATH_MAX) {
			ret = ak_error_set(err, AK_EXIT_ENV, "path under '%s' too long", w->path);
			break;
		}
		size_t sub = len;
		if (sub > 0)
			w->path[sub++] = '/';
		memcpy(w->path + sub, name, n + 1);
		sub += n;

		struct stat st;
		if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = ak_error_errno(err, AK_EXIT_ENV, errno, "cannot stat '%s'", w->path);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if (!add_entry(w, AK_ENTRY_DIR, w->path, NULL, 0, st.st_mode, err)) {
				ret = -1;
				break;
			}
			int sfd = openat(dirfd(dir), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0) {
				ret = ak_error_errno(err, AK_EXIT_ENV, errno,
						     "cannot open directory '%s'", w->path);
				break;
			}
			ret = walk_dir_fd(d, sfd, sub, depth + 1, err);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlinkat(dirfd(dir), name, w->link, AK_PATH_MAX - 1);
			if (l < 0) {
				ret = ak_error_errno(err, AK_EXIT_ENV, errno,
						     "cannot read link '%s'", w->path);
				break;
			}
			w->link[l] = '\0';
			if (!add_entry(w, AK_ENTRY_SYMLINK, w->path, w->link, 0, st.st_mode, err))
				ret = -1;
		} else if (S_ISREG(st.st_mode)) {
			if (st.st_nlink > 1) {
				char *mine = ak_layer_arena_strndup(w->idx->arena, w->path, sub);
				const char *first = NULL;
				inode_remember(d, st.st_dev, st.st_ino, mine, &first);
				if (first) {
					if (!add_entry(w, AK_ENTRY_HARDLINK, w->path, first, 0,
						       st.st_mode, err))
						ret = -1;
					continue;
				}
			}
			struct ak_layer_entry *e = add_entry(w, AK_ENTRY_REGULAR, w->path, NULL,
							     (uint64_t)st.st_size, st.st_mode, err);
			if (!e) {
				ret = -1;
				break;
			}
			const struct ak_layer_consumer *c = w->consumer;
			if (!c || !c->begin)
				continue;
			/* O_NOFOLLOW + same inode: the name cannot have been swapped for a
			 * symlink or another file between fstatat and open */
			cleanup_fd int ffd = openat(dirfd(dir), name,
						    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat fst;
			if (ffd < 0 || fstat(ffd, &fst) < 0) {
				ret = ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'",
						     w->path);
				break;
			}
			if (fst.st_ino != st.st_ino || fst.st_dev != st.st_dev ||
			    !S_ISREG(fst.st_mode)) {
				ret = ak_error_set(err, AK_EXIT_ENV, "'%s' changed while read",
						   w->path);
				break;
			}
			struct file_src src = {ffd, (uint64_t)st.st_size, 0};
			ret = deliver_file(w, e, file_chunk, &src, err);
		} else {
			if (!add_entry(w, AK_ENTRY_OTHER, w->path, NULL, 0, st.st_mode, err))
				ret = -1;
		}
	}
out:
	w->path[len] = '\0';
	ak_layer_arena_free(names_arena);
	return ret;
}

int ak_layer_scan_dir(int dirfd, const char *path, const struct ak_layer_options *opts,
		      const struct ak_layer_consumer *consumer, struct ak_layer_index **out,
		      struct ak_error **err)
{
	struct dir_walk d = {0};
	walk_init(&d.w, opts, consumer);
	int ret;
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open directory '%s'", path);
	} else {
		d.w.path[0] = '\0';
		ret = walk_dir_fd(&d, fd, 0, 0, err);
		if (ret < 0)
			ak_error_prefix(err, "'%s'", path);
	}
	if (ret == 0)
		*out = steal_pointer(&d.w.idx);
	free(d.seen);
	walk_cleanup(&d.w);
	return ret;
}
