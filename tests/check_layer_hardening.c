/* Layer walker hardening ("Probe hardening"): sniffing ties, media types that lie,
 * damaged tar headers, bombs the cap must stop, and errors that say what is known.
 * Every layer is built here, with libarchive's writer or by hand for damage. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "image/decompress.h"
#include "image/layer.h"
#include "tests/testlib.h"

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

static void buf_zeros(struct buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = b->len + n;
		b->data = realloc(b->data, b->cap);
		ck_assert_ptr_nonnull(b->data);
	}
	memset(b->data + b->len, 0, n);
	b->len += n;
}

/* A tar (format: an ARCHIVE_FORMAT_TAR_* writer) of files named names[i] holding
 * data[i], compressed with filter (NULL: plain). */
static void make_tar(struct buf *out, int format, const char *const *names, const char *const *data,
		     size_t n, const char *filter)
{
	struct archive *a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format(a, format), ARCHIVE_OK);
	add_filter(a, filter);
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open(a, out, NULL, buf_write, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_mode(e, AE_IFREG | 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(data[i]));
		ck_assert_int_ge(archive_write_header(a, e), ARCHIVE_WARN);
		archive_write_data(a, data[i], strlen(data[i]));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* A ustar header by hand: name, type flag, size; checksum filled in. */
static void raw_header(unsigned char h[512], const char *name, char type, size_t size)
{
	memset(h, 0, 512);
	memcpy(h, name, strnlen(name, 100));
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *)h + 124, 12, "%011lo", (unsigned long)size & 07777777777ul);
	memcpy(h + 136, "00000000000", 11);
	h[156] = (unsigned char)type;
	memcpy(h + 257,
	       "ustar\0"
	       "00",
	       8);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* A file entry by hand: header, data, padding to the block. */
static void raw_file(struct buf *b, const char *name, const char *data)
{
	unsigned char h[512];
	size_t n = strlen(data);
	raw_header(h, name, '0', n);
	buf_append(b, h, 512);
	buf_append(b, data, n);
	buf_zeros(b, (512 - n % 512) % 512);
}

/* A consumer that reads every byte it is given, and counts them. */
static uint64_t fed;
static bool all_begin(void *ctx, const struct ak_layer_entry *e)
{
	return true;
}
static int all_data(void *ctx, const void *p, size_t n, struct ak_error **err)
{
	fed += n;
	return 0;
}
static const struct ak_layer_consumer all_consumer = {.begin = all_begin, .data = all_data};

static struct ak_layer_index *scan(const struct buf *b, const struct ak_layer_options *opts,
				   struct ak_error **err)
{
	struct ak_layer_index *idx = NULL;
	struct ak_stream *s = ak_memory_stream_open(b->data, b->len, err);
	ck_assert_ptr_nonnull(s);
	fed = 0;
	if (ak_layer_scan(s, opts, &all_consumer, &idx, err) < 0)
		return NULL;
	return idx;
}

static void expect_error(const struct buf *b, const struct ak_layer_options *opts, const char *want)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_layer_index *idx = scan(b, opts, &err);
	ak_layer_index_free(idx);
	ck_assert_msg(idx == NULL, "scanned, but wanted '%s'", want);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, want) != NULL, "wanted '%s' in '%s'", want, err->msg);
	ck_assert_msg(!strstr(err->msg, "(null)") && !strstr(err->msg, "unknown error"), "%s",
		      err->msg);
}

static const struct ak_layer_options named = {.name = "sha256:abc"};

/* ---- sniffing: a tar's first file name is not a compression magic ---- */

START_TEST(test_tar_named_like_a_magic)
{
	static const char *const names[] = {"BZh91AY&SY",
					    "LZIP-notes",
					    "\x1f\x8b-gzip-like",
					    "\x28\xb5\x2f\xfd-zstd",
					    "\xfd"
					    "7zXZ-x",
					    "\x04\x22\x4d\x18-lz4"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct buf b = {0};
		raw_file(&b, names[i], "hello");
		raw_file(&b, "second", "world");
		buf_zeros(&b, 1024);
		const char *mts[] = {NULL, MT_TAR};
		for (size_t m = 0; m < 2; m++) {
			struct ak_layer_options o = {.name = "sha256:abc", .media_type = mts[m]};
			cleanup_error struct ak_error *err = NULL;
			cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
			ck_assert_msg(idx != NULL, "name %zu, media type %s: %s", i,
				      mts[m] ? mts[m] : "none", err ? err->msg : "");
			ck_assert_int_eq(idx->compression, AK_COMPRESSION_NONE);
			ck_assert_uint_eq(idx->count, 2);
			ck_assert_str_eq(idx->entries[1].path, "second");
			ck_assert(!idx->media_type_mismatch);
		}
		free(b.data);
	}
	/* real bzip2 bytes (no tar checksum) are still refused as bzip2 */
	struct buf bz = {0};
	buf_append(&bz, "BZh91AY&SY", 10);
	buf_zeros(&bz, 600);
	expect_error(&bz, &named, "unsupported compression 'bzip2'");
	free(bz.data);
}
END_TEST

/* A gzip member whose header's file name makes its first block a valid tar header:
 * declared as gzip, it is read as gzip, as a runtime following the media type would. */
START_TEST(test_gzip_that_looks_like_tar_follows_media_type)
{
	static const char *const names[] = {"bin/tool"};
	static const char *const data[] = {"gzip inside"};
	struct buf tar = {0}, gz = {0}, b = {0};
	make_tar(&tar, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, names, data, 1, NULL);
	compress_raw(&gz, tar.data, tar.len, "gzip");
	ck_assert_uint_eq(gz.data[3] & 0x08, 0); /* no FNAME yet: we add one */
	unsigned char h[512];
	memset(h, 'a', sizeof(h));
	memcpy(h, gz.data, 10);
	h[3] |= 0x08; /* FNAME: NUL-terminated, ends at the block's last byte */
	h[511] = '\0';
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	char field[9];
	snprintf(field, sizeof(field), "%06o ", sum);
	memcpy(h + 148, field, 7);
	ck_assert(ak_tar_header_valid(h, sizeof(h)));
	buf_append(&b, h, sizeof(h));
	buf_append(&b, gz.data + 10, gz.len - 10);

	struct ak_layer_options o = {.name = "sha256:abc", .media_type = MT_GZIP};
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	ck_assert_int_eq(idx->compression, AK_COMPRESSION_GZIP);
	ck_assert_uint_eq(idx->count, 1);
	ck_assert_str_eq(idx->entries[0].path, "bin/tool");
	free(tar.data);
	free(gz.data);
	free(b.data);
}
END_TEST

START_TEST(test_tar_header_checksum)
{
	unsigned char h[512];
	raw_header(h, "x", '0', 0);
	ck_assert(ak_tar_header_valid(h, 512));
	ck_assert(!ak_tar_header_valid(h, 511));
	h[0] ^= 1;
	ck_assert(!ak_tar_header_valid(h, 512));
	h[0] ^= 1;
	ck_assert(h[148] == '0' && h[149] == '0');
	memcpy(h + 148, "  ", 2); /* leading spaces in the field are fine */
	ck_assert(ak_tar_header_valid(h, 512));
	h[150] = '9'; /* not octal */
	ck_assert(!ak_tar_header_valid(h, 512));
	static const unsigned char zero[512];
	ck_assert(!ak_tar_header_valid(zero, 512));
}
END_TEST

/* ---- media types that lie ---- */

START_TEST(test_media_type_mismatch_is_recorded)
{
	static const char *const names[] = {"etc/hostname"};
	static const char *const data[] = {"box\n"};
	const char *filters[] = {NULL, "gzip", "zstd"};
	const enum ak_compression kinds[] = {AK_COMPRESSION_NONE, AK_COMPRESSION_GZIP,
					     AK_COMPRESSION_ZSTD};
	const char *mts[] = {MT_TAR, MT_GZIP, MT_ZSTD};
	for (size_t f = 0; f < 3; f++) {
		struct buf b = {0};
		make_tar(&b, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, names, data, 1, filters[f]);
		for (size_t m = 0; m < 3; m++) {
			struct ak_layer_options o = {.name = "sha256:abc", .media_type = mts[m]};
			cleanup_error struct ak_error *err = NULL;
			cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
			ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
			ck_assert_int_eq(idx->compression, kinds[f]);
			ck_assert_msg(idx->media_type_mismatch == (f != m), "bytes %zu, type %s", f,
				      mts[m]);
			if (f != m)
				ck_assert_int_eq(idx->declared, kinds[m]);
		}
		/* nothing declared, or Docker's plain type (docker save names no media type,
		 * and runtimes detect the compression of that type): nothing to report */
		const char *silent[] = {NULL, MT_DOCKER_TAR, "application/octet-stream",
					MT_GZIP "+encrypted"};
		for (size_t m = 0; m < 4; m++) {
			struct ak_layer_options o = {.name = "sha256:abc", .media_type = silent[m]};
			cleanup_error struct ak_error *err = NULL;
			cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
			ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
			ck_assert(!idx->media_type_mismatch);
		}
		struct ak_layer_options o = {.name = "sha256:abc", .media_type = MT_DOCKER_GZIP};
		cleanup_error struct ak_error *err = NULL;
		cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
		ck_assert_ptr_nonnull(idx);
		ck_assert(idx->media_type_mismatch == (f != 1));
		free(b.data);
	}
	enum ak_compression c;
	ck_assert_int_eq(ak_layer_media_type_compression(MT_ZSTD, &c), 1);
	ck_assert_int_eq(c, AK_COMPRESSION_ZSTD);
	ck_assert_int_eq(ak_layer_media_type_compression(MT_DOCKER_TAR, &c), 0);
	ck_assert_int_eq(ak_layer_media_type_compression(NULL, &c), 0);
}
END_TEST

/* ---- a damaged header fails the layer ---- */

START_TEST(test_damaged_header_fails)
{
	struct buf b = {0};
	raw_file(&b, "first", "1");
	size_t second = b.len;
	raw_file(&b, "second", "2");
	raw_file(&b, "third", "3");
	buf_zeros(&b, 1024);
	b.data[second + 3] ^= 0x20; /* a name byte: the checksum no longer matches */
	char want[64];
	snprintf(want, sizeof(want), "layer 'sha256:abc': damaged tar header at offset %zu",
		 second);
	expect_error(&b, &named, want);
	/* the same through gzip */
	struct buf gz = {0};
	compress_raw(&gz, b.data, b.len, "gzip");
	expect_error(&gz, &named, want);
	/* a header cut short at the end of the layer says so */
	b.len = second + 200;
	snprintf(want, sizeof(want), "the layer ends inside the header at offset %zu", second);
	expect_error(&b, &named, want);
	free(b.data);
	free(gz.data);
}
END_TEST

/* ---- bombs ---- */

/* gzip zero padding after the member inflates to nothing: the cap still counts it. */
START_TEST(test_gzip_zero_padding_is_capped)
{
	static const char *const names[] = {"a"};
	static const char *const data[] = {"a"};
	struct buf b = {0};
	make_tar(&b, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, names, data, 1, "gzip");
	buf_zeros(&b, 4u << 20);
	struct ak_layer_options o = {.name = "sha256:pad", .max_bytes = 1u << 20};
	expect_error(&b, &o,
		     "layer 'sha256:pad': compressed size exceeds the limit of 1048576 bytes");
	o.max_bytes = 8u << 20; /* under the cap it is fine padding */
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	free(b.data);
}
END_TEST

START_TEST(test_zstd_skippable_frame_is_capped)
{
	static const char *const names[] = {"a"};
	static const char *const data[] = {"a"};
	struct buf b = {0};
	make_tar(&b, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, names, data, 1, "zstd");
	uint32_t n = 4u << 20;
	unsigned char hdr[8] = {
		0x50, 0x2a, 0x4d, 0x18, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >> 24};
	buf_append(&b, hdr, sizeof(hdr));
	buf_zeros(&b, n);
	struct ak_layer_options o = {.name = "sha256:skip", .max_bytes = 1u << 20};
	expect_error(&b, &o, "compressed size exceeds the limit of 1048576 bytes");
	free(b.data);
}
END_TEST

/* What follows the tar's end is inflated and read to the end (for the digest): it
 * counts against the cap like the entries do. */
START_TEST(test_inflated_tail_after_tar_end_is_capped)
{
	struct buf tar = {0}, b = {0};
	raw_file(&tar, "a", "a");
	buf_zeros(&tar, 4u << 20);
	compress_raw(&b, tar.data, tar.len, "gzip");
	ck_assert_uint_lt(b.len, 64u << 10);
	struct ak_layer_options o = {.name = "sha256:tail", .max_bytes = 1u << 20};
	expect_error(&b, &o, "uncompressed size exceeds the limit of 1048576 bytes");
	free(tar.data);
	free(b.data);
}
END_TEST

/* A sparse pax entry (GNU.sparse 1.0) of logical size `size` with `data` at offset 0. */
static void sparse_entry(struct archive *a, const char *name, la_int64_t size, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_mode(e, AE_IFREG | 0755);
	archive_entry_set_size(e, size);
	archive_entry_sparse_add_entry(e, 0, (la_int64_t)strlen(data));
	ck_assert_int_ge(archive_write_header(a, e), ARCHIVE_WARN);
	archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

/* Each sparse file stays under the cap; together they do not: the cap is the layer's. */
START_TEST(test_sparse_holes_capped_per_layer)
{
	struct buf b = {0};
	struct archive *a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_pax(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open(a, &b, NULL, buf_write, NULL), ARCHIVE_OK);
	char name[32];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "bin/sparse%d", i);
		sparse_entry(a, name, 600 << 10,
			     "\x7f"
			     "ELF");
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	ck_assert_uint_lt(b.len, 64u << 10);

	struct ak_layer_options o = {.name = "sha256:sparse", .max_bytes = 8u << 20};
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan(&b, &o, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	ck_assert_uint_eq(idx->count, 8);
	ck_assert_uint_eq(idx->entries[0].size, 600u << 10);
	ck_assert_uint_eq(fed, 8ull * (600u << 10)); /* the holes arrive as zeros */

	o.max_bytes = 1u << 20; /* two files' holes already pass it */
	cleanup_error struct ak_error *err2 = NULL;
	ck_assert_ptr_null(scan(&b, &o, &err2));
	ck_assert_ptr_nonnull(strstr(err2->msg, "layer 'sha256:sparse': entry 'bin/sparse1': "
						"sparse file expands the layer beyond the limit "
						"of 1048576 bytes"));
	ck_assert_int_eq(err2->errnum, EFBIG);
	ck_assert_uint_lt(fed, 1u << 20);

	/* holes count even when nobody reads the file: a runtime writes them out */
	struct ak_layer_index *none = NULL;
	cleanup_error struct ak_error *err3 = NULL;
	struct ak_stream *s = ak_memory_stream_open(b.data, b.len, &err3);
	ck_assert_int_eq(ak_layer_scan(s, &o, NULL, &none, &err3), -1);
	ck_assert_ptr_nonnull(strstr(err3->msg, "sparse file expands the layer beyond"));
	free(b.data);
}
END_TEST

/* ---- errors that say what is known ---- */

START_TEST(test_truncated_long_link_message)
{
	char target[300];
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	struct buf b = {0};
	struct archive *a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_gnutar(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open(a, &b, NULL, buf_write, NULL), ARCHIVE_OK);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "first");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_mode(e, AE_IFREG | 0644);
	archive_entry_set_size(e, 0);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "lib/link");
	archive_entry_set_filetype(e, AE_IFLNK);
	archive_entry_set_mode(e, AE_IFLNK | 0777);
	archive_entry_set_symlink(e, target);
	ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_free(e);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	ck_assert_int_eq(b.data[512 + 156], 'K'); /* the GNU long link header */
	b.len = 512 + 512 + 100;		  /* cut inside the long link's data */
	expect_error(&b, &named,
		     "bad tar archive at offset 512: the layer ends after 1124 bytes, inside "
		     "this entry (truncated)");
	b.len = 512 + 512; /* cut right after the long link's header: libarchive says nothing */
	expect_error(&b, &named,
		     "bad tar archive at offset 512: the layer ends after 1024 bytes, inside "
		     "this entry (truncated)");
	free(b.data);
}
END_TEST

Suite *layer_hardening_suite(void)
{
	Suite *s = suite_create("layer-hardening");
	TCase *tc = tcase_create("hardening");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_tar_named_like_a_magic);
	tcase_add_test(tc, test_gzip_that_looks_like_tar_follows_media_type);
	tcase_add_test(tc, test_tar_header_checksum);
	tcase_add_test(tc, test_media_type_mismatch_is_recorded);
	tcase_add_test(tc, test_damaged_header_fails);
	tcase_add_test(tc, test_gzip_zero_padding_is_capped);
	tcase_add_test(tc, test_zstd_skippable_frame_is_capped);
	tcase_add_test(tc, test_inflated_tail_after_tar_end_is_capped);
	tcase_add_test(tc, test_sparse_holes_capped_per_layer);
	tcase_add_test(tc, test_truncated_long_link_message);
	suite_add_tcase(s, tc);
	return s;
}
