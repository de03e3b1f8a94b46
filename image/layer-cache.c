/* The layer facts cache. A file per layer digest, read whole and checked before a byte
 * of it is believed; written to a temp file and renamed, so a reader sees an old file
 * or a new one, never half of one. The bound is kept with a running total: the
 * directory is listed once per process, at the first store. */
#include "image/layer-cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "image/decompress.h"

/* File layout, numbers as unsigned LEB128, strings as ak_facts_put_str writes them:
 *   "AKLC" format codec-name codec-version digest blob-size declared
 *   compression media-type-mismatch index-declared uncompressed-bytes count body-length
 *   body: count entries of type mode size path link facts (length + 1, 0 for none)
 *   the sha256 of all that, as "sha256:<hex>" */
#define CACHE_MAGIC "AKLC"
#define CACHE_FORMAT 1u
#define CHECKSUM_LEN 71 /* "sha256:" and 64 hex digits */
#define CODEC_NAME_MAX 32
#define MIN_ENTRY_BYTES 6 /* type, mode, size, a path of one byte, no link, no facts */
/* a temp file older than this is a crashed writer's: the next listing removes it */
#define STALE_TMP_SECONDS 3600
/* a full directory is trimmed to 90% of its bound, so it is not trimmed on every store */
#define TRIM_TO(max) ((max) - (max) / 10)

struct cache_file {
	char name[AK_DIGEST_MAX];
	uint64_t size;
	struct timespec mtime;
};

struct ak_layer_cache {
	int dirfd;
	uint64_t max_bytes;
	pthread_mutex_t lock;
	/* what this process knows of the directory: listed once, then kept up to date by
	 * its own stores (another process's files count from its next listing) */
	bool listed;
	uint64_t total;
	struct cache_file *files;
	size_t nfiles, cap;
	unsigned long tmp_seq;
};

/* ---- the codec helpers ---- */

int ak_facts_put(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (n > SIZE_MAX - *len)
		return -1;
	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap : 256;
		while (ncap < *len + n)
			ncap = ncap > SIZE_MAX / 2 ? *len + n : ncap * 2;
		char *nb = realloc(*buf, ncap);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	if (n)
		memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

int ak_facts_put_uint(char **buf, size_t *len, size_t *cap, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;
	do {
		b[n] = v & 0x7f;
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	return ak_facts_put(buf, len, cap, b, n);
}

int ak_facts_put_str(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (ak_facts_put_uint(buf, len, cap, s ? (uint64_t)n + 1 : 0) < 0)
		return -1;
	return s ? ak_facts_put(buf, len, cap, s, n) : 0;
}

const void *ak_facts_get(struct ak_facts_reader *r, size_t n)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	const void *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint64_t ak_facts_get_uint(struct ak_facts_reader *r, uint64_t max)
{
	uint64_t v = 0;
	for (unsigned shift = 0; !r->bad && r->left > 0 && shift < 64; shift += 7) {
		unsigned char b = *r->p++;
		r->left--;
		/* the tenth byte holds bit 63 alone: more would overflow */
		if (shift == 63 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v <= max ? v : (r->bad = true, 0);
	}
	r->bad = true;
	return 0;
}

int ak_facts_get_str(struct ak_facts_reader *r, size_t max, const char **s, size_t *n)
{
	*s = NULL;
	*n = 0;
	uint64_t n1 = ak_facts_get_uint(r, (uint64_t)max + 1);
	if (r->bad)
		return -1;
	if (n1 == 0)
		return 0;
	const char *p = ak_facts_get(r, (size_t)n1 - 1);
	if (!p || memchr(p, '\0', (size_t)n1 - 1)) {
		r->bad = true;
		return -1;
	}
	*s = p;
	*n = (size_t)n1 - 1;
	return 0;
}

/* ---- open, close ---- */

/* $XDG_CACHE_HOME/archkit/layers, or ~/.cache/archkit/layers (XDG: a relative
 * XDG_CACHE_HOME is to be ignored). */
static int default_dir(char *out, size_t size, struct ak_error **err)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	int n;
	if (xdg && xdg[0] == '/') {
		n = snprintf(out, size, "%s/archkit/layers", xdg);
	} else {
		const char *home = getenv("HOME");
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/')
			return ak_error_set(err, AK_EXIT_ENV,
					    "no layer cache directory: neither $XDG_CACHE_HOME nor "
					    "$HOME is set (see --cache-dir)");
		n = snprintf(out, size, "%s/.cache/archkit/layers", home);
	}
	if (n < 0 || (size_t)n >= size)
		return ak_error_set(err, AK_EXIT_ENV, "layer cache directory: path too long");
	return 0;
}

/* The directory and its parents; the directory itself private, as XDG asks. */
static int make_dir(char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return -ENOENT;
	*slash = '\0';
	int r = ak_mkdir_p(path);
	*slash = '/';
	if (r < 0)
		return r;
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -errno;
}

int ak_layer_cache_open(const char *dir, uint64_t max_bytes, struct ak_layer_cache **out,
			struct ak_error **err)
{
	*out = NULL;
	char path[PATH_MAX];
	if (!dir) {
		if (default_dir(path, sizeof(path), err) < 0)
			return -1;
	} else if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		return ak_error_set(err, AK_EXIT_ENV, "layer cache '%.80s…': path too long", dir);
	}
	int r = make_dir(path);
	if (r < 0)
		return ak_error_errno(err, AK_EXIT_ENV, -r, "cannot create the layer cache '%s'",
				      path);
	cleanup_fd int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open the layer cache '%s'",
				      path);
	struct ak_layer_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	c->dirfd = steal_fd(&fd);
	c->max_bytes = max_bytes ? max_bytes : AK_LAYER_CACHE_MAX_BYTES_DEFAULT;
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void ak_layer_cache_close(struct ak_layer_cache *c)
{
	if (!c)
		return;
	close(c->dirfd);
	pthread_mutex_destroy(&c->lock);
	free(c->files);
	free(c);
}

/* ---- names ---- */

/* The file of a digest: its hex (sha256 and sha512 hex differ in length). */
static int file_name(const struct ak_descriptor *d, char name[AK_DIGEST_MAX])
{
	if (!d || !d->digest || ak_digest_validate(d->digest, NULL) < 0 || d->size < 0)
		return -1;
	snprintf(name, AK_DIGEST_MAX, "%s", strchr(d->digest, ':') + 1);
	return 0;
}

static bool is_cache_name(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return !s[n] && (n == 64 || n == 128);
}

/* The compression d's media type declares, plus one; 0 when it declares none. */
static unsigned declared_code(const struct ak_descriptor *d)
{
	enum ak_compression c;
	return ak_layer_media_type_compression(d->media_type, &c) ? (unsigned)c + 1 : 0;
}

/* ---- load ---- */

static bool same_str(const char *s, size_t n, const char *want)
{
	return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* A path as the walker records it: normalised, not the root. */
static bool normal_path(const char *s, size_t n)
{
	char norm[AK_LAYER_PATH_MAX];
	char raw[AK_LAYER_PATH_MAX];
	if (n == 0 || n >= sizeof(raw))
		return false;
	memcpy(raw, s, n);
	raw[n] = '\0';
	return ak_layer_path_normalise(raw, norm, sizeof(norm)) == 0 && strcmp(norm, raw) == 0;
}

static int parse_entry(struct ak_facts_reader *r, struct ak_layer_index *idx,
		       const struct ak_facts_codec *codec)
{
	struct ak_layer_entry *e = &idx->entries[idx->count];
	e->type = (enum ak_entry_type)ak_facts_get_uint(r, AK_ENTRY_OPAQUE);
	e->mode = (uint32_t)ak_facts_get_uint(r, 07777);
	e->size = ak_facts_get_uint(r, (uint64_t)INT64_MAX);
	const char *path, *link;
	size_t plen, llen;
	if (ak_facts_get_str(r, AK_LAYER_PATH_MAX - 1, &path, &plen) < 0 ||
	    !normal_path(path, plen) ||
	    ak_facts_get_str(r, AK_LAYER_PATH_MAX - 1, &link, &llen) < 0)
		return -1;
	bool linked = e->type == AK_ENTRY_SYMLINK || e->type == AK_ENTRY_HARDLINK;
	if (linked != (link != NULL) || (e->type == AK_ENTRY_HARDLINK && !normal_path(link, llen)))
		return -1;
	if (!(e->path = ak_layer_arena_strndup(idx->arena, path, plen)) ||
	    (link && !(e->link = ak_layer_arena_strndup(idx->arena, link, llen))))
		return -1;
	uint64_t flen = ak_facts_get_uint(r, r->left + 1);
	if (r->bad)
		return -1;
	idx->count++; /* from here its facts are the index's to free */
	if (flen == 0)
		return 0;
	const void *facts = ak_facts_get(r, (size_t)flen - 1);
	if (!facts || e->type != AK_ENTRY_REGULAR)
		return -1;
	e->facts = codec->decode(facts, (size_t)flen - 1);
	return e->facts ? 0 : -1;
}

/* The index in data[0..len) (checksum already checked), or NULL when it is not the
 * one d and codec ask for. */
static struct ak_layer_index *parse(const unsigned char *data, size_t len,
				    const struct ak_descriptor *d,
				    const struct ak_facts_codec *codec)
{
	if (len < 4 || memcmp(data, CACHE_MAGIC, 4) != 0)
		return NULL;
	struct ak_facts_reader r = {.p = data + 4, .left = len - 4};
	const char *s;
	size_t n;
	if (ak_facts_get_uint(&r, UINT32_MAX) != CACHE_FORMAT ||
	    ak_facts_get_str(&r, CODEC_NAME_MAX, &s, &n) < 0 || !same_str(s, n, codec->name) ||
	    ak_facts_get_uint(&r, UINT32_MAX) != codec->version ||
	    ak_facts_get_str(&r, AK_DIGEST_MAX, &s, &n) < 0 || !same_str(s, n, d->digest) ||
	    ak_facts_get_uint(&r, (uint64_t)AK_BLOB_SIZE_MAX) != (uint64_t)d->size ||
	    ak_facts_get_uint(&r, 255) != declared_code(d) || r.bad)
		return NULL;
	enum ak_compression comp = (enum ak_compression)ak_facts_get_uint(&r, AK_COMPRESSION_ZSTD);
	bool mismatch = ak_facts_get_uint(&r, 1);
	enum ak_compression declared =
		(enum ak_compression)ak_facts_get_uint(&r, AK_COMPRESSION_ZSTD);
	uint64_t uncompressed = ak_facts_get_uint(&r, UINT64_MAX);
	uint64_t count = ak_facts_get_uint(&r, AK_LAYER_MAX_ENTRIES_DEFAULT);
	uint64_t body = ak_facts_get_uint(&r, SIZE_MAX);
	if (r.bad || body != r.left || count > body / MIN_ENTRY_BYTES)
		return NULL;
	cleanup_layer_index struct ak_layer_index *idx = calloc(1, sizeof(*idx));
	if (!idx || !(idx->arena = ak_layer_arena_new()) ||
	    !(idx->entries = calloc(count ? count : 1, sizeof(*idx->entries))))
		return NULL;
	idx->free_facts = codec->free_facts;
	idx->compression = comp;
	idx->media_type_mismatch = mismatch;
	idx->declared = declared;
	idx->uncompressed_bytes = uncompressed;
	while (idx->count < count)
		if (parse_entry(&r, idx, codec) < 0)
			return NULL;
	if (r.left != 0)
		return NULL;
	return steal_pointer(&idx);
}

static bool checksum_ok(const unsigned char *data, size_t len)
{
	char sum[AK_DIGEST_MAX];
	return len > CHECKSUM_LEN && ak_digest_sha256(data, len - CHECKSUM_LEN, sum) == 0 &&
	       memcmp(sum, data + len - CHECKSUM_LEN, CHECKSUM_LEN) == 0;
}

struct ak_layer_index *ak_layer_cache_load(struct ak_layer_cache *c, const struct ak_descriptor *d,
					   const struct ak_facts_codec *codec)
{
	char name[AK_DIGEST_MAX];
	if (!c || !codec || file_name(d, name) < 0)
		return NULL;
	/* O_NONBLOCK: a FIFO put in its place must not hang the probe */
	cleanup_fd int fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= CHECKSUM_LEN ||
	    st.st_size > (off_t)AK_LAYER_CACHE_FILE_MAX)
		return NULL;
	size_t len = (size_t)st.st_size;
	cleanup_free unsigned char *data = malloc(len);
	if (!data || ak_read_full(fd, data, len) != (long)len || !checksum_ok(data, len))
		return NULL;
	struct ak_layer_index *idx = parse(data, len - CHECKSUM_LEN, d, codec);
	/* least recently used is by mtime: a hit makes the file young again */
	if (idx)
		futimens(fd, NULL);
	return idx;
}

/* ---- store, and the bound ---- */

static int encode_body(const struct ak_layer_index *idx, const struct ak_facts_codec *codec,
		       char **body, size_t *blen, size_t *bcap)
{
	cleanup_free char *facts = NULL; /* one file's, reused: its length goes first */
	size_t fcap = 0;
	for (size_t i = 0; i < idx->count; i++) {
		const struct ak_layer_entry *e = &idx->entries[i];
		size_t flen = 0;
		if (ak_facts_put_uint(body, blen, bcap, (uint64_t)e->type) < 0 ||
		    ak_facts_put_uint(body, blen, bcap, e->mode & 07777) < 0 ||
		    ak_facts_put_uint(body, blen, bcap, e->size) < 0 ||
		    ak_facts_put_str(body, blen, bcap, e->path) < 0 ||
		    ak_facts_put_str(body, blen, bcap, e->link) < 0 ||
		    (e->facts && codec->encode(e->facts, &facts, &flen, &fcap) < 0) ||
		    ak_facts_put_uint(body, blen, bcap, e->facts ? (uint64_t)flen + 1 : 0) < 0 ||
		    ak_facts_put(body, blen, bcap, facts, flen) < 0)
			return -1;
	}
	return 0;
}

static int encode(const struct ak_descriptor *d, const struct ak_layer_index *idx,
		  const struct ak_facts_codec *codec, char **buf, size_t *len)
{
	size_t cap = 0;
	cleanup_free char *body = NULL;
	size_t blen = 0, bcap = 0;
	char sum[AK_DIGEST_MAX];
	*buf = NULL;
	*len = 0;
	int r = encode_body(idx, codec, &body, &blen, &bcap);
	r |= ak_facts_put(buf, len, &cap, CACHE_MAGIC, 4);
	r |= ak_facts_put_uint(buf, len, &cap, CACHE_FORMAT);
	r |= ak_facts_put_str(buf, len, &cap, codec->name);
	r |= ak_facts_put_uint(buf, len, &cap, codec->version);
	r |= ak_facts_put_str(buf, len, &cap, d->digest);
	r |= ak_facts_put_uint(buf, len, &cap, (uint64_t)d->size);
	r |= ak_facts_put_uint(buf, len, &cap, declared_code(d));
	r |= ak_facts_put_uint(buf, len, &cap, (uint64_t)idx->compression);
	r |= ak_facts_put_uint(buf, len, &cap, idx->media_type_mismatch);
	r |= ak_facts_put_uint(buf, len, &cap, (uint64_t)idx->declared);
	r |= ak_facts_put_uint(buf, len, &cap, idx->uncompressed_bytes);
	r |= ak_facts_put_uint(buf, len, &cap, idx->count);
	r |= ak_facts_put_uint(buf, len, &cap, blen);
	r |= ak_facts_put(buf, len, &cap, body, blen);
	if (r == 0 && (*len > AK_LAYER_CACHE_FILE_MAX - CHECKSUM_LEN ||
		       ak_digest_sha256(*buf, *len, sum) < 0 ||
		       ak_facts_put(buf, len, &cap, sum, CHECKSUM_LEN) < 0))
		r = -1;
	if (r < 0) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

static struct cache_file *find_file(struct ak_layer_cache *c, const char *name)
{
	for (size_t i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i].name, name) == 0)
			return &c->files[i];
	return NULL;
}

static struct cache_file *add_file(struct ak_layer_cache *c, const char *name)
{
	if (c->nfiles == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct cache_file *f = realloc(c->files, ncap * sizeof(*f));
		if (!f)
			return NULL;
		c->files = f;
		c->cap = ncap;
	}
	struct cache_file *f = &c->files[c->nfiles++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	return f;
}

/* The one listing: every cache file's size and age; crashed writers' temp files go. */
static void list_dir(struct ak_layer_cache *c)
{
	c->listed = true;
	int fd = dup(c->dirfd);
	cleanup_dir DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(dir))) {
		struct stat st;
		if (fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (ak_str_has_prefix(de->d_name, ".tmp.")) {
			if (now - st.st_mtime > STALE_TMP_SECONDS)
				unlinkat(c->dirfd, de->d_name, 0);
			continue;
		}
		struct cache_file *f;
		if (!is_cache_name(de->d_name) || !(f = add_file(c, de->d_name)))
			continue;
		f->size = (uint64_t)st.st_size;
		f->mtime = st.st_mtim;
		c->total += f->size;
	}
}

static int cmp_age(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Over the bound: oldest first, down to 90% of it, never the file just stored. Ages
 * and sizes are read again first: other processes use and replace files too. */
static void trim(struct ak_layer_cache *c, const char *keep)
{
	if (c->total <= c->max_bytes)
		return;
	size_t n = 0;
	c->total = 0;
	for (size_t i = 0; i < c->nfiles; i++) {
		struct stat st;
		if (fstatat(c->dirfd, c->files[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone: another process trimmed it */
		c->files[n] = c->files[i];
		c->files[n].size = (uint64_t)st.st_size;
		c->files[n].mtime = st.st_mtim;
		c->total += c->files[n].size;
		n++;
	}
	c->nfiles = n;
	qsort(c->files, c->nfiles, sizeof(*c->files), cmp_age);
	uint64_t goal = TRIM_TO(c->max_bytes);
	size_t kept = 0;
	for (size_t i = 0; i < c->nfiles; i++) {
		struct cache_file *f = &c->files[i];
		if (c->total > goal && strcmp(f->name, keep) != 0 &&
		    (unlinkat(c->dirfd, f->name, 0) == 0 || errno == ENOENT)) {
			c->total -= f->size;
			continue;
		}
		c->files[kept++] = *f;
	}
	c->nfiles = kept;
}

/* Rename the temp file into place and count it; under the lock. */
static int install(struct ak_layer_cache *c, const char *tmp, const char *name, uint64_t size)
{
	if (!c->listed)
		list_dir(c);
	if (renameat(c->dirfd, tmp, c->dirfd, name) < 0)
		return -1;
	struct cache_file *f = find_file(c, name);
	if (f)
		c->total -= f->size < c->total ? f->size : c->total;
	else if (!(f = add_file(c, name)))
		return 0; /* stored, just not counted */
	f->size = size;
	clock_gettime(CLOCK_REALTIME, &f->mtime);
	c->total += size;
	trim(c, name);
	return 0;
}

int ak_layer_cache_store(struct ak_layer_cache *c, const struct ak_descriptor *d,
			 const struct ak_layer_index *idx, const struct ak_facts_codec *codec)
{
	char name[AK_DIGEST_MAX];
	if (!c || !codec || !idx || strlen(codec->name) > CODEC_NAME_MAX ||
	    idx->count > AK_LAYER_MAX_ENTRIES_DEFAULT || file_name(d, name) < 0)
		return -1;
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (encode(d, idx, codec, &buf, &len) < 0)
		return -1;
	/* a name of its own per writer: two threads or processes storing one digest each
	 * rename a whole file, and the last one stays */
	char tmp[AK_DIGEST_MAX + 64];
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 8; tries++) {
		pthread_mutex_lock(&c->lock);
		unsigned long seq = c->tmp_seq++;
		pthread_mutex_unlock(&c->lock);
		snprintf(tmp, sizeof(tmp), ".tmp.%ld.%lu.%.16s", (long)getpid(), seq, name);
		fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			return -1; /* not writable, full: the probe goes on without */
	}
	if (fd < 0)
		return -1;
	int r = ak_write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -1;
	if (r == 0) {
		pthread_mutex_lock(&c->lock);
		r = install(c, tmp, name, len);
		pthread_mutex_unlock(&c->lock);
	}
	if (r < 0) {
		unlinkat(c->dirfd, tmp, 0);
		return -1;
	}
	return 0;
}
