/* image/layer-cache: an index with every entry type and full ELF facts survives a store
 * and a load; a file that is damaged, cut short, of another format or codec, or made
 * for another blob is ignored and rewritten; the directory keeps its bound by age; two
 * threads storing one digest leave one whole file; a directory that cannot be written
 * costs nothing but the cache. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "elf/classify.h"
#include "image/decompress.h"
#include "image/layer-cache.h"
#include "probe/elf-facts-codec.h"
#include "tests/testlib.h"

static char root[PATH_MAX];
static char dir[PATH_MAX + 16]; /* root/c: the cache */

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/ak-check-layer-cache-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/c", root);
}

static void teardown(void)
{
	chmod(dir, 0700);
	ak_rmtree_signal_safe(root);
}

/* A descriptor for a made-up blob: digest of seed, the size given. */
struct desc {
	struct ak_descriptor d;
	char digest[AK_DIGEST_MAX];
};

static void make_desc(struct desc *x, const char *seed, int64_t size, const char *media_type)
{
	ck_assert_int_eq(ak_digest_sha256(seed, strlen(seed), x->digest), 0);
	x->d = (struct ak_descriptor){
		.digest = x->digest, .size = size, .media_type = (char *)media_type};
}

#define GZIP_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"
#define TAR_TYPE "application/vnd.oci.image.layer.v1.tar"

/* ELF facts with no field at its zero value. */
static struct ak_elf_facts *full_facts(int salt)
{
	struct ak_elf_facts *f = calloc(1, sizeof(*f));
	*f = (struct ak_elf_facts){
		.elf_class = 2,
		.elf_data = 1,
		.osabi = 3,
		.e_machine = (uint16_t)(40 + salt),
		.e_type = 3,
		.e_flags = 0x5000400,
		.kind = AK_ELF_KIND_SHARED,
		.has_interp = true,
		.is_static = true,
		.partial = true,
		.header_ok = true,
		.malformed = true,
		.malformed_reason = strdup("'.ARM.attributes' truncated"),
		.exec_refused = strdup("e_phnum 0: ENOEXEC"),
		.interp = strdup("/lib/ld-linux-armhf.so.3"),
		.arm_eabi = 5,
		.arm_float = AK_ARM_FLOAT_HARD,
		.arm_cpu_arch = INT64_MAX,
		.arm_vfp_args = 127,
		.x86_isa_needed = 0xf,
		.x86_isa_level = 4,
		.riscv_float = AK_RISCV_FLOAT_QUAD,
		.mips_abi = AK_MIPS_ABI_N64,
		.ppc64_abi = 2,
		.is_go = true,
		.go_old_format = true,
	};
	snprintf(f->go_version, sizeof(f->go_version), "go1.22.1-x%d", salt);
	snprintf(f->goarch, sizeof(f->goarch), "arm64");
	snprintf(f->goarm, sizeof(f->goarm), "7");
	snprintf(f->goamd64, sizeof(f->goamd64), "v3");
	return f;
}

static void add(struct ak_layer_index *idx, enum ak_entry_type type, const char *path,
		const char *link, uint64_t size, uint32_t mode, void *facts)
{
	struct ak_layer_entry *e = &idx->entries[idx->count++];
	*e = (struct ak_layer_entry){.type = type, .size = size, .mode = mode, .facts = facts};
	e->path = ak_layer_arena_strndup(idx->arena, path, strlen(path));
	if (link)
		e->link = ak_layer_arena_strndup(idx->arena, link, strlen(link));
}

/* Every entry type, a file with facts and one without, facts at the extremes. */
static struct ak_layer_index *sample_index(void)
{
	struct ak_layer_index *idx = calloc(1, sizeof(*idx));
	idx->arena = ak_layer_arena_new();
	idx->entries = calloc(16, sizeof(*idx->entries));
	idx->free_facts = ak_elf_facts_free;
	idx->compression = AK_COMPRESSION_ZSTD;
	idx->media_type_mismatch = true;
	idx->declared = AK_COMPRESSION_GZIP;
	idx->uncompressed_bytes = 10240;
	add(idx, AK_ENTRY_DIR, "usr/bin", NULL, 0, 0755, NULL);
	add(idx, AK_ENTRY_REGULAR, "usr/bin/tool", NULL, 123456789012ull, 04755, full_facts(1));
	add(idx, AK_ENTRY_REGULAR, "etc/motd", NULL, 6, 0644, NULL);
	add(idx, AK_ENTRY_SYMLINK, "usr/bin/sh", "../../bin/busybox", 0, 0777, NULL);
	add(idx, AK_ENTRY_SYMLINK, "empty-link", "", 0, 0777, NULL);
	add(idx, AK_ENTRY_HARDLINK, "usr/bin/tool2", "usr/bin/tool", 0, 0755, NULL);
	add(idx, AK_ENTRY_OTHER, "dev/null", NULL, 0, 0666, NULL);
	add(idx, AK_ENTRY_WHITEOUT, "var/old", NULL, 0, 0, NULL);
	add(idx, AK_ENTRY_OPAQUE, "var/cache", NULL, 0, 0, NULL);
	struct ak_elf_facts *lean = calloc(1, sizeof(*lean)); /* the other extremes */
	lean->arm_cpu_arch = -1;
	lean->arm_vfp_args = -1;
	add(idx, AK_ENTRY_REGULAR, "lib/\xe2\x80\x8blib.so\x1b", NULL, 4, 0600, lean);
	return idx;
}

static void check_facts_eq(const struct ak_elf_facts *a, const struct ak_elf_facts *b)
{
	ck_assert_uint_eq(a->elf_class, b->elf_class);
	ck_assert_uint_eq(a->elf_data, b->elf_data);
	ck_assert_uint_eq(a->osabi, b->osabi);
	ck_assert_uint_eq(a->e_machine, b->e_machine);
	ck_assert_uint_eq(a->e_type, b->e_type);
	ck_assert_uint_eq(a->e_flags, b->e_flags);
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_int_eq(a->has_interp, b->has_interp);
	ck_assert_int_eq(a->is_static, b->is_static);
	ck_assert_int_eq(a->partial, b->partial);
	ck_assert_int_eq(a->header_ok, b->header_ok);
	ck_assert_int_eq(a->malformed, b->malformed);
	ck_assert_pstr_eq(a->malformed_reason, b->malformed_reason);
	ck_assert_pstr_eq(a->exec_refused, b->exec_refused);
	ck_assert_pstr_eq(a->interp, b->interp);
	ck_assert_uint_eq(a->arm_eabi, b->arm_eabi);
	ck_assert_int_eq(a->arm_float, b->arm_float);
	ck_assert_int_eq(a->arm_cpu_arch, b->arm_cpu_arch);
	ck_assert_int_eq(a->arm_vfp_args, b->arm_vfp_args);
	ck_assert_uint_eq(a->x86_isa_needed, b->x86_isa_needed);
	ck_assert_uint_eq(a->x86_isa_level, b->x86_isa_level);
	ck_assert_int_eq(a->riscv_float, b->riscv_float);
	ck_assert_int_eq(a->mips_abi, b->mips_abi);
	ck_assert_uint_eq(a->ppc64_abi, b->ppc64_abi);
	ck_assert_int_eq(a->is_go, b->is_go);
	ck_assert_int_eq(a->go_old_format, b->go_old_format);
	ck_assert_str_eq(a->go_version, b->go_version);
	ck_assert_str_eq(a->goarch, b->goarch);
	ck_assert_str_eq(a->goarm, b->goarm);
	ck_assert_str_eq(a->goamd64, b->goamd64);
}

static void check_index_eq(const struct ak_layer_index *a, const struct ak_layer_index *b)
{
	ck_assert_uint_eq(a->count, b->count);
	ck_assert_int_eq(a->compression, b->compression);
	ck_assert_int_eq(a->media_type_mismatch, b->media_type_mismatch);
	ck_assert_int_eq(a->declared, b->declared);
	ck_assert_uint_eq(a->uncompressed_bytes, b->uncompressed_bytes);
	for (size_t i = 0; i < a->count; i++) {
		const struct ak_layer_entry *x = &a->entries[i], *y = &b->entries[i];
		ck_assert_int_eq(x->type, y->type);
		ck_assert_str_eq(x->path, y->path);
		ck_assert_pstr_eq(x->link, y->link);
		ck_assert_uint_eq(x->size, y->size);
		ck_assert_uint_eq(x->mode, y->mode);
		ck_assert_int_eq(x->facts == NULL, y->facts == NULL);
		if (x->facts)
			check_facts_eq(x->facts, y->facts);
	}
}

static struct ak_layer_cache *open_cache(uint64_t max)
{
	struct ak_layer_cache *c = NULL;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_layer_cache_open(dir, max, &c, &err) == 0, "%s", err ? err->msg : "");
	return c;
}

static void file_of(const struct desc *x, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", dir, strchr(x->digest, ':') + 1);
}

/* Set the byte at off to want, or invert it when want < 0. */
static void set_byte(const char *path, off_t off, int want)
{
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	unsigned char b;
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b = want < 0 ? b ^ 0xff : (unsigned char)want;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void flip_byte(const char *path, off_t off)
{
	set_byte(path, off, -1);
}

static off_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Write path's checksum anew, so only what a test changed is wrong with it. */
static void reseal(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	ck_assert_int_eq(ak_read_file(path, 1 << 30, &data, &len, NULL), 0);
	ck_assert_uint_gt(len, 71);
	char sum[AK_DIGEST_MAX];
	ck_assert_int_eq(ak_digest_sha256(data, len - 71, sum), 0);
	memcpy(data + len - 71, sum, 71);
	write_file(path, data, len);
	free(data);
}

/* A cache at dir holding sample_index() (*idx) for the blob x: "layer", 5000 bytes of
 * gzip. */
static struct ak_layer_cache *cache_with_sample(struct desc *x, struct ak_layer_index **idx)
{
	struct ak_layer_cache *c = open_cache(0);
	make_desc(x, "layer", 5000, GZIP_TYPE);
	*idx = sample_index();
	ck_assert_int_eq(ak_layer_cache_store(c, &x->d, *idx, &ak_elf_facts_codec), 0);
	return c;
}

START_TEST(test_round_trip)
{
	struct ak_layer_cache *c = open_cache(0);
	struct desc x;
	make_desc(&x, "layer", 5000, GZIP_TYPE);
	struct ak_layer_index *idx = sample_index();
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	ck_assert_int_eq(ak_layer_cache_store(c, &x.d, idx, &ak_elf_facts_codec), 0);
	struct ak_layer_index *got = ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got);
	check_index_eq(idx, got);
	ak_layer_index_free(got);

	/* a second handle (another process) reads it as well */
	struct ak_layer_cache *c2 = open_cache(0);
	got = ak_layer_cache_load(c2, &x.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got);
	check_index_eq(idx, got);
	ak_layer_index_free(got);
	ak_layer_cache_close(c2);

	/* an empty layer too */
	struct desc e;
	make_desc(&e, "empty", 1024, NULL);
	struct ak_layer_index empty = {.compression = AK_COMPRESSION_NONE};
	ck_assert_int_eq(ak_layer_cache_store(c, &e.d, &empty, &ak_elf_facts_codec), 0);
	got = ak_layer_cache_load(c, &e.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(got->count, 0);
	ak_layer_index_free(got);
	ak_layer_index_free(idx);
	ak_layer_cache_close(c);
}
END_TEST

/* What the cache keys on besides the digest: a hit must be what a scan would give. */
START_TEST(test_other_blob_codec_or_version_misses)
{
	struct desc x;
	struct ak_layer_index *idx;
	struct ak_layer_cache *c = cache_with_sample(&x, &idx);
	const struct ak_facts_codec *elf = &ak_elf_facts_codec;

	struct ak_facts_codec newer = *elf, other = *elf;
	newer.version++;
	other.name = "other";
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &newer));
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &other));

	struct ak_descriptor d = x.d;
	d.size = 5001; /* a descriptor that disagrees: the read must say so */
	ck_assert_ptr_null(ak_layer_cache_load(c, &d, elf));
	d = x.d;
	d.media_type = TAR_TYPE; /* declares another compression: sniffing may differ */
	ck_assert_ptr_null(ak_layer_cache_load(c, &d, elf));
	d.media_type = "application/vnd.docker.image.rootfs.diff.tar.gzip"; /* the same one */
	struct ak_layer_index *got = ak_layer_cache_load(c, &d, elf);
	ck_assert_ptr_nonnull(got);
	ak_layer_index_free(got);

	/* a file under another digest's name is not that digest's */
	struct desc y;
	make_desc(&y, "another", 5000, GZIP_TYPE);
	char from[PATH_MAX + 200], to[PATH_MAX + 200];
	file_of(&x, from, sizeof(from));
	file_of(&y, to, sizeof(to));
	ck_assert_int_eq(link(from, to), 0);
	ck_assert_ptr_null(ak_layer_cache_load(c, &y.d, elf));

	/* another format version, the checksum right */
	set_byte(from, 4, 2); /* the format number after the magic: 1 was written */
	reseal(from);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, elf));
	/* and rewritten by the next store */
	ck_assert_int_eq(ak_layer_cache_store(c, &x.d, idx, elf), 0);
	got = ak_layer_cache_load(c, &x.d, elf);
	ck_assert_ptr_nonnull(got);
	ak_layer_index_free(got);
	ak_layer_index_free(idx);
	ak_layer_cache_close(c);
}
END_TEST

START_TEST(test_damaged_file_ignored_and_rewritten)
{
	struct desc x;
	struct ak_layer_index *idx;
	struct ak_layer_cache *c = cache_with_sample(&x, &idx);
	char path[PATH_MAX + 200];
	file_of(&x, path, sizeof(path));
	off_t size = file_size(path);

	/* any one byte changed, header, entries or checksum */
	for (off_t off = 0; off < size; off += size / 13 + 1) {
		flip_byte(path, off);
		ck_assert_msg(!ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec),
			      "byte %lld changed, yet loaded", (long long)off);
		flip_byte(path, off);
	}
	struct ak_layer_index *got = ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got); /* put back, it loads: the misses were the damage */
	ak_layer_index_free(got);

	/* cut short anywhere, or empty */
	for (off_t len = size - 1; len >= 0; len -= len / 3 + 1) {
		ck_assert_int_eq(truncate(path, len), 0);
		ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	}
	/* a damaged entry, the checksum made right: its facts do not decode */
	ck_assert_int_eq(ak_layer_cache_store(c, &x.d, idx, &ak_elf_facts_codec), 0);
	ck_assert_int_eq(file_size(path), size);
	flip_byte(path, size - 71 - 1); /* the last byte of the last facts */
	reseal(path);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	/* not a regular file: a FIFO must not hang the load */
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	unlink(path);

	/* the next store writes it whole again */
	ck_assert_int_eq(ak_layer_cache_store(c, &x.d, idx, &ak_elf_facts_codec), 0);
	ck_assert_int_eq(file_size(path), size);
	got = ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got);
	check_index_eq(idx, got);
	ak_layer_index_free(got);
	ak_layer_index_free(idx);
	ak_layer_cache_close(c);
}
END_TEST

/* A file as the format describes it, with count entries claimed and body_len bytes
 * of body (zeros); the checksum right. */
static void craft(const struct desc *x, uint64_t count, size_t body_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ak_facts_put(&buf, &len, &cap, "AKLC", 4);
	ak_facts_put_uint(&buf, &len, &cap, 1);
	ak_facts_put_str(&buf, &len, &cap, ak_elf_facts_codec.name);
	ak_facts_put_uint(&buf, &len, &cap, ak_elf_facts_codec.version);
	ak_facts_put_str(&buf, &len, &cap, x->digest);
	ak_facts_put_uint(&buf, &len, &cap, (uint64_t)x->d.size);
	ak_facts_put_uint(&buf, &len, &cap, 0); /* no media type */
	for (int i = 0; i < 4; i++)		/* compression, mismatch, declared, uncompressed */
		ak_facts_put_uint(&buf, &len, &cap, 0);
	ak_facts_put_uint(&buf, &len, &cap, count);
	ak_facts_put_uint(&buf, &len, &cap, body_len);
	char *body = calloc(1, body_len + 71); /* and room for the checksum */
	ck_assert_int_eq(ak_facts_put(&buf, &len, &cap, body, body_len + 71), 0);
	free(body);
	char path[PATH_MAX + 200];
	file_of(x, path, sizeof(path));
	write_file(path, buf, len);
	free(buf);
	reseal(path);
}

START_TEST(test_bounded_reads)
{
	struct ak_layer_cache *c = open_cache(0);
	struct desc x;
	make_desc(&x, "layer", 5000, NULL);
	/* the crafted header is the format: zero entries load */
	craft(&x, 0, 0);
	struct ak_layer_index *got = ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got);
	ak_layer_index_free(got);
	/* entries of type 0 (regular), mode 0, size 0 and no path are refused */
	craft(&x, 2, 12);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	/* more entries than a scan may record, with a body long enough to hold them */
	size_t body = (AK_LAYER_MAX_ENTRIES_DEFAULT + 1ull) * 6;
	craft(&x, AK_LAYER_MAX_ENTRIES_DEFAULT + 1ull, body);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	/* a file past the cap is not read at all (sparse: nothing is written) */
	char path[PATH_MAX + 200];
	file_of(&x, path, sizeof(path));
	ck_assert_int_eq(truncate(path, (off_t)AK_LAYER_CACHE_FILE_MAX + 1), 0);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	ak_layer_cache_close(c);
}
END_TEST

static void set_age(const struct desc *x, time_t when)
{
	char path[PATH_MAX + 200];
	file_of(x, path, sizeof(path));
	struct timespec ts[2] = {{.tv_sec = when}, {.tv_sec = when}};
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool cached(const struct desc *x)
{
	char path[PATH_MAX + 200];
	file_of(x, path, sizeof(path));
	return access(path, F_OK) == 0;
}

START_TEST(test_lru_bound)
{
	struct ak_layer_cache *c = open_cache(0);
	struct ak_layer_index *idx = sample_index();
	struct desc a, b, cc, d;
	make_desc(&a, "a", 1, NULL);
	make_desc(&b, "b", 1, NULL);
	make_desc(&cc, "c", 1, NULL);
	make_desc(&d, "d", 1, NULL);
	ck_assert_int_eq(ak_layer_cache_store(c, &a.d, idx, &ak_elf_facts_codec), 0);
	ck_assert_int_eq(ak_layer_cache_store(c, &b.d, idx, &ak_elf_facts_codec), 0);
	ck_assert_int_eq(ak_layer_cache_store(c, &cc.d, idx, &ak_elf_facts_codec), 0);
	ak_layer_cache_close(c);
	char path[PATH_MAX + 200];
	file_of(&a, path, sizeof(path));
	uint64_t s = (uint64_t)file_size(path); /* each file is this size */
	set_age(&a, 1000);
	set_age(&b, 2000);
	set_age(&cc, 3000);

	/* room for three and a half: a fourth file trims the oldest, down to 90% */
	c = open_cache(s * 7 / 2);
	struct ak_layer_index *got = ak_layer_cache_load(c, &a.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got); /* a is used: now the youngest of the three */
	ak_layer_index_free(got);
	ck_assert_int_eq(ak_layer_cache_store(c, &d.d, idx, &ak_elf_facts_codec), 0);
	ck_assert(cached(&a));
	ck_assert(!cached(&b));
	ck_assert(cached(&cc));
	ck_assert(cached(&d));
	/* the running total goes on: one more trims c, now the oldest */
	struct desc e;
	make_desc(&e, "e", 1, NULL);
	ck_assert_int_eq(ak_layer_cache_store(c, &e.d, idx, &ak_elf_facts_codec), 0);
	ck_assert(!cached(&cc));
	ck_assert(cached(&a) && cached(&d) && cached(&e));
	ak_layer_cache_close(c);

	/* a bound below one file keeps the file just stored, and only it */
	c = open_cache(1);
	struct desc f;
	make_desc(&f, "f", 1, NULL);
	ck_assert_int_eq(ak_layer_cache_store(c, &f.d, idx, &ak_elf_facts_codec), 0);
	ck_assert(cached(&f));
	ck_assert(!cached(&a) && !cached(&d) && !cached(&e));
	ak_layer_cache_close(c);
	ak_layer_index_free(idx);
}
END_TEST

struct racer {
	struct ak_layer_cache *c;
	const struct desc *x;
	const struct ak_layer_index *idx;
	int stored, loaded;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 200; i++) {
		r->stored += ak_layer_cache_store(r->c, &r->x->d, r->idx, &ak_elf_facts_codec) == 0;
		struct ak_layer_index *got =
			ak_layer_cache_load(r->c, &r->x->d, &ak_elf_facts_codec);
		if (got) {
			/* whatever it read was a whole file */
			r->loaded += got->count == r->idx->count;
			ak_layer_index_free(got);
		}
	}
	return NULL;
}

START_TEST(test_concurrent_stores)
{
	struct ak_layer_index *idx = sample_index();
	struct desc x;
	make_desc(&x, "layer", 5000, GZIP_TYPE);
	/* two handles, as two processes would have, and two threads on one of them */
	struct ak_layer_cache *c1 = open_cache(0), *c2 = open_cache(0);
	struct racer r[3] = {{.c = c1, .x = &x, .idx = idx},
			     {.c = c1, .x = &x, .idx = idx},
			     {.c = c2, .x = &x, .idx = idx}};
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(r[i].stored, 200);
		ck_assert_int_eq(r[i].loaded, 200);
	}
	struct ak_layer_index *got = ak_layer_cache_load(c1, &x.d, &ak_elf_facts_codec);
	ck_assert_ptr_nonnull(got);
	check_index_eq(idx, got);
	ak_layer_index_free(got);
	/* one file, no temp file left behind */
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	ck_assert_int_eq(n, 1);
	ak_layer_cache_close(c1);
	ak_layer_cache_close(c2);
	ak_layer_index_free(idx);
}
END_TEST

START_TEST(test_unwritable_dir)
{
	struct ak_layer_index *idx = sample_index();
	struct desc x;
	make_desc(&x, "layer", 5000, GZIP_TYPE);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0500), 0);
	/* root writes whatever the mode: then a directory nobody may write in */
	const char *ro = access(dir, W_OK) == 0 ? "/proc/self/fdinfo" : dir;
	struct ak_layer_cache *c = NULL;
	cleanup_error struct ak_error *err = NULL;
	ck_assert_msg(ak_layer_cache_open(ro, 0, &c, &err) == 0, "%s", err ? err->msg : "");
	ck_assert_int_eq(ak_layer_cache_store(c, &x.d, idx, &ak_elf_facts_codec), -1);
	ck_assert_ptr_null(ak_layer_cache_load(c, &x.d, &ak_elf_facts_codec));
	ak_layer_cache_close(c);
	if (ro == dir) {
		/* below it, the cache cannot even be made: an error the caller may ignore */
		char sub[PATH_MAX + 32];
		snprintf(sub, sizeof(sub), "%s/layers", dir);
		ck_assert_int_eq(ak_layer_cache_open(sub, 0, &c, &err), -1);
		ck_assert_ptr_nonnull(strstr(err->msg, "cannot create the layer cache"));
		ck_assert_int_eq(err->errnum, EACCES);
	}
	ak_layer_index_free(idx);
}
END_TEST

/* $XDG_CACHE_HOME/archkit/layers when it is absolute, ~/.cache/archkit/layers else. */
START_TEST(test_default_dir)
{
	char xdg[PATH_MAX + 16], home[PATH_MAX + 16];
	snprintf(xdg, sizeof(xdg), "%s/xdg", root);
	snprintf(home, sizeof(home), "%s/home", root);
	struct desc x;
	make_desc(&x, "layer", 5000, NULL);
	struct ak_layer_index empty = {0};
	char path[2 * PATH_MAX];
	for (int round = 0; round < 2; round++) {
		setenv("XDG_CACHE_HOME", round ? "relative/dir" : xdg, 1);
		setenv("HOME", home, 1);
		struct ak_layer_cache *c = NULL;
		ck_assert_int_eq(ak_layer_cache_open(NULL, 0, &c, NULL), 0);
		ck_assert_int_eq(ak_layer_cache_store(c, &x.d, &empty, &ak_elf_facts_codec), 0);
		ak_layer_cache_close(c);
		snprintf(path, sizeof(path), "%s/%s/archkit/layers/%s", round ? home : xdg,
			 round ? ".cache" : "", strchr(x.digest, ':') + 1);
		ck_assert_msg(access(path, F_OK) == 0, "no '%s'", path);
		snprintf(path, sizeof(path), "%s/%s/archkit/layers", round ? home : xdg,
			 round ? ".cache" : "");
		struct stat st;
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_uint_eq(st.st_mode & 0777, 0700);
	}
}
END_TEST

START_TEST(test_codec_numbers)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	const uint64_t v[] = {0, 127, 128, 300, UINT32_MAX, UINT64_MAX};
	for (size_t i = 0; i < 6; i++)
		ck_assert_int_eq(ak_facts_put_uint(&buf, &len, &cap, v[i]), 0);
	ck_assert_int_eq(ak_facts_put_str(&buf, &len, &cap, NULL), 0);
	ck_assert_int_eq(ak_facts_put_str(&buf, &len, &cap, "ab"), 0);
	struct ak_facts_reader r = {.p = (unsigned char *)buf, .left = len};
	for (size_t i = 0; i < 6; i++)
		ck_assert_uint_eq(ak_facts_get_uint(&r, UINT64_MAX), v[i]);
	const char *s;
	size_t n;
	ck_assert_int_eq(ak_facts_get_str(&r, 10, &s, &n), 0);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(ak_facts_get_str(&r, 10, &s, &n), 0);
	ck_assert(n == 2 && !memcmp(s, "ab", 2));
	ck_assert(!r.bad && r.left == 0);
	ck_assert_uint_eq(ak_facts_get_uint(&r, UINT64_MAX), 0); /* past the end */
	ck_assert(r.bad);
	/* eleven bytes, or a tenth byte above 1: more than 64 bits */
	const unsigned char over[][11] = {
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	};
	for (int i = 0; i < 2; i++) {
		r = (struct ak_facts_reader){.p = over[i], .left = sizeof(over[i])};
		ak_facts_get_uint(&r, UINT64_MAX);
		ck_assert(r.bad);
	}
	r = (struct ak_facts_reader){.p = (const unsigned char *)"\x80\x02", .left = 2};
	ck_assert_uint_eq(ak_facts_get_uint(&r, 255), 0); /* 256 > max */
	ck_assert(r.bad);
	r = (struct ak_facts_reader){.p = (const unsigned char *)"\x03"
								 "a\0",
				     .left = 3};
	ck_assert_int_eq(ak_facts_get_str(&r, 10, &s, &n), -1); /* a NUL inside */
	free(buf);
}
END_TEST

Suite *layer_cache_suite(void)
{
	Suite *s = suite_create("layer_cache");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_other_blob_codec_or_version_misses);
	tcase_add_test(tc, test_damaged_file_ignored_and_rewritten);
	tcase_add_test(tc, test_bounded_reads);
	tcase_add_test(tc, test_lru_bound);
	tcase_add_test(tc, test_concurrent_stores);
	tcase_add_test(tc, test_unwritable_dir);
	tcase_add_test(tc, test_default_dir);
	tcase_add_test(tc, test_codec_numbers);
	suite_add_tcase(s, tc);
	return s;
}
