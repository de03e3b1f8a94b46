/* Archives (oci-archive, docker-archive, buildx type=tar, stdin) are extracted into a
 * private directory and then read as directories. Extraction trusts nothing: names are
 * normalised and refused when absolute or with "..", every directory is walked with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS so no entry lands outside, only regular files,
 * directories and links that stay inside are created, and nothing keeps setuid bits.
 * An absolute symlink in a buildx linux_* folder means that folder's root; elsewhere it
 * is held back, to be dropped (an image layout) or made relative to the archive's root
 * (a root filesystem tar), so no link points out. */
#include "image/source.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/layer.h"

#define ENTRIES_MAX 4000000
#define NAME_MAX_LEN 3000
/* A compressed archive may write at most this many times the bytes read from it, past
 * the first GiB: a small tar.gz of zeros must not fill TMPDIR (a decompression bomb).
 * Image layers are compressed already, so honest archives stay near 1:1. */
#define EXTRACT_FLOOR ((int64_t)1 << 30)
#define EXTRACT_RATIO 100

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define cleanup_archive __attribute__((cleanup(archive_freep)))

/* libarchive's message, never NULL: a header cut short (a GNU long name or long link
 * entry at the end of the input) fails with no message at all. */
static const char *archive_why(struct archive *a, const char *fallback)
{
	const char *msg = archive_error_string(a);
	return msg && *msg ? msg : fallback;
}

/* Normalise an entry name into out ("" means the root), refusing what could lead
 * outside: an absolute name, any ".." (even one that stays inside). */
static int normalise(const char *file, const char *name, char *out, size_t outsz,
		     struct ak_error **err)
{
	if (name[0] == '/')
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': archive entry '%.200s' is an absolute path", file, name);
	for (const char *p = name; *p;) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return ak_error_set(
				err, AK_EXIT_ENV,
				"'%s': archive entry '%.200s' leads outside the archive", file,
				name);
		if (len > NAME_MAX)
			return ak_error_set(err, AK_EXIT_ENV, "'%s': archive entry name too long",
					    file);
		p = *end ? end + 1 : end;
	}
	if (ak_layer_path_normalise(name, out, outsz) < 0)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': archive entry name too long", file);
	return 0;
}

static int open_dir_beneath(int dirfd, const char *name)
{
	return ak_openat_beneath(dirfd, name, O_RDONLY | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
}

/* Open (creating as needed) the directory holding clean's last component. */
static int open_parent(int rootfd, const char *file, char *clean, const char **base,
		       struct ak_error **err)
{
	cleanup_fd int cur = dup(rootfd);
	if (cur < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "dup");
	char *p = clean;
	for (;;) {
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		int next = open_dir_beneath(cur, p);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, p, 0700) < 0 && errno != EEXIST) {
				*slash = '/';
				return ak_error_errno(err, AK_EXIT_ENV, errno,
						      "'%s': cannot create '%.200s'", file, clean);
			}
			next = open_dir_beneath(cur, p);
		}
		*slash = '/';
		if (next < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno,
					      "'%s': archive entry '%.200s' goes through a "
					      "non-directory",
					      file, clean);
		close(cur);
		cur = next;
		p = slash + 1;
	}
	*base = p;
	return steal_fd(&cur);
}

/* Is a link target inside the root once joined to the link's directory? Lexical: the
 * kernel's RESOLVE_BENEATH guards every later open anyway. */
static bool link_stays_inside(const char *clean, const char *target)
{
	char joined[NAME_MAX_LEN + PATH_MAX + 2], norm[sizeof(joined)];
	const char *slash = strrchr(clean, '/');
	snprintf(joined, sizeof(joined), "%.*s/%s", slash ? (int)(slash - clean) : 0, clean,
		 target);
	return ak_layer_path_normalise(joined, norm, sizeof(norm)) == 0;
}

/* target, absolute, made relative to the root whose subtree in_tree is (a path below
 * that root); false when it does not fit. */
static bool relative_to_root(const char *in_tree, const char *target, char *out, size_t outsz)
{
	int depth = 0;
	for (const char *p = in_tree; *p; p++)
		if (*p == '/')
			depth++;
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < depth && n + 4 < outsz; i++)
		n += (size_t)snprintf(out + n, outsz - n, "../");
	while (*target == '/')
		target++;
	if (n + strlen(target) + 2 >= outsz)
		return false;
	snprintf(out + n, outsz - n, "%s", *target ? target : ".");
	return true;
}

/* Make the link clean -> target below rootfd; one that would point outside is dropped.
 * replace: it replaces what an earlier entry put there, as tar does. */
static int make_link(int rootfd, const char *file, char *clean, const char *target, bool replace,
		     struct ak_error **err)
{
	if (!link_stays_inside(clean, target))
		return 0; /* dropped: it would point outside */
	const char *base;
	cleanup_fd int parent = open_parent(rootfd, file, clean, &base, err);
	if (parent < 0)
		return -1;
	if (replace)
		unlinkat(parent, base, 0);
	if (symlinkat(target, parent, base) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "'%s': cannot create link '%.200s'",
				      file, clean);
	return 0;
}

/* Absolute symlinks outside linux_* folders, in archive order as "path\0target\0". */
struct ak_archive_links {
	char *buf;
	size_t len, cap;
};
#define HELD_BYTES_MAX (64u << 20) /* past it, further ones are dropped */

/* Hold an absolute link back until the archive is known to be a root filesystem; what
 * an earlier entry put at its path goes now, as the link would replace it. */
static int hold_link(int rootfd, const char *file, char *clean, const char *target,
		     struct ak_archive_links *held, struct ak_error **err)
{
	size_t a = strlen(clean) + 1, b = strlen(target) + 1;
	if (!held || held->len + a + b > HELD_BYTES_MAX)
		return 0; /* dropped */
	struct stat st;
	cleanup_fd int fd =
		ak_openat_beneath(rootfd, clean, O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
	if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
		const char *base;
		cleanup_fd int parent = open_parent(rootfd, file, clean, &base, NULL);
		if (parent >= 0)
			unlinkat(parent, base, 0);
	}
	if (held->len + a + b > held->cap) {
		size_t cap = held->cap ? held->cap : 4096;
		while (cap < held->len + a + b)
			cap *= 2;
		held->buf = ak_xrealloc(held->buf, cap);
		held->cap = cap;
	}
	memcpy(held->buf + held->len, clean, a);
	memcpy(held->buf + held->len + a, target, b);
	held->len += a + b;
	return 0;
}

static int extract_symlink(int rootfd, const char *file, char *clean, const char *target,
			   struct ak_archive_links *held, struct ak_error **err)
{
	char rewritten[PATH_MAX];
	if (target[0] == '/') {
		/* inside a buildx linux_* folder it means that folder's root */
		if (!ak_str_has_prefix(clean, "linux_") || !strchr(clean, '/'))
			return hold_link(rootfd, file, clean, target, held, err);
		if (!relative_to_root(strchr(clean, '/') + 1, target, rewritten, sizeof(rewritten)))
			return 0;
		target = rewritten;
	}
	return make_link(rootfd, file, clean, target, true, err);
}

int ak_archive_links_make(const char *dir, const struct ak_archive_links *held,
			  struct ak_error **err)
{
	if (!held || !held->len)
		return 0;
	cleanup_fd int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", dir);
	size_t n = 0;
	cleanup_free size_t *at = NULL;
	for (size_t off = 0; off < held->len; n++) {
		ak_grow_one(&at, n, sizeof(*at));
		at[n] = off;
		off += strlen(held->buf + off) + 1;
		off += strlen(held->buf + off) + 1;
	}
	/* last first: of two links at one path, the later wins */
	while (n-- > 0) {
		char clean[NAME_MAX_LEN], rewritten[PATH_MAX];
		snprintf(clean, sizeof(clean), "%s", held->buf + at[n]);
		const char *target = held->buf + at[n] + strlen(clean) + 1;
		/* a later entry that took the path, or a link among its parents, wins */
		struct ak_error *e = NULL;
		const char *base;
		struct stat st;
		cleanup_fd int parent = open_parent(rootfd, dir, clean, &base, &e);
		ak_error_free(e);
		if (parent < 0 || fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    !relative_to_root(clean, target, rewritten, sizeof(rewritten)))
			continue;
		if (make_link(rootfd, dir, clean, rewritten, false, err) < 0)
			return -1;
	}
	return 0;
}

void ak_archive_links_free(struct ak_archive_links *held)
{
	if (!held)
		return;
	free(held->buf);
	free(held);
}

static int create_file(int rootfd, const char *file, char *clean, mode_t mode,
		       struct ak_error **err)
{
	const char *base;
	cleanup_fd int parent = open_parent(rootfd, file, clean, &base, err);
	if (parent < 0)
		return -1;
	struct stat st;
	if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* a later entry replaces an earlier one, as tar does; never a directory */
		if (S_ISDIR(st.st_mode))
			return ak_error_set(err, AK_EXIT_ENV,
					    "'%s': archive entry '%.200s' replaces a directory",
					    file, clean);
		unlinkat(parent, base, 0);
	}
	int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			(mode & 0755) | 0600);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "'%s': cannot create '%.200s'", file,
				      clean);
	return fd;
}

/* Add n to the bytes the extraction wrote; refuse past EXTRACT_RATIO times what was read.
 */
static int count_written(struct archive *a, int64_t *written, int64_t n, const char *file,
			 struct ak_error **err)
{
	*written += n;
	if (*written > EXTRACT_FLOOR && *written / EXTRACT_RATIO > archive_filter_bytes(a, -1))
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s': expands more than %d times past %lld bytes "
				    "(a decompression bomb?)",
				    file, EXTRACT_RATIO, (long long)EXTRACT_FLOOR);
	return 0;
}

/* Write the entry's data into fd, holes left as holes, counting into *written the bytes
 * written so far by the whole extraction to stop a bomb before it fills the disk. */
static int copy_data(struct archive *a, struct archive_entry *e, int fd, const char *file,
		     const char *clean, int64_t *written, struct ak_error **err)
{
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return ak_error_set(err, AK_EXIT_ENV, "'%s': cannot extract '%.200s': %s",
					    file, clean, archive_why(a, "damaged data"));
		if (count_written(a, written, (int64_t)len, file, err) < 0)
			return -1;
		if (lseek(fd, off, SEEK_SET) < 0 || ak_write_all(fd, buf, len) < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno,
					      "'%s': cannot write '%.200s'", file, clean);
	}
	/* a sparse file may end in a hole */
	if (archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "'%s': cannot write '%.200s'", file,
				      clean);
	return 0;
}

static int extract_entry(struct archive *a, struct archive_entry *e, int rootfd, const char *file,
			 int64_t *written, struct ak_archive_links *held, struct ak_error **err)
{
	const char *name = archive_entry_pathname(e);
	char clean[NAME_MAX_LEN];
	if (!name)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': archive entry without a name", file);
	if (normalise(file, name, clean, sizeof(clean), err) < 0)
		return -1;
	if (!clean[0])
		return 0; /* "./" itself */
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (hardlink) {
		/* The target is opened beneath the root first (a plain linkat would resolve
		 * it without the RESOLVE_BENEATH guard), then linked through /proc/self/fd,
		 * so a thousand links to one big file cost no space; a copy is the
		 * fallback. */
		char target[NAME_MAX_LEN];
		if (normalise(file, hardlink, target, sizeof(target), err) < 0)
			return -1;
		cleanup_fd int in = ak_source_openat(rootfd, target, O_RDONLY | O_NONBLOCK, err);
		if (in < 0)
			return ak_error_prefix(err, "'%s': hard link '%.200s'", file, clean);
		struct stat st;
		if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
			return 0;
		const char *base;
		cleanup_fd int dir = open_parent(rootfd, file, clean, &base, err);
		if (dir < 0)
			return -1;
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", in);
		if (linkat(AT_FDCWD, proc, dir, base, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		cleanup_fd int out = create_file(rootfd, file, clean, st.st_mode, err);
		if (out < 0)
			return -1;
		char buf[65536];
		long r;
		while ((r = ak_read_full(in, buf, sizeof(buf))) > 0) {
			/* copies multiply: a thousand links to one big file are a bomb */
			if (count_written(a, written, r, file, err) < 0)
				return -1;
			if (ak_write_all(out, buf, (size_t)r) < 0)
				return ak_error_errno(err, AK_EXIT_ENV, errno,
						      "'%s': cannot write '%.200s'", file, clean);
		}
		return 0;
	}
	if (type == AE_IFDIR) {
		char path[NAME_MAX_LEN + 4];
		snprintf(path, sizeof(path), "%s/.", clean);
		const char *base;
		cleanup_fd int fd = open_parent(rootfd, file, path, &base, err);
		return fd < 0 ? -1 : 0;
	}
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		return target ? extract_symlink(rootfd, file, clean, target, held, err) : 0;
	}
	if (type != AE_IFREG)
		return 0; /* devices, fifos, sockets: nothing probe needs */
	cleanup_fd int fd = create_file(rootfd, file, clean, archive_entry_perm(e), err);
	if (fd < 0)
		return -1;
	return copy_data(a, e, fd, file, clean, written, err);
}

static int extract(const char *file, int rootfd, struct ak_archive_links *held,
		   struct ak_error **err)
{
	cleanup_archive struct archive *a = archive_read_new();
	if (!a)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	int r = strcmp(file, "-") == 0 ? archive_read_open_fd(a, 0, 1 << 16)
				       : archive_read_open_filename(a, file, 1 << 16);
	if (r != ARCHIVE_OK)
		return ak_error_set(err, AK_EXIT_ENV, "cannot open archive '%s': %s", file,
				    archive_why(a, "unknown error"));
	int64_t written = 0;
	for (size_t n = 0;; n++) {
		struct archive_entry *e;
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return ak_error_set(
				err, AK_EXIT_ENV, "'%s': not a readable tar archive: %s", file,
				archive_why(a, "an entry header is truncated (a GNU long "
					       "name or link cut short?)"));
		if (n >= ENTRIES_MAX)
			return ak_error_set(err, AK_EXIT_ENV, "'%s': more than %d entries", file,
					    ENTRIES_MAX);
		if (extract_entry(a, e, rootfd, file, &written, held, err) < 0)
			return -1;
	}
	return 0;
}

int ak_archive_extract(const char *file, char **tmpdir, struct ak_archive_links **held,
		       struct ak_error **err)
{
	if (held)
		*held = ak_xcalloc(1, sizeof(**held));
	const char *base = getenv("TMPDIR");
	cleanup_free char *dir =
		ak_xasprintf("%s/archkit-image-XXXXXX", base && *base ? base : "/tmp");
	if (!ak_tmpdir_create(dir))
		return ak_error_errno(err, AK_EXIT_ENV, errno,
				      "cannot create a temporary directory in '%s'",
				      base && *base ? base : "/tmp");
	int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = rootfd < 0 ? ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", dir)
			   : extract(file, rootfd, held ? *held : NULL, err);
	if (rootfd >= 0)
		close(rootfd);
	if (r < 0) {
		ak_tmpdir_remove(dir);
		if (held) {
			ak_archive_links_free(*held);
			*held = NULL;
		}
		return -1;
	}
	*tmpdir = steal_pointer(&dir);
	return 0;
}

void ak_tmpdir_remove(const char *path)
{
	ak_tmpdir_forget_remove(path);
}
