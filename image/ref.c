/* Image references: the form, the path and the tag, and what a directory holds. */
#include "image/ref.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/registry.h"

/* Split "PATH:TAG" where TAG has no '/' and PATH exists; a path that exists whole wins. */
static void split_tag(const char *s, char **path, char **tag)
{
	const char *colon = strrchr(s, ':');
	if (colon && !strchr(colon + 1, '/') && access(s, F_OK) != 0) {
		*path = ak_xstrndup(s, (size_t)(colon - s));
		*tag = colon[1] ? ak_xstrdup(colon + 1) : NULL;
		return;
	}
	*path = ak_xstrdup(s);
}

/* docker-archive:FILE[:NAME:TAG]: the longest prefix that exists is the file. */
static void split_docker(const char *s, char **path, char **tag)
{
	for (const char *c = strchr(s, ':'); c; c = strchr(c + 1, ':')) {
		cleanup_free char *p = ak_xstrndup(s, (size_t)(c - s));
		if (access(p, F_OK) == 0 && access(s, F_OK) != 0) {
			*path = steal_pointer(&p);
			*tag = c[1] ? ak_xstrdup(c + 1) : NULL;
			return;
		}
	}
	*path = ak_xstrdup(s);
}

static const struct {
	const char *prefix;
	enum ak_ref_form form;
} prefixes[] = {
	{"oci:", AK_REF_OCI},
	{"oci-archive:", AK_REF_OCI_ARCHIVE},
	{"docker-archive:", AK_REF_DOCKER_ARCHIVE},
	{"dir:", AK_REF_DIR},
	{"local:", AK_REF_LOCAL},
	{"tar:", AK_REF_TAR},
};

static int parse(const char *ref, struct ak_ref *out, struct ak_error **err)
{
	if (ak_str_has_prefix(ref, "docker://")) {
		struct ak_registry_ref r;
		if (ak_registry_ref_parse(ref, &r, err) < 0)
			return -1;
		ak_registry_ref_clear(&r);
		out->form = AK_REF_REGISTRY;
		out->path = ak_xstrdup(ref + strlen("docker://"));
		return 0;
	}
	if (!strcmp(ref, "-")) {
		out->form = AK_REF_STDIN;
		out->path = ak_xstrdup("-");
		return 0;
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (!ak_str_has_prefix(ref, prefixes[i].prefix))
			continue;
		const char *rest = ref + strlen(prefixes[i].prefix);
		out->form = prefixes[i].form;
		if (out->form == AK_REF_OCI || out->form == AK_REF_OCI_ARCHIVE)
			split_tag(rest, &out->path, &out->tag);
		else if (out->form == AK_REF_DOCKER_ARCHIVE)
			split_docker(rest, &out->path, &out->tag);
		else
			out->path = ak_xstrdup(rest);
		/* an empty name would make libarchive read stdin */
		if (!out->path[0])
			return ak_error_set(err, AK_EXIT_ENV, "'%s' names no path", ref);
		return 0;
	}
	struct stat st;
	if (stat(ref, &st) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open image '%s'", ref);
	if (S_ISDIR(st.st_mode))
		out->form = AK_REF_PATH_DIR;
	else if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
		out->form = AK_REF_PATH_FILE;
	else
		return ak_error_set(err, AK_EXIT_ENV, "'%s' is neither a directory nor an archive",
				    ref);
	out->path = ak_xstrdup(ref);
	return 0;
}

int ak_ref_parse(const char *ref, struct ak_ref *out, struct ak_error **err)
{
	*out = (struct ak_ref){0};
	if (parse(ref, out, err) < 0) {
		ak_ref_clear(out);
		return -1;
	}
	return 0;
}

void ak_ref_clear(struct ak_ref *r)
{
	free(r->path);
	free(r->tag);
	*r = (struct ak_ref){0};
}

/* --- sniffing --- */

static bool sniff_has(int dirfd, const char *name, bool want_dir)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	/* a FIFO or device named index.json still says what the image means to be; the
	 * source's open then refuses it without blocking */
	return want_dir == S_ISDIR(st.st_mode);
}

static bool has_platform_folders(int dirfd)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return false;
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (ak_str_has_prefix(de->d_name, "linux_") && sniff_has(dirfd, de->d_name, true))
			return true;
	return false;
}

int ak_ref_sniff(const char *path, enum ak_layout *out, struct ak_error **err)
{
	*out = AK_LAYOUT_NONE;
	cleanup_fd int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", path);
	bool layout = sniff_has(fd, "oci-layout", false),
	     index = sniff_has(fd, "index.json", false),
	     manifest = sniff_has(fd, "manifest.json", false);
	if ((layout || index) && manifest)
		*out = AK_LAYOUT_DOCKER; /* Docker 25+ docker save: prefer manifest.json */
	else if (layout || index)
		*out = AK_LAYOUT_OCI;
	else if (manifest && sniff_has(fd, "version", false))
		*out = AK_LAYOUT_DIR;
	else if (manifest)
		*out = AK_LAYOUT_DOCKER;
	else if (has_platform_folders(fd))
		*out = AK_LAYOUT_LOCAL;
	return 0;
}
