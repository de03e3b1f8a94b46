/* A stream that inflates another: gzip (every member of a multi-member file, via
 * ISA-L), zstd (every frame, skippable frames included, via libzstd) or plain bytes,
 * chosen by the first bytes (a media type only breaks a tie) and never by a file name.
 * Output and input are capped so a decompression bomb ends in an error instead of
 * filling the machine or the clock. */
#ifndef AK_DECOMPRESS_H
#define AK_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "image/stream.h"

/* Default cap on the uncompressed size of one layer (--max-layer-bytes). */
#define AK_MAX_LAYER_BYTES_DEFAULT (8ull << 30)

enum ak_compression {
	AK_COMPRESSION_NONE,
	AK_COMPRESSION_GZIP,
	AK_COMPRESSION_ZSTD,
};

/* "gzip", "zstd" or "none". */
const char *ak_compression_name(enum ak_compression c);

/* Sniff the magic of inner and return a stream of its uncompressed bytes. Takes
 * ownership of inner in every case (closed on failure too). A first 512-byte block
 * that is a valid tar header means a plain tar whatever its first bytes (a file name
 * may start "BZh"), unless *declared (the media type's compression; NULL when none
 * is declared) names the compression the magic shows. Reads past max_out bytes of
 * output, or of input (0: the default), fail with "uncompressed size exceeds ..." or
 * "compressed size exceeds ..." (errnum EFBIG). xz, bzip2 and lz4 give "unsupported
 * compression 'xz'" (AK_EXIT_ENV). *kind (may be NULL) gets what was detected. Errors
 * from inner pass through unchanged. */
struct ak_stream *ak_decompress_open(struct ak_stream *inner, uint64_t max_out,
				     const enum ak_compression *declared, enum ak_compression *kind,
				     struct ak_error **err);

/* Is h (n bytes) a tar header block: 512 bytes whose checksum field matches? */
bool ak_tar_header_valid(const unsigned char *h, size_t n);

/* Set the --max-layer-bytes error ("WHAT exceeds the limit of MAX bytes ..."), with
 * errnum EFBIG so callers can tell a cap from corrupt data; returns -1. */
int ak_decompress_cap_error(struct ak_error **err, const char *what, uint64_t max);

/* A stream over a caller-owned buffer (for tests, fuzzing and small blobs); the
 * buffer must outlive the stream. */
struct ak_stream *ak_memory_stream_open(const void *buf, size_t len, struct ak_error **err);

#endif
