/* buildx type=local output (and type=tar, once extracted): with several platforms, one
 * root filesystem per folder named os_arch[_variant] ("linux_arm_v7"); with one
 * platform, the directory is the root filesystem itself and says nothing of its
 * platform. There is no config and there are no blobs: variants carry a tree. */
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

static int add_tree(struct ak_source *src, const char *name, struct ak_variant_list *out,
		    struct ak_variant **vout, struct ak_error **err)
{
	struct ak_variant *v = ak_variant_list_add(out);
	if (!v)
		return ak_error_set(err, AK_EXIT_ENV, "too many variants");
	v->tree_fd = ak_source_openat(src->dirfd, name, O_RDONLY | O_DIRECTORY, err);
	if (v->tree_fd < 0)
		return -1;
	char link[64], buf[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", v->tree_fd);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		v->tree_path = strdup(buf);
	}
	*vout = v;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int local_list_variants(struct ak_source *src, struct ak_image *img,
			       struct ak_variant_list *out, struct ak_error **err)
{
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
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(de->d_name))) {
			names = nn ? nn : names;
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
			break;
		}
		names = nn;
		n++;
	}
	if (r == 0 && n == 0) {
		/* one platform: the directory is the root filesystem */
		struct ak_variant *v;
		r = add_tree(src, ".", out, &v, err);
	}
	if (names)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && r == 0; i++) {
		char parts[3][32];
		int np;
		struct ak_variant *v;
		parse_folder(names[i], parts, &np);
		if ((r = add_tree(src, names[i], out, &v, err)) < 0)
			break;
		if (asprintf(&v->folder_platform, "%s/%s%s%s", parts[0], parts[1],
			     np > 2 ? "/" : "", np > 2 ? parts[2] : "") < 0) {
			v->folder_platform = NULL;
			r = ak_error_set(err, AK_EXIT_ENV, "out of memory");
		}
		v->folder_parsed =
			ak_platform_from_oci(parts[0], parts[1], np > 2 ? parts[2] : NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static const struct ak_source_ops local_ops = {
	.kind = "local",
	.list_variants = local_list_variants,
	.close = ak_source_file_close,
};

int ak_source_local_new(const char *dir, struct ak_source **out, struct ak_error **err)
{
	return ak_source_file_new(&local_ops, dir, NULL, out, err);
}
