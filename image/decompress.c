/* Inflating stream over an ak_stream. ISA-L's inflater stops at the end of each gzip
 * member; the next member starts with a reset, as igzip's own CLI does, so multi-member
 * files (pigz, concatenated layers) come out whole.
 *
 * Reading the compressed bytes costs as much as a third of inflating them (the kernel
 * copy and the verifying stream's SHA-256), so once a compressed blob proves larger
 * than a few buffers, a read-ahead thread pulls it in while this one inflates, as
 * pigz -d does with its reader and checker threads. Errors still surface in order:
 * after every byte read before them. */
#include "image/decompress.h"

#include <errno.h>
#include <inttypes.h>
#include <isa-l.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define IN_BUF_SIZE (256u << 10)
#define TAR_BLOCK 512
/* Blobs that end within this many synchronous reads never start a thread. */
#define READAHEAD_AFTER_READS 2
#define READAHEAD_BUFS 3

/* The reader thread fills buffers in ring order; the inflating thread reads them.
 * Buffer (taken - 1) % READAHEAD_BUFS is the one being inflated, [taken, produced)
 * are full and waiting. */
struct readahead {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ak_stream *inner; /* borrowed from the decompress stream */
	unsigned char *buf[READAHEAD_BUFS];
	size_t len[READAHEAD_BUFS];
	uint64_t produced, taken;
	bool ended;	      /* after 'produced' buffers the inner stream ended ... */
	struct ak_error *err; /* ... or failed with this */
	bool stop;	      /* the decompress stream is closing */
};

struct decompress_stream {
	struct ak_stream base;
	struct ak_stream *inner;
	enum ak_compression kind;
	uint64_t max_out, total_out;
	uint64_t total_in; /* compressed bytes taken from inner, also capped by max_out */
	unsigned char *in; /* IN_BUF_SIZE bytes: own_in, or a read-ahead buffer */
	unsigned char *own_in;
	size_t in_pos, in_len;
	bool inner_eof;
	unsigned sync_reads;
	struct readahead *ra;
	bool done;
	bool failed; /* an error was reported; later reads repeat "stream failed" */
	/* gzip */
	struct inflate_state *isal;
	bool member_open; /* inside a gzip member (header seen, trailer not yet) */
	bool zero_tail;	  /* only zero padding may follow */
	/* zstd */
	ZSTD_DStream *zds;
	size_t zstd_hint; /* last ZSTD_decompressStream result: 0 at a frame boundary */
};

const char *ak_compression_name(enum ak_compression c)
{
	switch (c) {
	case AK_COMPRESSION_GZIP:
		return "gzip";
	case AK_COMPRESSION_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

static void *readahead_run(void *arg)
{
	struct readahead *ra = arg;
	pthread_mutex_lock(&ra->lock);
	for (;;) {
		/* wait for a buffer that is neither full nor being inflated */
		while (!ra->stop &&
		       ra->produced - (ra->taken ? ra->taken - 1 : 0) >= READAHEAD_BUFS)
			pthread_cond_wait(&ra->cond, &ra->lock);
		if (ra->stop)
			break;
		unsigned i = (unsigned)(ra->produced % READAHEAD_BUFS);
		pthread_mutex_unlock(&ra->lock);
		struct ak_error *err = NULL;
		ssize_t n = ak_stream_read(ra->inner, ra->buf[i], IN_BUF_SIZE, &err);
		pthread_mutex_lock(&ra->lock);
		if (n <= 0) {
			ra->ended = true;
			ra->err = n < 0 ? err : NULL;
			if (n < 0 && !err)
				ak_error_set(&ra->err, AK_EXIT_ENV, "read error");
			pthread_cond_broadcast(&ra->cond);
			break;
		}
		ra->len[i] = (size_t)n;
		ra->produced++;
		pthread_cond_broadcast(&ra->cond);
	}
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

static void readahead_stop(struct readahead *ra)
{
	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stop = true;
	pthread_cond_broadcast(&ra->cond);
	pthread_mutex_unlock(&ra->lock);
	/* the reader is at worst inside one read of a local file: join returns soon */
	pthread_join(ra->thread, NULL);
	pthread_cond_destroy(&ra->cond);
	pthread_mutex_destroy(&ra->lock);
	for (unsigned i = 0; i < READAHEAD_BUFS; i++)
		free(ra->buf[i]);
	ak_error_free(ra->err);
	free(ra);
}

/* Start the reader thread; on any failure the stream just goes on reading itself. */
static void readahead_start(struct decompress_stream *s)
{
	struct readahead *ra = calloc(1, sizeof(*ra));
	if (!ra)
		return;
	ra->inner = s->inner;
	for (unsigned i = 0; i < READAHEAD_BUFS; i++) {
		ra->buf[i] = malloc(IN_BUF_SIZE);
		if (!ra->buf[i])
			goto fail;
	}
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->cond, NULL);
	if (pthread_create(&ra->thread, NULL, readahead_run, ra) != 0) {
		pthread_cond_destroy(&ra->cond);
		pthread_mutex_destroy(&ra->lock);
		goto fail;
	}
	s->ra = ra;
	return;
fail:
	for (unsigned i = 0; i < READAHEAD_BUFS; i++)
		free(ra->buf[i]);
	free(ra);
}

/* The next read-ahead buffer into s->in; the one inflated so far goes back to the
 * reader. Returns its length, 0 at the end, -1 with the reader's error. */
static ssize_t readahead_next(struct decompress_stream *s, struct ak_error **err)
{
	struct readahead *ra = s->ra;
	ssize_t n;
	pthread_mutex_lock(&ra->lock);
	while (ra->produced == ra->taken && !ra->ended)
		pthread_cond_wait(&ra->cond, &ra->lock);
	if (ra->produced > ra->taken) {
		unsigned i = (unsigned)(ra->taken % READAHEAD_BUFS);
		ra->taken++; /* also releases the previous buffer */
		s->in = ra->buf[i];
		n = (ssize_t)ra->len[i];
	} else if (ra->err) {
		*err = ra->err;
		ra->err = NULL;
		n = -1;
	} else {
		n = 0;
	}
	pthread_cond_broadcast(&ra->cond);
	pthread_mutex_unlock(&ra->lock);
	return n;
}

/* Refill the input buffer when it is empty; returns bytes available, 0 at EOF, -1 on error. */
static ssize_t fill_input(struct decompress_stream *s, struct ak_error **err)
{
	if (s->in_pos < s->in_len)
		return (ssize_t)(s->in_len - s->in_pos);
	s->in_pos = s->in_len = 0;
	if (s->inner_eof)
		return 0;
	if (!s->ra && s->sync_reads == READAHEAD_AFTER_READS) /* once: no retry if it failed */
		readahead_start(s);
	ssize_t n;
	if (s->ra) {
		n = readahead_next(s, err);
	} else {
		s->sync_reads++;
		n = ak_stream_read(s->inner, s->in, IN_BUF_SIZE, err);
	}
	if (n < 0)
		return -1;
	if (n == 0)
		s->inner_eof = true;
	s->in_len = (size_t)n;
	/* Zero padding after a gzip member and zstd skippable frames inflate to nothing
	 * but still cost reading and hashing: the compressed side is capped too (no
	 * honest layer is larger compressed than inflated). */
	s->total_in += (uint64_t)n;
	if (s->total_in > s->max_out)
		return ak_decompress_cap_error(err, "compressed size", s->max_out);
	return n;
}

int ak_decompress_cap_error(struct ak_error **err, const char *what, uint64_t max)
{
	return ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_LIMIT, EFBIG,
				 "%s exceeds the limit of %" PRIu64
				 " bytes (a decompression bomb? see --max-layer-bytes)",
				 what, max);
}

static int check_cap(struct decompress_stream *s, size_t produced, struct ak_error **err)
{
	s->total_out += produced;
	if (s->total_out > s->max_out)
		return ak_decompress_cap_error(err, "uncompressed size", s->max_out);
	return 0;
}

static const char *isal_error_name(int ret)
{
	switch (ret) {
	case ISAL_INCORRECT_CHECKSUM:
		return "gzip checksum mismatch";
	case ISAL_INVALID_WRAPPER:
	case ISAL_UNSUPPORTED_METHOD:
		return "invalid gzip header";
	default:
		return "invalid gzip data";
	}
}

static ssize_t read_gzip(struct decompress_stream *s, unsigned char *buf, size_t len,
			 struct ak_error **err)
{
	struct inflate_state *st = s->isal;
	if (len > UINT32_MAX)
		len = UINT32_MAX;
	for (;;) {
		if (!s->member_open) {
			/* Between members: the end of input ends the stream, anything but
			 * another gzip header is garbage a runtime's gunzip would reject. */
			ssize_t avail = fill_input(s, err);
			if (avail < 0)
				return -1;
			if (avail == 0)
				return 0;
			if (s->in[s->in_pos] == 0 || s->zero_tail) {
				/* zero padding to a block size (libarchive, tape habits):
				 * ignored like gzip(1) does, as long as it is only zeros */
				s->zero_tail = true;
				while (s->in_pos < s->in_len && s->in[s->in_pos] == 0)
					s->in_pos++;
				if (s->in_pos == s->in_len)
					continue;
			}
			if (s->zero_tail || s->in[s->in_pos] != 0x1f)
				return ak_error_set(err, AK_EXIT_ENV,
						    "unexpected data after gzip member");
			isal_inflate_reset(st);
			st->crc_flag = ISAL_GZIP;
			s->member_open = true;
		}
		ssize_t avail = fill_input(s, err);
		if (avail < 0)
			return -1;
		st->next_in = s->in + s->in_pos;
		st->avail_in = (uint32_t)(s->in_len - s->in_pos);
		st->next_out = buf;
		st->avail_out = (uint32_t)len;
		int ret = isal_inflate(st);
		size_t consumed = (size_t)(st->next_in - (s->in + s->in_pos));
		size_t produced = (size_t)(st->next_out - buf);
		s->in_pos += consumed;
		if (ret < 0)
			return ak_error_set(err, AK_EXIT_ENV, "%s", isal_error_name(ret));
		if (st->block_state == ISAL_BLOCK_FINISH)
			s->member_open = false;
		if (produced > 0) {
			if (check_cap(s, produced, err) < 0)
				return -1;
			return (ssize_t)produced;
		}
		/* No output: either input ran dry (refilled above next time) or the member
		 * ended. At EOF with the member still open, the stream is cut short. */
		if (s->member_open && consumed == 0 && s->in_pos == s->in_len && s->inner_eof)
			return ak_error_set(err, AK_EXIT_ENV, "truncated gzip stream");
		if (s->member_open && consumed == 0 && s->in_pos < s->in_len)
			return ak_error_set(err, AK_EXIT_ENV, "invalid gzip data");
	}
}

static ssize_t read_zstd(struct decompress_stream *s, unsigned char *buf, size_t len,
			 struct ak_error **err)
{
	for (;;) {
		ssize_t avail = fill_input(s, err);
		if (avail < 0)
			return -1;
		if (avail == 0) {
			if (s->zstd_hint != 0)
				return ak_error_set(err, AK_EXIT_ENV, "truncated zstd stream");
			return 0;
		}
		ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
		ZSTD_outBuffer out = {buf, len, 0};
		size_t ret = ZSTD_decompressStream(s->zds, &out, &in);
		if (ZSTD_isError(ret))
			return ak_error_set(err, AK_EXIT_ENV, "invalid zstd data: %s",
					    ZSTD_getErrorName(ret));
		bool progressed = in.pos != s->in_pos || out.pos > 0;
		s->in_pos = in.pos;
		s->zstd_hint = ret;
		if (out.pos > 0) {
			if (check_cap(s, out.pos, err) < 0)
				return -1;
			return (ssize_t)out.pos;
		}
		if (!progressed)
			return ak_error_set(err, AK_EXIT_ENV, "invalid zstd data");
	}
}

static ssize_t read_plain(struct decompress_stream *s, unsigned char *buf, size_t len,
			  struct ak_error **err)
{
	size_t n;
	if (s->in_pos < s->in_len) {
		/* the sniffed bytes first */
		n = s->in_len - s->in_pos;
		if (n > len)
			n = len;
		memcpy(buf, s->in + s->in_pos, n);
		s->in_pos += n;
	} else {
		if (s->inner_eof)
			return 0;
		ssize_t r = ak_stream_read(s->inner, buf, len, err);
		if (r < 0)
			return -1;
		if (r == 0) {
			s->inner_eof = true;
			return 0;
		}
		n = (size_t)r;
	}
	if (check_cap(s, n, err) < 0)
		return -1;
	return (ssize_t)n;
}

static ssize_t decompress_read(struct ak_stream *base, void *buf, size_t len, struct ak_error **err)
{
	struct decompress_stream *s = (struct decompress_stream *)base;
	if (s->failed)
		return ak_error_set(err, AK_EXIT_ENV, "read after a failed decompression");
	if (s->done || len == 0)
		return 0;
	ssize_t n;
	switch (s->kind) {
	case AK_COMPRESSION_GZIP:
		n = read_gzip(s, buf, len, err);
		break;
	case AK_COMPRESSION_ZSTD:
		n = read_zstd(s, buf, len, err);
		break;
	default:
		n = read_plain(s, buf, len, err);
		break;
	}
	if (n < 0)
		s->failed = true;
	else if (n == 0)
		s->done = true;
	return n;
}

static void decompress_close(struct ak_stream *base)
{
	struct decompress_stream *s = (struct decompress_stream *)base;
	readahead_stop(s->ra); /* before the inner stream it reads from */
	ak_stream_close(s->inner);
	free(s->own_in);
	free(s->isal);
	ZSTD_freeDStream(s->zds);
	free(s);
}

static const struct {
	const char *name;
	const unsigned char *magic;
	size_t len;
} unsupported[] = {
	{"xz",
	 (const unsigned char *)"\xfd"
				"7zXZ\0",
	 6},
	{"bzip2", (const unsigned char *)"BZh", 3},
	{"lz4", (const unsigned char *)"\x04\x22\x4d\x18", 4},
	{"lzip", (const unsigned char *)"LZIP", 4},
	{"compress", (const unsigned char *)"\x1f\x9d", 2},
};

bool ak_tar_header_valid(const unsigned char *h, size_t n)
{
	if (n < TAR_BLOCK)
		return false;
	/* the checksum field: octal digits, optionally led by spaces and ended by NUL or
	 * space, as both libarchive and Go's archive/tar read it */
	const unsigned char *f = h + 148, *end = f + 8;
	while (f < end && *f == ' ')
		f++;
	if (f == end || *f < '0' || *f > '7')
		return false;
	unsigned long want = 0;
	for (; f < end && *f >= '0' && *f <= '7'; f++)
		want = want * 8 + (unsigned)(*f - '0');
	for (; f < end; f++)
		if (*f != ' ' && *f != '\0')
			return false;
	/* the sum of the block with the field read as spaces; old tars summed signed bytes */
	unsigned long sum = 8 * ' ';
	long ssum = 8 * ' ';
	for (size_t i = 0; i < TAR_BLOCK; i++) {
		if (i >= 148 && i < 156)
			continue;
		sum += h[i];
		ssum += (signed char)h[i];
	}
	return want == sum || (ssum >= 0 && want == (unsigned long)ssum);
}

static enum ak_compression magic(const unsigned char *p, size_t n, const char **bad)
{
	*bad = NULL;
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return AK_COMPRESSION_GZIP;
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return AK_COMPRESSION_ZSTD;
	/* zstd skippable frame: magic 0x184D2A50..0x184D2A5F, little endian */
	if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
		return AK_COMPRESSION_ZSTD;
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (n >= unsupported[i].len &&
		    memcmp(p, unsupported[i].magic, unsupported[i].len) == 0)
			*bad = unsupported[i].name;
	return AK_COMPRESSION_NONE;
}

/* A tar's first bytes are its first file name, which may begin like any magic ("BZh",
 * "LZIP"): a block whose checksum matches is a tar, unless the media type declares the
 * compression the magic shows (a gzip header's file name can be made to look like a tar
 * header; the runtime follows the media type, and so do we). */
static enum ak_compression sniff(const unsigned char *p, size_t n,
				 const enum ak_compression *declared, const char **bad)
{
	enum ak_compression kind = magic(p, n, bad);
	if ((kind == AK_COMPRESSION_NONE && !*bad) || (declared && *declared == kind && !*bad))
		return kind;
	if (ak_tar_header_valid(p, n)) {
		*bad = NULL;
		return AK_COMPRESSION_NONE;
	}
	return kind;
}

struct ak_stream *ak_decompress_open(struct ak_stream *inner, uint64_t max_out,
				     const enum ak_compression *declared, enum ak_compression *kind,
				     struct ak_error **err)
{
	cleanup_stream struct ak_stream *owned = inner;
	struct decompress_stream *s = ak_xcalloc(1, sizeof(*s));
	s->base.read = decompress_read;
	s->base.close = decompress_close;
	s->inner = steal_pointer(&owned);
	s->max_out = max_out ? max_out : AK_MAX_LAYER_BYTES_DEFAULT;
	cleanup_stream struct ak_stream *self = &s->base;
	s->in = s->own_in = ak_xmalloc(IN_BUF_SIZE);
	memset(s->in, 0, 8);
	/* Sniff: the magic of the first bytes, and whether the first 512 (fewer when the
	 * blob is shorter) are a tar header. */
	while (s->in_len < TAR_BLOCK && !s->inner_eof) {
		ssize_t n = ak_stream_read(s->inner, s->in + s->in_len, TAR_BLOCK - s->in_len, err);
		if (n < 0)
			return NULL;
		if (n == 0)
			s->inner_eof = true;
		s->in_len += (size_t)n;
	}
	s->total_in = s->in_len;
	const char *bad;
	s->kind = sniff(s->in, s->in_len, declared, &bad);
	if (bad) {
		ak_error_set(err, AK_EXIT_ENV, "unsupported compression '%s'", bad);
		return NULL;
	}
	if (s->kind == AK_COMPRESSION_GZIP) {
		s->isal = ak_xmalloc(sizeof(*s->isal));
		isal_inflate_init(s->isal);
		s->isal->crc_flag = ISAL_GZIP;
		s->member_open = false;
	} else if (s->kind == AK_COMPRESSION_ZSTD) {
		s->zds = ZSTD_createDStream();
		if (!s->zds) {
			ak_error_set(err, AK_EXIT_ENV, "out of memory");
			return NULL;
		}
		/* zstd's default window limit (128 MiB) already bounds memory per layer */
		ZSTD_initDStream(s->zds);
		s->zstd_hint = 1; /* nothing decoded yet: an empty zstd blob is truncated */
	}
	if (kind)
		*kind = s->kind;
	return steal_pointer(&self);
}

struct memory_stream {
	struct ak_stream base;
	const unsigned char *buf;
	size_t len, pos;
};

static ssize_t memory_read(struct ak_stream *base, void *buf, size_t len, struct ak_error **err)
{
	struct memory_stream *m = (struct memory_stream *)base;
	size_t n = m->len - m->pos;
	if (n > len)
		n = len;
	memcpy(buf, m->buf + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void memory_close(struct ak_stream *base)
{
	free(base);
}

struct ak_stream *ak_memory_stream_open(const void *buf, size_t len, struct ak_error **err)
{
	struct memory_stream *m = ak_xcalloc(1, sizeof(*m));
	m->base.read = memory_read;
	m->base.close = memory_close;
	m->buf = buf;
	m->len = len;
	return &m->base;
}
