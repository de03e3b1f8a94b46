/* buildx type=local output (and type=tar, once extracted): with several platforms, one
 * root filesystem per folder named os_arch[_variant] ("linux_arm_v7"); with one
 * platform, the directory is the root filesystem itself and says nothing of its
 * platform. There is no config and there are no blobs: the root is the list of trees. */
#include "image/source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/image.h" /* AK_IMAGE_DOCS_MAX */

/* "linux_arm_v7" -> os "linux", arch "arm", variant "v7"; false when not that shape. */
static bool parse_folder(const char *name, char parts[3][32], int *nparts)
{
	*nparts = 0;
	size_t len = 0;
	for (const char *p = name;; p++) {
		if (*p == '_' || *p == '\0') {
			if (len == 0 || *nparts >= 3)
				return false;
			parts[*nparts][len] = '\0';
			(*nparts)++;
			len = 0;
			if (*p == '\0')
				break;
			continue;
		}
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
		if (!ok || len >= 31)
			return false;
		parts[*nparts][len++] = *p;
	}
	return *nparts >= 2;
}

/* Add the tree at name (a folder, or "." for the directory itself). */
static int add_tree(struct ak_source *src, const char *name, struct ak_source_root *out,
		    struct ak_source_tree **tout, struct ak_error **err)
{
	ak_grow_one(&out->trees, out->ntrees, sizeof(*out->trees));
	struct ak_source_tree *t = &out->trees[out->ntrees++];
	*t = (struct ak_source_tree){.fd = -1};
	t->fd = ak_source_openat(src->dirfd, name, O_RDONLY | O_DIRECTORY, err);
	if (t->fd < 0)
		return -1;
	char link[64], buf[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", t->fd);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		t->path = ak_xstrdup(buf);
	}
	*tout = t;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int local_read_root(struct ak_source *src, struct ak_source_root *out, struct ak_error **err)
{
	out->form = AK_ROOT_TREES;
	int fd = dup(src->dirfd);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read '%s'", src->path);
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read '%s'", src->path);
	}
	char **names = NULL;
	size_t n = 0;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d)) && r == 0) {
		char parts[3][32];
		int np;
		struct stat st;
		if (!parse_folder(de->d_name, parts, &np) ||
		    fstatat(src->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (n >= AK_IMAGE_DOCS_MAX) {
			r = ak_error_set(err, AK_EXIT_ENV, "'%s': too many platform folders",
					 src->path);
			break;
		}
		names = ak_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = ak_xstrdup(de->d_name);
	}
	if (r == 0 && n == 0) {
		/* one platform: the directory is the root filesystem */
		struct ak_source_tree *t;
		r = add_tree(src, ".", out, &t, err);
	}
	if (names)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && r == 0; i++) {
		char parts[3][32];
		int np;
		struct ak_source_tree *t;
		parse_folder(names[i], parts, &np);
		if ((r = add_tree(src, names[i], out, &t, err)) < 0)
			break;
		t->os = ak_xstrdup(parts[0]);
		t->arch = ak_xstrdup(parts[1]);
		if (np > 2)
			t->variant = ak_xstrdup(parts[2]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static const struct ak_source_ops local_ops = {
	.kind = "local",
	.read_root = local_read_root,
	.close = ak_source_file_close,
};

int ak_source_local_new(const char *dir, struct ak_source **out, struct ak_error **err)
{
	return ak_source_file_new(&local_ops, dir, out, err);
}
