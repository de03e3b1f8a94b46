/* docker save output as a directory: the old form (manifest.json, <id>/layer.tar with
 * duplicate layers as symlinks, configs named <hex>.json) and Docker 25+ (an OCI layout
 * whose index.json carries no platform, plus manifest.json pointing into blobs/). The
 * root is manifest.json, parsed, with the size of every file it names, and index.json
 * when there; the walk makes the variants. */
#include "image/source.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

/* The size of the file at path, or the error that opening it gives, kept for the walk. */
static void file_stat(struct ak_source *src, const char *path, struct ak_source_file *f)
{
	cleanup_fd int fd = ak_source_open_regular(src->dirfd, path, &f->size, &f->error);
	if (fd < 0)
		ak_error_prefix(&f->error, "'%s'", src->path);
}

static int docker_read_root(struct ak_source *src, struct ak_source_root *out,
			    struct ak_error **err)
{
	out->form = AK_ROOT_DOCKER;
	out->name = "manifest.json";
	{
		cleanup_free char *buf = NULL;
		size_t len = 0;
		if (ak_source_read_json(src, "manifest.json", &buf, &len, err) < 0 ||
		    ak_docker_manifest_parse(buf, len, &out->docker, err) < 0)
			return -1;
	}
	out->files = ak_xcalloc(out->docker.n, sizeof(*out->files));
	for (size_t i = 0; i < out->docker.n; i++) {
		const struct ak_docker_entry *e = &out->docker.entries[i];
		struct ak_source_docker_files *f = &out->files[i];
		f->layers = ak_xcalloc(e->nlayers, sizeof(*f->layers));
		file_stat(src, e->config, &f->config);
		for (size_t j = 0; j < e->nlayers; j++)
			file_stat(src, e->layers[j], &f->layers[j]);
	}
	struct stat st;
	if (fstatat(src->dirfd, "index.json", &st, 0) == 0)
		return ak_source_read_json(src, "index.json", &out->doc, &out->len, err);
	return 0;
}

static const struct ak_source_ops docker_ops = {
	.kind = "docker-save",
	.read_root = docker_read_root,
	.open_blob = ak_source_layout_open_blob,
	.close = ak_source_file_close,
};

int ak_source_docker_new(const char *dir, struct ak_source **out, struct ak_error **err)
{
	return ak_source_file_new(&docker_ops, dir, out, err);
}
