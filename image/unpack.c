/* unpack: the content store a scan writes into, and the tree made from a view. The
 * store is one flat directory of files named "JOB-N" (scan job, regular file number in
 * that job), so consumers on different threads never share a name; the view then says
 * which of them survive and where they go. */
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "common/xalloc.h"

#define STORED_MAGIC 0x616b7570u /* "akup": facts this file made */
#define STORED_NAME_MAX 48

struct ak_unpack_store {
	int parent_fd; /* a copy of the caller's: the store is removed below it */
	char *name;
	int dirfd;
	uint64_t max_bytes;
	_Atomic uint64_t bytes; /* written to the store or copied out of it, all threads */
};

/* A consumer's facts: which stored file holds one layer entry's bytes. */
struct stored {
	uint32_t magic;
	const struct ak_unpack_store *store;
	size_t job;
	uint64_t number;
	uint64_t size;
	_Atomic uint64_t uses; /* materialisations still planned (ak_unpack_plan) */
};

static void stored_name(size_t job, uint64_t number, char out[STORED_NAME_MAX])
{
	snprintf(out, STORED_NAME_MAX, "%zu-%" PRIu64, job, number);
}

/* The stored file behind a view entry, or NULL when it has none from this store. */
static struct stored *stored_of(const struct ak_unpack_store *st, const struct ak_fsview_entry *e)
{
	struct stored *f = e->facts;
	if (e->type != AK_ENTRY_REGULAR || !f || f->magic != STORED_MAGIC || f->store != st)
		return NULL;
	return f;
}

/* Count n more bytes against the cap; nothing is counted when they do not fit, so the
 * total never passes it whichever thread asks. */
static int reserve(struct ak_unpack_store *st, uint64_t n, const char *path, struct ak_error **err)
{
	uint64_t cur = atomic_load(&st->bytes);
	do {
		if (cur > st->max_bytes || n > st->max_bytes - cur)
			return ak_error_set_kind(
				err, AK_EXIT_ENV, AK_ERR_LIMIT, EFBIG,
				"'%s': the unpacked files exceed the limit of %" PRIu64
				" bytes (see --max-unpack-bytes)",
				path, st->max_bytes);
	} while (!atomic_compare_exchange_weak(&st->bytes, &cur, cur + n));
	return 0;
}

/* ---- the store ---- */

int ak_unpack_store_new(int parent_fd, const char *name, uint64_t max_bytes,
			struct ak_unpack_store **out, struct ak_error **err)
{
	if (mkdirat(parent_fd, name, 0700) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot make the unpack store '%s'",
				      name);
	struct ak_unpack_store *st = ak_xcalloc(1, sizeof(*st));
	st->dirfd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	st->parent_fd = fcntl(parent_fd, F_DUPFD_CLOEXEC, 0);
	if (st->dirfd < 0 || st->parent_fd < 0) {
		int e = errno;
		if (st->dirfd >= 0)
			close(st->dirfd);
		if (st->parent_fd >= 0)
			close(st->parent_fd);
		unlinkat(parent_fd, name, AT_REMOVEDIR);
		free(st);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot open the unpack store '%s'",
				      name);
	}
	st->name = ak_xstrdup(name);
	st->max_bytes = max_bytes ? max_bytes : AK_UNPACK_MAX_BYTES_DEFAULT;
	atomic_init(&st->bytes, 0);
	*out = st;
	return 0;
}

void ak_unpack_store_free(struct ak_unpack_store *st)
{
	if (!st)
		return;
	close(st->dirfd);
	ak_rmtree_at(st->parent_fd, st->name);
	close(st->parent_fd);
	free(st->name);
	free(st);
}

/* ---- the consumer: one per scan job, so one thread each ---- */

struct writer {
	struct ak_unpack_store *st;
	size_t job;
	uint64_t next;	  /* number of the next regular file */
	int fd;		  /* the file being written, or -1 */
	uint64_t number;  /* its number */
	uint64_t size;	  /* bytes written to it */
	const char *path; /* its entry, for messages */
	/* the first failure; the walk stops at the next data() and finish reports it */
	struct ak_error *kept;
};

static int copy_error(const struct ak_error *e, struct ak_error **err)
{
	return ak_error_set_kind(err, e->status, e->kind, e->errnum, "%s", e->msg);
}

static bool writer_begin(void *ctx, const struct ak_layer_entry *e)
{
	struct writer *w = ctx;
	w->fd = -1;
	w->size = 0;
	w->path = e->path;
	w->number = w->next++;
	if (w->kept)
		return true; /* data() stops the walk with it */
	char name[STORED_NAME_MAX];
	stored_name(w->job, w->number, name);
	w->fd = openat(w->st->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       0600);
	if (w->fd < 0)
		ak_error_errno(&w->kept, AK_EXIT_ENV, errno,
			       "cannot store '%s' in the unpack store", e->path);
	return true;
}

static int writer_data(void *ctx, const void *buf, size_t len, struct ak_error **err)
{
	struct writer *w = ctx;
	if (!w->kept && reserve(w->st, len, w->path, &w->kept) == 0) {
		int r = ak_write_all(w->fd, buf, len);
		if (r == 0) {
			w->size += len;
			return 0;
		}
		ak_error_errno(&w->kept, AK_EXIT_ENV, -r, "cannot write '%s' to the unpack store",
			       w->path);
	}
	return copy_error(w->kept, err);
}

static void *writer_end(void *ctx, const struct ak_layer_entry *e)
{
	struct writer *w = ctx;
	if (w->fd < 0)
		return NULL;
	char name[STORED_NAME_MAX];
	stored_name(w->job, w->number, name);
	if (close(steal_fd(&w->fd)) < 0 && errno != EINTR)
		ak_error_errno(&w->kept, AK_EXIT_ENV, errno,
			       "cannot write '%s' to the unpack store", w->path);
	if (w->kept) {
		unlinkat(w->st->dirfd, name, 0);
		return NULL;
	}
	struct stored *f = ak_xmalloc(sizeof(*f));
	*f = (struct stored){
		.magic = STORED_MAGIC,
		.store = w->st,
		.job = w->job,
		.number = w->number,
		.size = w->size,
	};
	atomic_init(&f->uses, 0);
	return f;
}

int ak_unpack_consumer(struct ak_unpack_store *st, size_t job, struct ak_layer_consumer *out,
		       struct ak_error **err)
{
	struct writer *w = ak_xcalloc(1, sizeof(*w));
	w->st = st;
	w->job = job;
	w->fd = -1;
	*out = (struct ak_layer_consumer){
		.ctx = w,
		.begin = writer_begin,
		.data = writer_data,
		.end = writer_end,
		.free_facts = free,
	};
	return 0;
}

int ak_unpack_consumer_finish(struct ak_layer_consumer *c, struct ak_error **err)
{
	struct writer *w = c ? c->ctx : NULL;
	if (!w)
		return 0;
	c->ctx = NULL;
	if (w->fd >= 0)
		close(w->fd);
	struct ak_error *kept = steal_pointer(&w->kept);
	free(w);
	if (!kept)
		return 0;
	if (err && !*err)
		*err = kept;
	else
		ak_error_free(kept);
	return -1;
}

/* ---- planning ---- */

static int plan_entry(const struct ak_fsview_entry *e, void *ctx)
{
	struct stored *f = stored_of(ctx, e);
	if (f)
		atomic_fetch_add(&f->uses, 1);
	return 0;
}

void ak_unpack_plan(struct ak_unpack_store *st, const struct ak_fsview *view)
{
	/* in creation order, which allocates nothing and so cannot fail */
	ak_fsview_foreach(view, false, plan_entry, st, NULL);
}

/* Take n uses; true when none are left (this is the last: move, don't copy). A view
 * never planned has none, and so moves. */
static bool take_uses(struct stored *f, uint64_t n)
{
	uint64_t cur = atomic_load(&f->uses), next;
	do
		next = cur > n ? cur - n : 0;
	while (!atomic_compare_exchange_weak(&f->uses, &cur, next));
	return next == 0;
}

/* ---- materialising ---- */

/* Hard-linked entries share one stored file: the first of them in path order gets the
 * bytes, the others are linked to it. Only files some hard link shares are grouped. */
struct group {
	struct stored *facts;
	uint64_t count;	   /* entries of the view that share it */
	const char *owner; /* the path that got the bytes, once made */
};

struct mat {
	struct ak_unpack_store *st;
	int root_fd;
	struct ak_unpack_stats *stats;
	struct ak_error **err;
	/* the last parent opened: entries come sorted, so siblings reuse it */
	char parent[PATH_MAX];
	size_t parent_len;
	int parent_fd;
	struct group *groups;
	size_t ngroups;
	const struct ak_fsview_entry **dirs; /* in path order, for the final modes */
	size_t ndirs;
	unsigned char *buf; /* for copies where neither copy_file_range nor sendfile works */
};

static int cmp_group(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct group *)a)->facts;
	uintptr_t y = (uintptr_t)((const struct group *)b)->facts;
	return x < y ? -1 : x > y;
}

static struct group *find_group(const struct mat *m, const struct stored *f)
{
	struct group key = {.facts = (struct stored *)f};
	return m->ngroups ? bsearch(&key, m->groups, m->ngroups, sizeof(key), cmp_group) : NULL;
}

static int collect_linked(const struct ak_fsview_entry *e, void *ctx)
{
	struct mat *m = ctx;
	struct stored *f = e->hardlink ? stored_of(m->st, e) : NULL;
	if (!f)
		return 0;
	ak_grow_one(&m->groups, m->ngroups, sizeof(*m->groups));
	m->groups[m->ngroups++] = (struct group){.facts = f};
	return 0;
}

static int count_linked(const struct ak_fsview_entry *e, void *ctx)
{
	struct mat *m = ctx;
	struct stored *f = stored_of(m->st, e);
	struct group *g = f ? find_group(m, f) : NULL;
	if (g)
		g->count++;
	return 0;
}

/* The groups of files hard links share, with how many entries of the view each has. */
static void make_groups(struct mat *m, const struct ak_fsview *view)
{
	ak_fsview_foreach(view, false, collect_linked, m, NULL);
	if (!m->ngroups)
		return;
	qsort(m->groups, m->ngroups, sizeof(*m->groups), cmp_group);
	size_t n = 0;
	for (size_t i = 0; i < m->ngroups; i++)
		if (n == 0 || m->groups[n - 1].facts != m->groups[i].facts)
			m->groups[n++] = m->groups[i];
	m->ngroups = n;
	ak_fsview_foreach(view, false, count_linked, m, NULL);
}

/* openat2 below the root that never passes a symlink; EAGAIN is a rename racing the
 * lookup, which the kernel asks to retry. */
static int open_beneath(int root_fd, const char *path, int flags)
{
	int fd, tries = 0;
	do
		fd = ak_openat_beneath(root_fd, path, flags, RESOLVE_NO_SYMLINKS);
	while (fd < 0 && errno == EAGAIN && ++tries < 16);
	return fd;
}

static int parent_error(struct mat *m, const char *path, const char *dir, int e)
{
	if (e == ELOOP)
		return ak_error_set(m->err, AK_EXIT_ENV,
				    "'%s': refusing to write through a symlink in '%s'", path, dir);
	if (e == EXDEV)
		return ak_error_set(m->err, AK_EXIT_ENV, "'%s': '%s' leads out of the root", path,
				    dir);
	return ak_error_errno(m->err, AK_EXIT_ENV, e, "'%s': cannot open directory '%s'", path,
			      dir);
}

/* Split path into its directory, opened below the root, and its last name. A path
 * that is not plainly inside (the view never makes one) is refused. */
static int split_path(const char *path, const char **name, size_t *dir_len)
{
	const char *slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	*dir_len = slash ? (size_t)(slash - path) : 0;
	if (path[0] == '/' || !(*name)[0] || !strcmp(*name, ".") || !strcmp(*name, "..") ||
	    *dir_len >= PATH_MAX)
		return -1;
	return 0;
}

static int open_parent(struct mat *m, const char *path, const char **name)
{
	size_t len;
	if (split_path(path, name, &len) < 0)
		return ak_error_set(m->err, AK_EXIT_ENV, "'%s': not a path inside the root", path);
	if (len == 0)
		return m->root_fd;
	if (m->parent_fd >= 0 && m->parent_len == len && !memcmp(m->parent, path, len))
		return m->parent_fd;
	if (m->parent_fd >= 0)
		close(steal_fd(&m->parent_fd));
	memcpy(m->parent, path, len);
	m->parent[len] = '\0';
	m->parent_len = len;
	m->parent_fd = open_beneath(m->root_fd, m->parent, O_PATH | O_DIRECTORY);
	if (m->parent_fd < 0)
		return parent_error(m, path, m->parent, errno);
	return m->parent_fd;
}

/* Copy size bytes: copy_file_range (reflinks, in-kernel), else sendfile, else read and
 * write. 0, or -errno (-EIO: src is shorter than it should be). */
static int copy_bytes(struct mat *m, int src, int dst, uint64_t size)
{
	bool range = true, send = true;
	while (size > 0) {
		size_t want = size > (1u << 30) ? 1u << 30 : (size_t)size;
		ssize_t n;
		if (range) {
			n = copy_file_range(src, NULL, dst, NULL, want, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
				      errno == EOPNOTSUPP || errno == EPERM)) {
				range = false;
				continue;
			}
		} else if (send) {
			n = sendfile(dst, src, NULL, want);
			if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
				send = false;
				continue;
			}
		} else {
			if (!m->buf)
				m->buf = ak_xmalloc(1u << 17);
			n = read(src, m->buf, want < (1u << 17) ? want : (1u << 17));
			if (n > 0) {
				int r = ak_write_all(dst, m->buf, (size_t)n);
				if (r < 0)
					return r;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		size -= (uint64_t)n;
	}
	return 0;
}

/* A new file at pfd/name holding the stored bytes of f, mode mode. */
static int copy_out(struct mat *m, int src, const struct stored *f, int pfd, const char *name,
		    const char *path, mode_t mode)
{
	if (reserve(m->st, f->size, path, m->err) < 0)
		return -1;
	cleanup_fd int dst =
		openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dst < 0)
		return ak_error_errno(m->err, AK_EXIT_ENV, errno, "cannot create '%s'", path);
	int r = copy_bytes(m, src, dst, f->size);
	if (r == -EIO)
		return ak_error_set(m->err, AK_EXIT_ENV, "'%s': its stored bytes are short", path);
	if (r < 0)
		return ak_error_errno(m->err, AK_EXIT_ENV, -r, "cannot write '%s'", path);
	if (fchmod(dst, mode) < 0 || close(steal_fd(&dst)) < 0)
		return ak_error_errno(m->err, AK_EXIT_ENV, errno, "cannot write '%s'", path);
	return 0;
}

/* Put the stored bytes of f at pfd/name for count entries of this view: moved when no
 * other view needs them any more, else copied. */
static int place(struct mat *m, struct stored *f, uint64_t count, int pfd, const char *name,
		 const char *path, mode_t mode)
{
	char sname[STORED_NAME_MAX];
	stored_name(f->job, f->number, sname);
	cleanup_fd int src = -1;
	/* another view may move it once we took our uses: hold it open before */
	if (atomic_load(&f->uses) > count) {
		src = openat(m->st->dirfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno,
					      "'%s': cannot read its stored bytes", path);
	}
	if (take_uses(f, count)) {
		if (fchmodat(m->st->dirfd, sname, mode, 0) < 0)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno,
					      "'%s': cannot read its stored bytes", path);
		if (renameat(m->st->dirfd, sname, pfd, name) == 0)
			return 0;
		if (errno != EXDEV)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno, "cannot create '%s'",
					      path);
		/* the root is on another filesystem: copy, from a file we may read */
		fchmodat(m->st->dirfd, sname, 0600, 0);
	}
	if (src < 0)
		src = openat(m->st->dirfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return ak_error_errno(m->err, AK_EXIT_ENV, errno,
				      "'%s': cannot read its stored bytes", path);
	return copy_out(m, src, f, pfd, name, path, mode);
}

static int make_file(struct mat *m, const struct ak_fsview_entry *e, int pfd, const char *name)
{
	struct stored *f = stored_of(m->st, e);
	if (!f)
		return ak_error_set(m->err, AK_EXIT_ENV,
				    "'%s': its bytes are not in the unpack store", e->path);
	struct group *g = find_group(m, f);
	if (g && g->owner) {
		const char *oname;
		size_t olen;
		split_path(g->owner, &oname, &olen);
		cleanup_fd int ofd = -1;
		int opfd = m->root_fd;
		if (olen > 0) {
			char odir[PATH_MAX];
			memcpy(odir, g->owner, olen);
			odir[olen] = '\0';
			ofd = open_beneath(m->root_fd, odir, O_PATH | O_DIRECTORY);
			if (ofd < 0)
				return parent_error(m, g->owner, odir, errno);
			opfd = ofd;
		}
		if (linkat(opfd, oname, pfd, name, 0) < 0)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno,
					      "cannot link '%s' to '%s'", e->path, g->owner);
		m->stats->hardlinks++;
		return 0;
	}
	/* no setuid or setgid bit (what the caller cannot grant, it must not plant) */
	mode_t mode = e->mode & 01777;
	if (e->mode & 06000)
		m->stats->dropped_setid++;
	if (place(m, f, g ? g->count : 1, pfd, name, e->path, mode) < 0)
		return -1;
	if (g)
		g->owner = e->path;
	m->stats->files++;
	m->stats->bytes += f->size;
	return 0;
}

static int make_entry(const struct ak_fsview_entry *e, void *ctx)
{
	struct mat *m = ctx;
	if (e->type == AK_ENTRY_OTHER) {
		m->stats->skipped_special++;
		return 0;
	}
	if (e->type == AK_ENTRY_HARDLINK) /* its target is a directory or was never there */
		return ak_error_set(m->err, AK_EXIT_ENV,
				    "'%s': hard link to '%s', which is not a file of the image",
				    e->path, e->link ? e->link : "");
	const char *name;
	int pfd = open_parent(m, e->path, &name);
	if (pfd < 0)
		return -1;
	switch (e->type) {
	case AK_ENTRY_DIR:
		/* writable while it fills: its own mode comes at the end */
		if (mkdirat(pfd, name, 0700) < 0)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno,
					      "cannot make directory '%s'", e->path);
		ak_grow_one(&m->dirs, m->ndirs, sizeof(*m->dirs));
		m->dirs[m->ndirs++] = e;
		m->stats->dirs++;
		return 0;
	case AK_ENTRY_SYMLINK:
		/* as written: nothing here ever follows it */
		if (symlinkat(e->link ? e->link : "", pfd, name) < 0)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno,
					      "cannot make symlink '%s'", e->path);
		m->stats->symlinks++;
		return 0;
	default:
		return make_file(m, e, pfd, name);
	}
}

/* Directory modes, deepest first, so a 0555 or 0000 one is closed after its children. */
static int final_modes(struct mat *m)
{
	for (size_t i = m->ndirs; i-- > 0;) {
		const struct ak_fsview_entry *d = m->dirs[i];
		cleanup_fd int fd = open_beneath(m->root_fd, d->path, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || fchmod(fd, d->mode & 01777) < 0)
			return ak_error_errno(m->err, AK_EXIT_ENV, errno,
					      "cannot set the mode of '%s'", d->path);
	}
	return 0;
}

int ak_unpack_materialise(struct ak_unpack_store *st, const struct ak_fsview *view, int root_fd,
			  struct ak_unpack_stats *stats, struct ak_error **err)
{
	struct ak_unpack_stats local = {0};
	struct mat m = {
		.st = st,
		.root_fd = root_fd,
		.stats = stats ? stats : &local,
		.err = err,
		.parent_fd = -1,
	};
	*m.stats = (struct ak_unpack_stats){0};
	make_groups(&m, view);
	int r = ak_fsview_foreach(view, true, make_entry, &m, err);
	if (m.parent_fd >= 0)
		close(m.parent_fd);
	if (r == 0)
		r = final_modes(&m);
	free(m.groups);
	free(m.dirs);
	free(m.buf);
	return r == 0 ? 0 : -1;
}
