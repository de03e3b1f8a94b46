#include "tests/testlib.h"

#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/util.h"

la_ssize_t buf_write(struct archive *a, void *ctx, const void *p, size_t n)
{
	struct buf *b = ctx;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->data = realloc(b->data, b->cap);
		ck_assert_ptr_nonnull(b->data);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return (la_ssize_t)n;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_write(NULL, b, p, n);
}

void add_filter(struct archive *a, const char *filter)
{
	if (!filter)
		return;
	int r = strcmp(filter, "gzip") == 0   ? archive_write_add_filter_gzip(a)
		: strcmp(filter, "zstd") == 0 ? archive_write_add_filter_zstd(a)
		: strcmp(filter, "xz") == 0   ? archive_write_add_filter_xz(a)
					      : ARCHIVE_FATAL;
	ck_assert_int_eq(r, ARCHIVE_OK);
}

void compress_raw(struct buf *out, const void *data, size_t len, const char *filter)
{
	struct archive *a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_raw(a), ARCHIVE_OK);
	add_filter(a, filter);
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open(a, out, NULL, buf_write, NULL), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "raw");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)len);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

void write_file(const char *path, const void *data, size_t len)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	ck_assert_int_eq(ak_mkdir_p(dir), 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ak_write_all(fd, data, len), 0);
	close(fd);
}

void sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int n;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void pin_to_one_cpu(cpu_set_t *saved)
{
	cpu_set_t one;
	ck_assert_int_eq(sched_getaffinity(0, sizeof(*saved), saved), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, saved)) {
			CPU_SET(c, &one);
			break;
		}
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
}
