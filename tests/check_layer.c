/* Layer walker, decompression and final-filesystem view. Every layer is built here with
 * libarchive's writer (gzip/zstd/xz by its filters), nothing binary is committed. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "image/blob.h"
#include "image/decompress.h"
#include "image/fsview.h"
#include "image/layer.h"
#include "tests/testlib.h"

/* ---- building layers ---- */

/* One entry: type 'f' file (data), 'd' dir, 'l' symlink (target), 'h' hard link (target). */
struct spec {
	const char *path;
	char type;
	const char *data;
};

/* A pax tar of specs, compressed with filter (NULL: plain); appended to out. */
static void make_tar(struct buf *out, const struct spec *specs, size_t n, const char *filter)
{
	struct archive *a = archive_write_new();
	ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	add_filter(a, filter);
	archive_write_set_bytes_in_last_block(a, 1);
	ck_assert_int_eq(archive_write_open(a, out, NULL, buf_write, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, specs[i].path);
		archive_entry_set_mode(e, 0644);
		switch (specs[i].type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)strlen(specs[i].data));
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_mode(e, AE_IFDIR | 0755);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, specs[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, specs[i].data);
			break;
		}
		ck_assert_int_ge(archive_write_header(a, e), ARCHIVE_WARN);
		if (specs[i].type == 'f')
			archive_write_data(a, specs[i].data, strlen(specs[i].data));
		archive_entry_free(e);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* ---- a consumer that keeps each file's bytes as its facts ---- */

struct keep {
	struct buf cur;
	int files;
};

static bool keep_begin(void *ctx, const struct ak_layer_entry *e)
{
	struct keep *k = ctx;
	k->cur.len = 0;
	k->files++;
	return true;
}

static int keep_data(void *ctx, const void *p, size_t n, struct ak_error **err)
{
	buf_append(&((struct keep *)ctx)->cur, p, n);
	return 0;
}

static void *keep_end(void *ctx, const struct ak_layer_entry *e)
{
	struct keep *k = ctx;
	return strndup(k->cur.len ? (char *)k->cur.data : "", k->cur.len);
}

static struct keep keeper;
static const struct ak_layer_consumer keep_consumer = {
	.ctx = &keeper,
	.begin = keep_begin,
	.data = keep_data,
	.end = keep_end,
	.free_facts = free,
};

static struct ak_layer_index *scan_buf(const struct buf *b, const struct ak_layer_options *opts,
				       struct ak_error **err)
{
	struct ak_layer_index *idx = NULL;
	struct ak_stream *s = ak_memory_stream_open(b->data, b->len, err);
	ck_assert_ptr_nonnull(s);
	if (ak_layer_scan(s, opts, &keep_consumer, &idx, err) < 0)
		return NULL;
	return idx;
}

static const struct ak_layer_options named = {.name = "sha256:abc"};

/* "path:type[:link-or-facts]" lines of an index, for one comparison. */
static char *describe(const struct ak_layer_index *idx)
{
	struct buf b = {0};
	for (size_t i = 0; i < idx->count; i++) {
		const struct ak_layer_entry *e = &idx->entries[i];
		char line[512];
		int n = snprintf(line, sizeof(line), "%s:%s%s%s%s%s\n", e->path,
				 ak_entry_type_name(e->type), e->link ? ":" : "",
				 e->link ? e->link : "", e->facts ? "=" : "",
				 e->facts ? (char *)e->facts : "");
		buf_append(&b, line, (size_t)n);
	}
	buf_append(&b, "", 1);
	return (char *)b.data;
}

static const struct spec base_specs[] = {
	{"./", 'd', NULL},
	{"./etc/", 'd', NULL},
	{"./etc/hostname", 'f', "box\n"},
	{"usr//bin/./", 'd', NULL},
	{"usr/bin/env", 'f', "#!env"},
	{"usr/bin/sh", 'h', "./usr/bin/env"},
	{"lib", 'l', "usr/lib"},
	{"etc/.wh.motd", 'f', ""},
	{"var/.wh..wh..opq", 'f', ""},
};
static const char base_want[] = "etc:dir\n"
				"etc/hostname:regular=box\n\n"
				"usr/bin:dir\n"
				"usr/bin/env:regular=#!env\n"
				"usr/bin/sh:hardlink:usr/bin/env\n"
				"lib:symlink:usr/lib\n"
				"etc/motd:whiteout\n"
				"var:opaque\n";

START_TEST(test_entries_same_for_every_compression)
{
	const char *filters[] = {NULL, "gzip", "zstd"};
	const enum ak_compression kinds[] = {AK_COMPRESSION_NONE, AK_COMPRESSION_GZIP,
					     AK_COMPRESSION_ZSTD};
	for (size_t f = 0; f < 3; f++) {
		struct buf b = {0};
		make_tar(&b, base_specs, sizeof(base_specs) / sizeof(base_specs[0]), filters[f]);
		cleanup_error struct ak_error *err = NULL;
		cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, &named, &err);
		ck_assert_msg(idx != NULL, "%s: %s", filters[f] ? filters[f] : "plain",
			      err ? err->msg : "");
		ck_assert_int_eq(idx->compression, kinds[f]);
		cleanup_free char *got = describe(idx);
		ck_assert_str_eq(got, base_want);
		free(b.data);
	}
}
END_TEST

/* umoci ends layers right after the last file's data: no padding, no zero blocks. That
 * is accepted (as Go's archive/tar does); a stream cut a block or more inside the last
 * file's data is not. */
START_TEST(test_tar_without_end_blocks)
{
	struct buf b = {0};
	make_tar(&b, base_specs, sizeof(base_specs) / sizeof(base_specs[0]), NULL);
	/* find where the last file's data ends: strip the zero tail, keep its last byte */
	size_t end = b.len;
	while (end > 0 && b.data[end - 1] == 0)
		end--;
	ck_assert_int_gt(end, 0);
	b.len = end;
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, &named, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	cleanup_free char *got = describe(idx);
	ck_assert_str_eq(got, base_want);
	/* now the last file's data is short by more than a block */
	struct buf big = {0};
	char data[2000];
	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	const struct spec one[] = {{"big", 'f', data}};
	make_tar(&big, one, 1, NULL);
	free(b.data);
	b = big;
	b.len = 512 + 1999 - 600;
	cleanup_error struct ak_error *err2 = NULL;
	cleanup_layer_index struct ak_layer_index *idx2 = scan_buf(&b, &named, &err2);
	ck_assert_ptr_null(idx2);
	ck_assert_ptr_nonnull(strstr(err2->msg, "layer 'sha256:"));
	free(b.data);
}
END_TEST

/* A descriptor for the bytes b (sha256 and size), as an index would give. */
static void describe_blob(const struct buf *b, struct ak_descriptor *d, char digest[80])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	ck_assert_int_eq(EVP_Digest(b->data, b->len, md, &mdlen, EVP_sha256(), NULL), 1);
	int n = snprintf(digest, 80, "sha256:");
	for (unsigned i = 0; i < mdlen; i++)
		n += snprintf(digest + n, 80 - (size_t)n, "%02x", md[i]);
	memset(d, 0, sizeof(*d));
	d->digest = digest;
	d->size = (int64_t)b->len;
}

static struct ak_layer_index *scan_verified(const struct buf *b, const struct ak_descriptor *d,
					    struct ak_error **err)
{
	struct ak_stream *raw = ak_memory_stream_open(b->data, b->len, err), *s = NULL;
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(ak_blob_stream_new(raw, d, &s, err), 0);
	struct ak_layer_index *idx = NULL;
	if (ak_layer_scan(s, &named, &keep_consumer, &idx, err) < 0)
		return NULL;
	return idx;
}

/* Several MiB of gzip: large enough for the inflater's read-ahead thread. A good blob
 * scans; a wrong digest, and a cut stream with a matching digest, are errors. */
START_TEST(test_big_gzip_through_verifying_stream)
{
	size_t big = 6u << 20;
	char *data = malloc(big + 1);
	ck_assert_ptr_nonnull(data);
	unsigned x = 12345;
	for (size_t i = 0; i < big; i++) { /* incompressible, but printable for the spec */
		x = x * 1103515245u + 12345u;
		data[i] = (char)('a' + (x >> 16) % 26);
	}
	data[big] = '\0';
	const struct spec files[] = {
		{"etc", 'd', NULL}, {"blob", 'f', data}, {"etc/end", 'f', "end\n"}};
	struct buf b = {0};
	make_tar(&b, files, 3, "gzip");
	ck_assert_uint_gt(b.len, 1u << 20);
	struct ak_descriptor d;
	char digest[80];
	describe_blob(&b, &d, digest);

	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan_verified(&b, &d, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	ck_assert_uint_eq(idx->count, 3);

	b.data[b.len / 2] ^= 0x55; /* same size, other bytes */
	cleanup_error struct ak_error *err2 = NULL;
	ck_assert_ptr_null(scan_verified(&b, &d, &err2));
	ck_assert_msg(strstr(err2->msg, "gzip") || strstr(err2->msg, "digest mismatch"), "%s",
		      err2->msg);
	b.data[b.len / 2] ^= 0x55;

	b.len = b.len * 2 / 3; /* cut, with a descriptor that matches the cut blob */
	char digest3[80];
	describe_blob(&b, &d, digest3);
	cleanup_error struct ak_error *err3 = NULL;
	ck_assert_ptr_null(scan_verified(&b, &d, &err3));
	ck_assert_msg(strstr(err3->msg, "truncated gzip stream"), "%s", err3->msg);
	free(b.data);
	free(data);
}
END_TEST

/* Two gzip members (pigz, or layers concatenated) and two zstd frames with a skippable
 * frame between: the split falls inside a tar header, so both halves must arrive. */
START_TEST(test_multi_member_and_multi_frame)
{
	struct buf tar = {0};
	make_tar(&tar, base_specs, sizeof(base_specs) / sizeof(base_specs[0]), NULL);
	const char *filters[] = {"gzip", "zstd"};
	for (size_t f = 0; f < 2; f++) {
		struct buf b = {0};
		compress_raw(&b, tar.data, 700, filters[f]);
		if (f == 1) {
			static const unsigned char skippable[] = {0x5e, 0x2a, 0x4d, 0x18, 3,  0,
								  0,	0,    'a',  'b',  'c'};
			buf_append(&b, skippable, sizeof(skippable));
		}
		compress_raw(&b, tar.data + 700, tar.len - 700, filters[f]);
		cleanup_error struct ak_error *err = NULL;
		cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, &named, &err);
		ck_assert_msg(idx != NULL, "%s: %s", filters[f], err ? err->msg : "");
		cleanup_free char *got = describe(idx);
		ck_assert_str_eq(got, base_want);
		ck_assert_uint_eq(idx->uncompressed_bytes, tar.len);
		free(b.data);
	}
	free(tar.data);
}
END_TEST

/* The whole file arrives, in order, across many chunks. */
START_TEST(test_big_file_delivered_whole)
{
	size_t n = 3u << 20;
	char *data = malloc(n + 1);
	unsigned x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = 'a' + (char)((x >> 16) % 26);
	}
	data[n] = '\0';
	struct spec s[] = {{"big", 'f', data}};
	struct buf b = {0};
	make_tar(&b, s, 1, "gzip");
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, NULL, &err);
	ck_assert_ptr_nonnull(idx);
	ck_assert_uint_eq(idx->entries[0].size, n);
	ck_assert_int_eq(memcmp(idx->entries[0].facts, data, n), 0);
	free(b.data);
	free(data);
}
END_TEST

static void expect_error(const struct buf *b, const struct ak_layer_options *opts, const char *want)
{
	cleanup_error struct ak_error *err = NULL;
	struct ak_layer_index *idx = scan_buf(b, opts, &err);
	ck_assert_ptr_null(idx);
	ck_assert_ptr_nonnull(err);
	ck_assert_int_eq(err->status, AK_EXIT_ENV);
	ck_assert_msg(strstr(err->msg, want) != NULL, "wanted '%s' in '%s'", want, err->msg);
}

START_TEST(test_xz_is_unsupported)
{
	struct buf b = {0};
	make_tar(&b, base_specs, 3, "xz");
	expect_error(&b, &named, "layer 'sha256:abc': unsupported compression 'xz'");
	free(b.data);
}
END_TEST

START_TEST(test_truncated_gzip)
{
	struct buf b = {0};
	make_tar(&b, base_specs, sizeof(base_specs) / sizeof(base_specs[0]), "gzip");
	b.len -= 12; /* the trailer and a little deflate data */
	expect_error(&b, &named, "layer 'sha256:abc': truncated gzip stream");
	b.len = 30;
	expect_error(&b, &named, "truncated gzip stream");
	free(b.data);
}
END_TEST

START_TEST(test_truncated_zstd_and_garbage)
{
	struct buf b = {0};
	make_tar(&b, base_specs, 3, "zstd");
	b.len -= 5;
	expect_error(&b, &named, "zstd");
	free(b.data);
	b = (struct buf){0};
	make_tar(&b, base_specs, 3, "gzip");
	/* zero padding after the last member is fine (gzip(1) agrees) ... */
	static const char pad[4096];
	buf_append(&b, pad, sizeof(pad));
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, &named, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	ck_assert_uint_eq(idx->count, 2);
	/* ... anything else is not */
	buf_append(&b, "garbage!", 8);
	expect_error(&b, &named, "unexpected data after gzip member");
	free(b.data);
}
END_TEST

START_TEST(test_bomb_stops_at_cap)
{
	char *zeros = calloc(1, 1u << 20);
	memset(zeros, 'z', (1u << 20) - 1);
	struct spec s[] = {{"bomb", 'f', zeros}};
	struct buf b = {0};
	make_tar(&b, s, 1, "gzip");
	ck_assert_uint_lt(b.len, 16384); /* it does compress like a bomb */
	struct ak_layer_options opts = {.name = "sha256:bomb", .max_bytes = 256 << 10};
	expect_error(&b, &opts, "uncompressed size exceeds the limit of 262144 bytes");
	free(b.data);
	free(zeros);
}
END_TEST

/* Errors carry a kind, so callers branch on it and never on the words. */
START_TEST(test_error_kinds)
{
	static const char data[] = "hello";
	struct ak_descriptor good = {
		.digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e"
			  "73043362938b9824",
		.size = 5};
	struct ak_descriptor wrong = good, longer = good;
	wrong.digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9825";
	longer.size = 6;
	struct {
		const struct ak_descriptor *d;
		enum ak_error_kind kind;
	} cases[] = {{&good, AK_ERR_OTHER},
		     {&wrong, AK_ERR_DIGEST_MISMATCH},
		     {&longer, AK_ERR_TRUNCATED}};
	for (size_t i = 0; i < 3; i++) {
		cleanup_error struct ak_error *err = NULL;
		struct ak_stream *s = NULL;
		ck_assert_int_eq(ak_blob_stream_new(ak_memory_stream_open(data, 5, NULL),
						    cases[i].d, &s, &err),
				 0);
		char buf[16];
		ssize_t n;
		while ((n = ak_stream_read(s, buf, sizeof(buf), &err)) > 0)
			;
		ak_stream_close(s);
		if (cases[i].kind == AK_ERR_OTHER) {
			ck_assert_int_eq(n, 0);
			continue;
		}
		ck_assert_int_lt(n, 0);
		ck_assert_int_eq(err->kind, cases[i].kind);
	}
	/* a layer past --max-layer-bytes */
	char *zeros = calloc(1, 1u << 20);
	struct spec sp[] = {{"bomb", 'f', zeros}};
	memset(zeros, 'z', (1u << 20) - 1);
	struct buf b = {0};
	make_tar(&b, sp, 1, "gzip");
	struct ak_layer_options opts = {.name = "sha256:bomb", .max_bytes = 256 << 10};
	cleanup_error struct ak_error *err = NULL;
	ck_assert_ptr_null(scan_buf(&b, &opts, &err));
	ck_assert_int_eq(err->kind, AK_ERR_LIMIT);
	free(b.data);
	free(zeros);
}
END_TEST

START_TEST(test_not_a_tar)
{
	struct buf b = {0};
	buf_append(&b, "this is not a tar archive, just words and more words ........", 60);
	for (int i = 0; i < 20; i++)
		buf_append(&b, "0123456789012345678901234567890123456789", 40);
	expect_error(&b, &named, "layer 'sha256:abc': ");
	free(b.data);
}
END_TEST

START_TEST(test_escaping_entries)
{
	const char *bad[] = {"../etc/passwd", "/abs", "a/../../x", "./a/b/../../../x"};
	const char *want[] = {
		"entry '../etc/passwd' escapes the root", "entry '/abs' is an absolute path",
		"entry 'a/../../x' escapes the root", "entry './a/b/../../../x' escapes the root"};
	for (size_t i = 0; i < 4; i++) {
		struct spec s[] = {{"ok", 'f', "x"}, {bad[i], 'f', "evil"}};
		struct buf b = {0};
		make_tar(&b, s, 2, "gzip");
		expect_error(&b, &named, want[i]);
		free(b.data);
	}
	/* a hard link may not point out either */
	struct spec h[] = {{"ok", 'h', "../../etc/shadow"}};
	struct buf b = {0};
	make_tar(&b, h, 1, NULL);
	expect_error(&b, &named, "escapes the root");
	free(b.data);
	/* "a/../b" stays inside: it is just "b" */
	struct spec fine[] = {{"a/../b", 'f', "x"}};
	b = (struct buf){0};
	make_tar(&b, fine, 1, NULL);
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, NULL, &err);
	ck_assert_ptr_nonnull(idx);
	ck_assert_str_eq(idx->entries[0].path, "b");
	free(b.data);
}
END_TEST

/* A ustar header by hand: name, type flag, size; checksum filled in. */
static void raw_header(unsigned char h[512], const char *name, char type, size_t size)
{
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *)h + 124, 12, "%011zo", size);
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

/* The ustar name is harmless; the pax header's path climbs out. */
START_TEST(test_pax_path_hiding_traversal)
{
	struct buf b = {0};
	unsigned char h[512], pad[512] = {0};
	const char *pax = "21 path=a/../../evil\n";
	raw_header(h, "PaxHeaders/x", 'x', strlen(pax));
	buf_append(&b, h, 512);
	memcpy(pad, pax, strlen(pax));
	buf_append(&b, pad, 512);
	raw_header(h, "harmless", '0', 0);
	buf_append(&b, h, 512);
	memset(pad, 0, 512);
	buf_append(&b, pad, 512);
	buf_append(&b, pad, 512);
	expect_error(&b, &named, "entry 'a/../../evil' escapes the root");
	free(b.data);
}
END_TEST

/* ---- fsview ---- */

static struct ak_layer_index *scan_specs(const struct spec *s, size_t n)
{
	struct buf b = {0};
	make_tar(&b, s, n, "gzip");
	cleanup_error struct ak_error *err = NULL;
	struct ak_layer_index *idx = scan_buf(&b, NULL, &err);
	ck_assert_msg(idx != NULL, "%s", err ? err->msg : "");
	free(b.data);
	return idx;
}
#define SCAN(arr) scan_specs(arr, sizeof(arr) / sizeof(arr[0]))

static int collect(const struct ak_fsview_entry *e, void *ctx)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s:%s:%d%s\n", e->path, ak_entry_type_name(e->type),
			 e->layer, e->implicit ? ":implicit" : "");
	buf_append(ctx, line, (size_t)n);
	return 0;
}

static char *view_text(const struct ak_fsview *v)
{
	struct buf b = {0};
	ck_assert_int_eq(ak_fsview_foreach(v, true, collect, &b, NULL), 0);
	buf_append(&b, "", 1);
	return (char *)b.data;
}

START_TEST(test_whiteouts_and_opaque_dirs)
{
	const struct spec l0[] = {
		{"a/", 'd', NULL},  {"a/x", 'f', "wrong-arch"}, {"a/y", 'f', "y"},
		{"b/z", 'f', "z"},  {"c/dir/file", 'f', "f"},	{"c/old", 'f', "o"},
		{"keep", 'f', "k"},
	};
	const struct spec l1[] = {
		{"c/new", 'f', "n"}, /* the marker's own layer, before it: stays */
		{"a/.wh.x", 'f', ""},
		{".wh.b", 'f', ""},
		{"c/.wh..wh..opq", 'f', ""},
		{"c/after", 'f', "a"}, /* after it: stays */
		{"own", 'f', "mine"},
		{".wh.own", 'f', ""}, /* a whiteout removes its own layer's earlier entry too */
		{".wh.nothing-there", 'f', ""},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ak_fsview_set_record_removed(v, true);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, &err), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "a:dir:0\n"
			      "a/y:regular:0\n"
			      "c:dir:0:implicit\n"
			      "c/after:regular:1\n"
			      "c/new:regular:1\n"
			      "keep:regular:0\n");
	ck_assert_uint_eq(ak_fsview_count(v), 6);

	size_t n;
	const struct ak_fsview_removed *r = ak_fsview_removed(v, &n);
	struct buf b = {0};
	for (size_t i = 0; i < n; i++) {
		char line[256];
		int len =
			snprintf(line, sizeof(line), "%s:%d>%d:%d:%s\n", r[i].path, r[i].layer,
				 r[i].removed_by, r[i].how, r[i].facts ? (char *)r[i].facts : "-");
		buf_append(&b, line, (size_t)len);
	}
	buf_append(&b, "", 1);
	/* implicit directories (b, c/dir) are not listed: no layer named them */
	ck_assert_str_eq((char *)b.data, "a/x:0>1:0:wrong-arch\n"
					 "b/z:0>1:0:z\n"
					 "c/dir/file:0>1:1:f\n"
					 "c/old:0>1:1:o\n"
					 "own:1>1:0:mine\n");
	free(b.data);
}
END_TEST

/* Whiteouts below the root: a directory whiteout and the ".wh.NAME" that docker's classic
 * builder (RUN rm -rf /opt/stray/bin), umoci insert --whiteout and umoci repack write. The
 * deeper one comes first, so a lookup that leaves its resolved path unterminated would
 * leak "opt/stray" into the next one. */
START_TEST(test_whiteouts_below_a_directory)
{
	const struct spec l0[] = {
		{"opt/", 'd', NULL},
		{"opt/x86/", 'd', NULL},
		{"opt/x86/tool", 'f', "wrong-arch"},
		{"opt/stray/", 'd', NULL},
		{"opt/stray/bin", 'f', "wrong-arch"},
		{"opt/stray/keep", 'f', "k"},
		{"lnk", 'l', "opt"},
	};
	const struct spec l1[] = {
		{"opt/stray/.wh.bin", 'f', ""},
		{"opt/.wh.x86", 'f', ""},
	};
	const struct spec l2[] = {
		{"lnk/stray/.wh.keep", 'f', ""}, /* the parent resolves inside the root */
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_layer_index struct ak_layer_index *i2 = SCAN(l2);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, &err), 0);
	ck_assert_ptr_null(ak_fsview_lookup(v, "opt/stray/bin"));
	ck_assert_ptr_null(ak_fsview_lookup(v, "opt/x86"));
	ck_assert_ptr_null(ak_fsview_lookup(v, "opt/x86/tool"));
	ck_assert_ptr_nonnull(ak_fsview_lookup(v, "opt/stray/keep"));
	ck_assert_int_eq(ak_fsview_apply_layer(v, i2, 2, &err), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "lnk:symlink:0\n"
			      "opt:dir:0\n"
			      "opt/stray:dir:0\n");
}
END_TEST

/* A layer's entries apply in tar order (containerd's archive.Apply, moby's UnpackLayer):
 * a whiteout resolves its parent as the filesystem is when the tar reaches it. */
START_TEST(test_whiteout_after_symlink_replaced_by_dir)
{
	const struct spec l0[] = {
		{"bin/", 'd', NULL}, {"bin/evil", 'f', "wrong-arch"}, {"bin/ok", 'f', "ok"},
		{"lnk", 'l', "bin"}, {"lnk2", 'l', "/bin"},
	};
	const struct spec l1[] = {
		{"lnk/", 'd', NULL},	   /* the symlink becomes a real directory */
		{"lnk/.wh.evil", 'f', ""}, /* so this removes nothing in bin */
		{"lnk2/.wh.ok", 'f', ""},  /* still the symlink here: removes bin/ok */
		{"lnk2/", 'd', NULL},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, &err), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "bin:dir:0\n"
			      "bin/evil:regular:0\n"
			      "lnk:dir:1\n"
			      "lnk2:dir:1\n");
	const struct ak_fsview_entry *e = NULL;
	ck_assert_int_eq(ak_fsview_resolve(v, "/bin/evil", &e, &err), 1);
	ck_assert_str_eq(e->facts, "wrong-arch");
	ck_assert_int_eq(ak_fsview_resolve(v, "/lnk/evil", &e, &err), 0);
}
END_TEST

/* A hard link keeps the inode: what the same layer then whites out or replaces at the
 * original path lives on at the link's path, with the original's content. */
START_TEST(test_hardlink_outlives_whiteout_of_its_target)
{
	const struct spec l0[] = {
		{"bin/", 'd', NULL},
		{"bin/tool", 'f', "ELF-amd64"},
		{"bin/sh", 'f', "ELF-old-sh"},
	};
	const struct spec l1[] = {
		{"usr/keep", 'h', "bin/tool"},
		{"bin/.wh.tool", 'f', ""},
		{"sbin/sh", 'h', "bin/sh"},
		{"bin/sh", 'f', "ELF-new-sh"},
		{"bin/.wh.gone", 'f', ""},
		{"late", 'h', "bin/gone"}, /* its target was removed before it: nothing to share */
	};
	const struct spec l0b[] = {
		{"bin/gone", 'f', "g"},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i0b = SCAN(l0b);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0b, 1, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 2, &err), 0);
	ck_assert_ptr_null(ak_fsview_lookup(v, "bin/tool"));
	const struct ak_fsview_entry *keep = ak_fsview_lookup(v, "usr/keep");
	ck_assert_ptr_nonnull(keep);
	ck_assert_int_eq(keep->type, AK_ENTRY_REGULAR);
	ck_assert(keep->hardlink);
	ck_assert_str_eq(keep->facts, "ELF-amd64");
	ck_assert_uint_eq(keep->size, strlen("ELF-amd64"));
	ck_assert_int_eq(keep->layer, 2);
	ck_assert_str_eq(ak_fsview_lookup(v, "sbin/sh")->facts, "ELF-old-sh");
	ck_assert_str_eq(ak_fsview_lookup(v, "bin/sh")->facts, "ELF-new-sh");
	const struct ak_fsview_entry *late = ak_fsview_lookup(v, "late");
	ck_assert_ptr_nonnull(late);
	ck_assert_int_eq(late->type, AK_ENTRY_HARDLINK);
	ck_assert_ptr_null(late->facts);
}
END_TEST

/* An opaque marker keeps what its layer's entries already created, and what comes after;
 * directories made only as parents of its entries are not among them (containerd's
 * unpackedPaths). */
START_TEST(test_opaque_in_tar_order)
{
	const struct spec l0[] = {
		{"d/old", 'f', "o"},
		{"d/sub/", 'd', NULL},
		{"d/sub/lower", 'f', "l"},
		{"lnk", 'l', "d"},
	};
	const struct spec l1[] = {
		{"d/sub/", 'd', NULL},	       /* named again: kept, its lower contents are not */
		{"d/mine", 'f', "m"},	       /* before the marker: kept */
		{"d/made/x", 'f', "x"},	       /* d/made is only a parent: removed with x */
		{"lnk/.wh..wh..opq", 'f', ""}, /* through the symlink, like any parent */
		{"d/after", 'f', "a"},
		{"d/.wh..wh..opq", 'f', ""}, /* again: nothing more to remove */
		{"d/later/y", 'f', "y"},
		{"d/.wh..wh..opq", 'f', ""},	 /* removes d/later */
		{"fresh/.wh..wh..opq", 'f', ""}, /* makes its directory, as mkparent does */
		{"nodir/.wh.x", 'f', ""},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ak_fsview_set_record_removed(v, true);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, &err), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "d:dir:0:implicit\n"
			      "d/after:regular:1\n"
			      "d/mine:regular:1\n"
			      "d/sub:dir:1\n"
			      "fresh:dir:1:implicit\n"
			      "lnk:symlink:0\n"
			      "nodir:dir:1:implicit\n");
	size_t n;
	const struct ak_fsview_removed *r = ak_fsview_removed(v, &n);
	struct buf b = {0};
	for (size_t i = 0; i < n; i++) {
		buf_append(&b, r[i].path, strlen(r[i].path));
		buf_append(&b, " ", 1);
	}
	buf_append(&b, "", 1);
	ck_assert_str_eq((char *)b.data, "d/made/x d/old d/sub/lower d/later/y ");
	free(b.data);
}
END_TEST

/* A directory swept before this layer names it, then given a parent-only subdirectory:
 * naming it must not make it look swept, or the next marker above would skip it. */
START_TEST(test_opaque_after_directory_named_again)
{
	const struct spec l0[] = {
		{"p/d/", 'd', NULL},
	};
	const struct spec l1[] = {
		{"p/", 'd', NULL},   {"p/d/.wh..wh..opq", 'f', ""}, {"p/d/m/x", 'f', "x"},
		{"p/d/", 'd', NULL}, {"p/.wh..wh..opq", 'f', ""},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, &err), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "p:dir:1\n"
			      "p/d:dir:1\n");
}
END_TEST

/* containerd's unpackedPaths never forgets a path: what the layer unpacked, removed and
 * then made again only as a parent still counts as the layer's for an opaque marker. */
START_TEST(test_opaque_keeps_a_path_unpacked_before)
{
	const struct spec l0[] = {
		{"old", 'f', "o"},
	};
	const struct spec l1[] = {
		{"a", 'l', "nowhere"}, {".wh.a", 'f', ""},	  {"a/b", 'f', "b"},
		{"c/d", 'f', "d"},     {".wh..wh..opq", 'f', ""},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, &err), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, &err), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "a:dir:1:implicit\n"
			      "a/b:regular:1\n");
}
END_TEST

/* An entry replaces a directory with a non-directory or the other way round at once;
 * an entry below a non-directory is refused, as containerd and moby refuse it. */
START_TEST(test_replacement_in_tar_order_and_bad_parents)
{
	const struct spec l0[] = {
		{"file", 'f', "f"},
		{"flink", 'l', "/file"},
	};
	const struct spec l1[] = {
		{"x/", 'd', NULL}, {"x/a", 'f', "a"}, {"x", 'f', "now a file"},
		{"y", 'f', "y"},   {"y/", 'd', NULL}, {"y/b", 'f', "b"},
	};
	const struct spec bad[][1] = {
		{{"file/x", 'f', "x"}},
		{{"flink/x", 'f', "x"}},
		{{"file/.wh.x", 'f', ""}},
		{{"flink/.wh..wh..opq", 'f', ""}},
	};
	const char *why[] = {
		"entry 'file/x': 'file' is not a directory",
		"entry 'flink/x': 'file' is not a directory",
		"entry 'file/.wh.x': 'file' is not a directory",
		"entry 'flink/.wh..wh..opq': 'file' is not a directory",
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(NULL);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, NULL), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, NULL), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "file:regular:0\n"
			      "flink:symlink:0\n"
			      "x:regular:1\n"
			      "y:dir:1\n"
			      "y/b:regular:1\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_layer_index struct ak_layer_index *ib = scan_specs(bad[i], 1);
		cleanup_error struct ak_error *err = NULL;
		ck_assert_int_eq(ak_fsview_apply_layer(v, ib, 2, &err), -1);
		ck_assert_int_eq(err->status, AK_EXIT_ENV);
		ck_assert_str_eq(err->msg, why[i]);
	}
}
END_TEST

/* A hostile layer repeating "make a directory, mark its parent opaque" must stay linear:
 * each marker looks only at what changed since the last one. The index is built in
 * memory: a tar this size would take longer to write than the bug takes to show. */
START_TEST(test_repeated_opaque_markers_stay_linear)
{
	enum { FILES = 100000, ROUNDS = 100000 };
	size_t count = 1 + FILES + 2 * ROUNDS;
	struct ak_layer_entry *es = calloc(count, sizeof(*es));
	char **names = calloc(count, sizeof(*names));
	ck_assert(es && names);
	size_t n = 0;
	es[n++] = (struct ak_layer_entry){.path = "d", .type = AK_ENTRY_DIR, .mode = 0755};
	for (int i = 0; i < FILES; i++) {
		ck_assert_int_gt(asprintf(&names[n], "d/f%d", i), 0);
		es[n] = (struct ak_layer_entry){.path = names[n], .type = AK_ENTRY_REGULAR};
		n++;
	}
	for (int i = 0; i < ROUNDS; i++) {
		ck_assert_int_gt(asprintf(&names[n], "d/m%d/x", i), 0);
		es[n] = (struct ak_layer_entry){.path = names[n], .type = AK_ENTRY_REGULAR};
		n++;
		es[n++] = (struct ak_layer_entry){.path = "d", .type = AK_ENTRY_OPAQUE};
	}
	struct ak_layer_index idx = {.entries = es, .count = n};
	cleanup_error struct ak_error *err = NULL;
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(&err);
	ak_fsview_set_record_removed(v, true);
	ck_assert_int_eq(ak_fsview_apply_layer(v, &idx, 0, &err), 0);
	ck_assert_uint_eq(ak_fsview_count(v), 1 + FILES);
	size_t removed;
	ak_fsview_removed(v, &removed);
	ck_assert_uint_eq(removed, ROUNDS);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(es);
}
END_TEST

START_TEST(test_replacement_and_hardlinks)
{
	const struct spec l0[] = {
		{"bin/", 'd', NULL},
		{"bin/busybox", 'f', "ELF-busybox"},
		{"bin/sh", 'h', "bin/busybox"},
		{"opt/tool/", 'd', NULL},
		{"opt/tool/x", 'f', "x"},
	};
	const struct spec l1[] = {
		{"opt/tool", 'f', "now a file"},
		{"bin/busybox", 'f', "ELF-new"},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(NULL);
	ak_fsview_set_record_removed(v, true);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, NULL), 0);
	const struct ak_fsview_entry *sh = ak_fsview_lookup(v, "/bin/sh");
	ck_assert_ptr_nonnull(sh);
	ck_assert_int_eq(sh->type, AK_ENTRY_REGULAR);
	ck_assert(sh->hardlink);
	ck_assert_str_eq(sh->link, "bin/busybox");
	ck_assert_str_eq(sh->facts, "ELF-busybox");
	ck_assert_uint_eq(sh->size, strlen("ELF-busybox"));

	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, NULL), 0);
	cleanup_free char *got = view_text(v);
	ck_assert_str_eq(got, "bin:dir:0\n"
			      "bin/busybox:regular:1\n"
			      "bin/sh:regular:0\n"
			      "opt:dir:0:implicit\n"
			      "opt/tool:regular:1\n");
	ck_assert_str_eq(ak_fsview_lookup(v, "bin/busybox")->facts, "ELF-new");
	size_t n;
	const struct ak_fsview_removed *r = ak_fsview_removed(v, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(r[0].path, "opt/tool/x");
	ck_assert_str_eq(r[1].path, "opt/tool");
	ck_assert_str_eq(r[2].path, "bin/busybox");
	ck_assert_int_eq(r[2].how, AK_REMOVED_BY_REPLACEMENT);
}
END_TEST

START_TEST(test_symlink_resolution)
{
	const struct spec l0[] = {
		{"usr/lib/ld.so", 'f', "loader"},
		{"lib", 'l', "usr/lib"},
		{"lib64/", 'd', NULL},
		{"lib64/ld-linux.so", 'l', "/lib/ld.so"},
		{"lib64/up", 'l', "../../../../usr/lib/ld.so"},
		{"lib64/dot", 'l', "./../lib/./ld.so"},
		{"loop1", 'l', "loop2"},
		{"loop2", 'l', "/loop1"},
		{"self", 'l', "self/x"},
		{"dangling", 'l', "/nowhere"},
		{"file", 'f', "f"},
	};
	const struct spec l1[] = {
		{"lib/extra.so", 'f', "through the symlink"},
	};
	cleanup_layer_index struct ak_layer_index *i0 = SCAN(l0);
	cleanup_layer_index struct ak_layer_index *i1 = SCAN(l1);
	cleanup_fsview struct ak_fsview *v = ak_fsview_new(NULL);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i0, 0, NULL), 0);
	ck_assert_int_eq(ak_fsview_apply_layer(v, i1, 1, NULL), 0);

	const char *to_loader[] = {"/lib64/ld-linux.so", "lib64/up",	     "lib64/dot",
				   "/lib/ld.so",	 "lib/../lib/ld.so", "/../../lib/ld.so"};
	for (size_t i = 0; i < sizeof(to_loader) / sizeof(to_loader[0]); i++) {
		const struct ak_fsview_entry *e = NULL;
		cleanup_error struct ak_error *err = NULL;
		ck_assert_msg(ak_fsview_resolve(v, to_loader[i], &e, &err) == 1, "%s: %s",
			      to_loader[i], err ? err->msg : "not found");
		ck_assert_str_eq(e->path, "usr/lib/ld.so");
		ck_assert_str_eq(e->facts, "loader");
	}
	/* an entry under a symlinked directory lands where extraction puts it */
	const struct ak_fsview_entry *e = NULL;
	ck_assert_int_eq(ak_fsview_resolve(v, "/lib/extra.so", &e, NULL), 1);
	ck_assert_str_eq(e->path, "usr/lib/extra.so");
	ck_assert_ptr_null(ak_fsview_lookup(v, "lib/extra.so"));
	ck_assert_int_eq(ak_fsview_lookup(v, "lib")->type, AK_ENTRY_SYMLINK);

	const char *loops[] = {"loop1", "/loop2/x", "self"};
	for (size_t i = 0; i < 3; i++) {
		cleanup_error struct ak_error *err = NULL;
		ck_assert_int_eq(ak_fsview_resolve(v, loops[i], &e, &err), -1);
		ck_assert_ptr_nonnull(strstr(err->msg, "symlink loop"));
	}
	ck_assert_int_eq(ak_fsview_resolve(v, "dangling", &e, NULL), 0);
	ck_assert_int_eq(ak_fsview_resolve(v, "file/x", &e, NULL), 0);
	ck_assert_int_eq(ak_fsview_resolve(v, "/missing/ld.so", &e, NULL), 0);
}
END_TEST

START_TEST(test_buildx_tar_subtree)
{
	const struct spec s[] = {
		{"linux_amd64/", 'd', NULL},
		{"linux_amd64/bin/x86", 'f', "x86"},
		{"linux_arm_v7/", 'd', NULL},
		{"linux_arm_v7/bin/arm", 'f', "arm"},
		{"linux_arm_v7/bin/sh", 'h', "linux_arm_v7/bin/arm"},
		{"linux_arm_v7/.wh.kept", 'f', "a file here"},
		{"linux_arm_v7x/no", 'f', "no"},
	};
	struct buf b = {0};
	make_tar(&b, s, sizeof(s) / sizeof(s[0]), NULL);
	struct ak_layer_options opts = {.tar_prefix = "linux_arm_v7/", .literal_whiteouts = true};
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = scan_buf(&b, &opts, &err);
	ck_assert_ptr_nonnull(idx);
	cleanup_free char *got = describe(idx);
	ck_assert_str_eq(got, "bin/arm:regular=arm\n"
			      "bin/sh:hardlink:bin/arm\n"
			      ".wh.kept:regular=a file here\n");
	free(b.data);
}
END_TEST

static void write_file_at(int dfd, const char *path, const char *data)
{
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

START_TEST(test_directory_tree_walk)
{
	char tmpl[] = "/tmp/ak-layer-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	cleanup_fd int dfd = open(tmpl, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(mkdirat(dfd, "rootfs", 0755), 0);
	ck_assert_int_eq(mkdirat(dfd, "rootfs/bin", 0755), 0);
	ck_assert_int_eq(mkdirat(dfd, "outside", 0755), 0);
	write_file_at(dfd, "outside/secret", "do not read");
	write_file_at(dfd, "rootfs/bin/sh", "ELF-sh");
	ck_assert_int_eq(linkat(dfd, "rootfs/bin/sh", dfd, "rootfs/bin/sh2", 0), 0);
	char target[512];
	snprintf(target, sizeof(target), "%s/outside", tmpl);
	ck_assert_int_eq(symlinkat(target, dfd, "rootfs/escape"), 0);
	ck_assert_int_eq(symlinkat("../outside", dfd, "rootfs/up"), 0);

	keeper.files = 0;
	cleanup_error struct ak_error *err = NULL;
	cleanup_layer_index struct ak_layer_index *idx = NULL;
	ck_assert_int_eq(ak_layer_scan_dir(dfd, "rootfs", NULL, &keep_consumer, &idx, &err), 0);
	cleanup_free char *got = describe(idx);
	char want[1024];
	snprintf(want, sizeof(want),
		 "bin:dir\nbin/sh:regular=ELF-sh\nbin/sh2:hardlink:bin/sh\n"
		 "escape:symlink:%s\nup:symlink:../outside\n",
		 target);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(keeper.files, 1); /* the secret outside was never opened */

	cleanup_fsview struct ak_fsview *v = ak_fsview_new(NULL);
	ck_assert_int_eq(ak_fsview_apply_layer(v, idx, 0, NULL), 0);
	const struct ak_fsview_entry *e;
	ck_assert_int_eq(ak_fsview_resolve(v, "up/secret", &e, NULL), 0);
	ck_assert_int_eq(ak_fsview_resolve(v, "bin/sh2", &e, NULL), 1);
	ck_assert_str_eq(e->facts, "ELF-sh");

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *layer_suite(void)
{
	Suite *s = suite_create("layer");
	TCase *tc = tcase_create("walk");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_entries_same_for_every_compression);
	tcase_add_test(tc, test_tar_without_end_blocks);
	tcase_add_test(tc, test_big_gzip_through_verifying_stream);
	tcase_add_test(tc, test_multi_member_and_multi_frame);
	tcase_add_test(tc, test_big_file_delivered_whole);
	tcase_add_test(tc, test_xz_is_unsupported);
	tcase_add_test(tc, test_truncated_gzip);
	tcase_add_test(tc, test_truncated_zstd_and_garbage);
	tcase_add_test(tc, test_bomb_stops_at_cap);
	tcase_add_test(tc, test_error_kinds);
	tcase_add_test(tc, test_not_a_tar);
	tcase_add_test(tc, test_escaping_entries);
	tcase_add_test(tc, test_pax_path_hiding_traversal);
	tcase_add_test(tc, test_buildx_tar_subtree);
	tcase_add_test(tc, test_directory_tree_walk);
	suite_add_tcase(s, tc);
	TCase *fs = tcase_create("fsview");
	tcase_add_test(fs, test_whiteouts_and_opaque_dirs);
	tcase_add_test(fs, test_whiteouts_below_a_directory);
	tcase_add_test(fs, test_replacement_and_hardlinks);
	tcase_add_test(fs, test_whiteout_after_symlink_replaced_by_dir);
	tcase_add_test(fs, test_hardlink_outlives_whiteout_of_its_target);
	tcase_add_test(fs, test_opaque_in_tar_order);
	tcase_add_test(fs, test_opaque_after_directory_named_again);
	tcase_add_test(fs, test_opaque_keeps_a_path_unpacked_before);
	tcase_add_test(fs, test_replacement_in_tar_order_and_bad_parents);
	tcase_add_test(fs, test_repeated_opaque_markers_stay_linear);
	tcase_add_test(fs, test_symlink_resolution);
	suite_add_tcase(s, fs);
	return s;
}
