/* Fuzz the whole probe of an OCI image layout held in memory: documents, graph walk,
 * blob verification, layer scan, fsview and ELF judgement, as `archkit probe oci:DIR`
 * runs them, with no file system in between. The input is an uncompressed tar of the
 * layout's files (oci-layout, index.json, blobs/sha256/HEX); blobs are named by their
 * digest, so mutations mostly exercise the "digest mismatch" path unless a seed's
 * names are kept consistent — the seeds (fuzz/seeds/make-probe-seeds.sh) hold several
 * consistent layouts, and a mutation of a name or a document still reaches the walk.
 * Every failure must be a clean input error (status 2 with a message). */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "probe/probe.h"
#include "image/source.h"

#define MAX_FILES 64
#define MAX_BYTES (8u << 20)

struct layout {
	struct ak_mem_file files[MAX_FILES];
	char *names[MAX_FILES];
	void *bufs[MAX_FILES];
	size_t n;
};

static void layout_free(struct layout *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->names[i]);
		free(l->bufs[i]);
	}
}

/* Read the tar's regular files into memory; false when it is not a tar we can use. */
static bool layout_read(const uint8_t *data, size_t size, struct layout *l)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	bool ok = archive_read_open_memory(a, data, size) == ARCHIVE_OK;
	struct archive_entry *e;
	size_t total = 0;
	while (ok && l->n < MAX_FILES && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG || !archive_entry_pathname(e))
			continue;
		int64_t len = archive_entry_size(e);
		if (len < 0 || (uint64_t)len > MAX_BYTES - total)
			break;
		void *buf = malloc((size_t)len + 1);
		char *name = strdup(archive_entry_pathname(e));
		if (!buf || !name || archive_read_data(a, buf, (size_t)len) != len) {
			free(buf);
			free(name);
			break;
		}
		total += (size_t)len;
		l->names[l->n] = name;
		l->bufs[l->n] = buf;
		l->files[l->n] =
			(struct ak_mem_file){.path = name + (strncmp(name, "./", 2) ? 0 : 2),
					     .data = buf,
					     .len = (size_t)len};
		l->n++;
	}
	archive_read_free(a);
	return l->n > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct layout l = {0};
	if (!layout_read(data, size, &l)) {
		layout_free(&l);
		return 0;
	}
	struct ak_error *err = NULL;
	struct ak_source *src = NULL;
	struct ak_image *img = NULL;
	struct ak_probe_options opt = {.jobs = 1, .max_layer_bytes = 16u << 20, .verbose = true};
	struct ak_probe_report rep = {0};
	if (ak_source_mem_new(l.files, l.n, "fuzz", &src, &err) == 0 &&
	    ak_image_open_source(src, "fuzz", &img, &err) == 0 &&
	    ak_probe_run_image(img, "fuzz", &opt, &rep, &err) == 0) {
		if (rep.n == 0)
			__builtin_trap(); /* a report always has a variant */
		ak_probe_report_free(&rep);
	}
	ak_image_close(img);
	if (err && (err->status != AK_EXIT_ENV || !err->msg))
		__builtin_trap(); /* every failure is a clean input error */
	ak_error_free(err);
	layout_free(&l);
	return 0;
}
