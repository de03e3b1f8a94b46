/* An OCI image layout held in memory: its files (oci-layout, index.json, blobs/ALG/HEX)
 * given as path and bytes, served with no file system in between. The fuzz target for
 * the whole probe reads through it, so every document, blob and layer path of the real
 * OCI source is exercised at memory speed. */
#include "image/source.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "image/decompress.h"

struct mem_source {
	struct ak_source base;
	const struct ak_mem_file *files; /* borrowed */
	size_t n;
};

static const struct ak_mem_file *mem_find(const struct mem_source *m, const char *path)
{
	/* the last of two files with one name wins, as a later tar entry would */
	for (size_t i = m->n; i-- > 0;)
		if (!strcmp(m->files[i].path, path))
			return &m->files[i];
	return NULL;
}

static int mem_open(const struct mem_source *m, const char *path, struct ak_stream **out,
		    int64_t *size, struct ak_error **err)
{
	const struct ak_mem_file *f = mem_find(m, path);
	if (!f)
		return ak_error_set(err, AK_EXIT_ENV, "'%.200s' is missing from '%s'", path,
				    m->base.path);
	*out = ak_memory_stream_open(f->data, f->len, err);
	*size = (int64_t)f->len;
	return 0;
}

static int mem_read_root(struct ak_source *src, struct ak_source_root *out, struct ak_error **err)
{
	const struct mem_source *m = (const struct mem_source *)src;
	const struct ak_mem_file *layout = mem_find(m, "oci-layout");
	if (!layout)
		return ak_error_set(err, AK_EXIT_ENV,
				    "'%s' is not an OCI layout: no 'oci-layout' file", src->path);
	if (ak_oci_layout_parse(layout->data, layout->len, src->path, err) < 0)
		return -1;
	cleanup_stream struct ak_stream *s = NULL;
	int64_t size;
	if (mem_open(m, "index.json", &s, &size, err) < 0)
		return -1;
	out->form = AK_ROOT_GRAPH;
	out->name = "index.json";
	return ak_source_read_json_stream(s, out->name, &out->doc, &out->len, err);
}

static int mem_open_blob(struct ak_source *src, const struct ak_descriptor *d,
			 struct ak_stream **out, struct ak_error **err)
{
	const struct mem_source *m = (const struct mem_source *)src;
	char path[AK_BLOB_PATH_MAX];
	ak_source_blob_path(d->digest, path);
	cleanup_stream struct ak_stream *s = NULL;
	int64_t size;
	if (mem_open(m, path, &s, &size, err) < 0)
		return -1;
	if (size != d->size)
		return ak_error_set(err, AK_EXIT_ENV, "'%s': %lld bytes, its descriptor says %lld",
				    path, (long long)size, (long long)d->size);
	*out = steal_pointer(&s);
	return 0;
}

static void mem_close(struct ak_source *src)
{
	free(src->path);
	free(src);
}

static const struct ak_source_ops mem_ops = {
	.kind = "oci",
	.read_root = mem_read_root,
	.open_blob = mem_open_blob,
	.close = mem_close,
};

int ak_source_mem_new(const struct ak_mem_file *files, size_t n, const char *name,
		      struct ak_source **out, struct ak_error **err)
{
	struct mem_source *m = ak_xcalloc(1, sizeof(*m));
	m->base.path = ak_xstrdup(name);
	m->base.ops = &mem_ops;
	m->base.dirfd = -1;
	m->files = files;
	m->n = n;
	*out = &m->base;
	return 0;
}
