/* Helpers the unit suites share: a growing byte buffer that libarchive writes into,
 * files written under a test's temp dir, sha256 in hex. Each aborts the test on failure. */
#ifndef AK_TESTLIB_H
#define AK_TESTLIB_H

#include <archive.h>
#include <sched.h>
#include <stddef.h>

struct buf {
	unsigned char *data;
	size_t len, cap;
};

/* An archive_write_open callback appending to the struct buf in ctx. */
la_ssize_t buf_write(struct archive *a, void *ctx, const void *p, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
/* Add the compression filter named "gzip", "zstd" or "xz" (NULL: none) to a writer. */
void add_filter(struct archive *a, const char *filter);
/* Append raw bytes compressed as one gzip member or zstd frame (libarchive's "raw"). */
void compress_raw(struct buf *out, const void *data, size_t len, const char *filter);
/* Write path (its parent directories made), replacing what is there. */
void write_file(const char *path, const void *data, size_t len);
void sha256_hex(const void *data, size_t len, char hex[65]);
/* Narrow this thread to the first CPU it may use, as a cpuset of one CPU would; its
 * affinity before goes to *saved, for sched_setaffinity(0, sizeof(*saved), saved). */
void pin_to_one_cpu(cpu_set_t *saved);

#endif
