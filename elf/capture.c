#include "elf/capture.h"

#include <errno.h>
#include <stdlib.h>
#include <elf.h>
#include <string.h>
#include <sys/mman.h>

#include "common/xalloc.h"

enum capture_mode {
	CAPTURE_UNDECIDED, /* fewer than four bytes seen */
	CAPTURE_NOT_ELF,
	CAPTURE_WHOLE,	   /* heap buffer of the full size */
	CAPTURE_SPARSE,	   /* full-size MAP_NORESERVE mapping, head + tail + Go windows written */
	CAPTURE_HEAD_ONLY, /* above the ceiling: heap buffer of the head */
};

struct ak_elf_capture {
	uint64_t size;	   /* declared by the tar header */
	uint64_t received; /* bytes taken so far (never more than size) */
	enum capture_mode mode;
	unsigned char magic[4];
	unsigned char *buf;
	size_t buf_len;		 /* allocated (or mapped) length */
	size_t resident;	 /* bytes of buf that may be written */
	unsigned char block[16]; /* the current 16-byte aligned block, for the Go magic */
	uint64_t go_window[AK_ELF_CAPTURE_GO_WINDOWS_MAX];
	unsigned go_windows;
	/* small segments the classifier reads (PT_DYNAMIC, PT_INTERP, notes) that lie
	 * between head and tail, found in the program headers once the head is in */
	uint64_t seg_off[AK_ELF_CAPTURE_SEGMENTS_MAX], seg_len[AK_ELF_CAPTURE_SEGMENTS_MAX];
	unsigned segs;
	bool segs_read;
	bool overflow;
};

struct ak_elf_capture *ak_elf_capture_begin(uint64_t size, struct ak_error **err)
{
	struct ak_elf_capture *c = ak_xcalloc(1, sizeof(*c));
	c->size = size;
	return c;
}

static uint64_t tail_start(const struct ak_elf_capture *c)
{
	return c->size - AK_ELF_CAPTURE_TAIL; /* sparse files are larger than the tail */
}

static int capture_allocate(struct ak_elf_capture *c)
{
	if (c->size <= AK_ELF_CAPTURE_WHOLE_MAX) {
		c->buf = ak_xmalloc(c->size);
		c->buf_len = c->resident = c->size;
		c->mode = CAPTURE_WHOLE;
	} else if (c->size <= AK_ELF_CAPTURE_CEILING && c->size <= SIZE_MAX) {
		void *m = mmap(NULL, (size_t)c->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return -ENOMEM;
		c->buf = m;
		c->buf_len = (size_t)c->size;
		c->resident = AK_ELF_CAPTURE_HEAD + AK_ELF_CAPTURE_TAIL;
		c->mode = CAPTURE_SPARSE;
	} else {
		c->buf = ak_xmalloc(AK_ELF_CAPTURE_HEAD);
		c->buf_len = c->resident = AK_ELF_CAPTURE_HEAD;
		c->mode = CAPTURE_HEAD_ONLY;
	}
	return 0;
}

/* Copy the part of [off, off+n) that falls into [lo, hi) to the same offsets in buf. */
static void copy_range(struct ak_elf_capture *c, uint64_t off, const unsigned char *p, size_t n,
		       uint64_t lo, uint64_t hi)
{
	uint64_t from = off > lo ? off : lo;
	uint64_t to = off + n < hi ? off + n : hi;
	if (to > c->buf_len)
		to = c->buf_len;
	if (from < to)
		memcpy(c->buf + from, p + (from - off), (size_t)(to - from));
}

static void open_go_window(struct ak_elf_capture *c, uint64_t at)
{
	if (at + AK_ELF_CAPTURE_GO_WINDOW <= AK_ELF_CAPTURE_HEAD || at >= tail_start(c))
		return; /* already captured */
	for (unsigned i = 0; i < c->go_windows; i++)
		if (at >= c->go_window[i] && at < c->go_window[i] + AK_ELF_CAPTURE_GO_WINDOW)
			return;
	if (c->go_windows == AK_ELF_CAPTURE_GO_WINDOWS_MAX)
		return;
	c->go_window[c->go_windows++] = at;
	c->resident += AK_ELF_CAPTURE_GO_WINDOW;
}

static bool is_go_magic(const unsigned char *p)
{
	return p[0] == 0xff && memcmp(p, AK_GO_BUILDINFO_MAGIC, AK_GO_BUILDINFO_MAGIC_LEN) == 0;
}

/* Look for the Go magic at every 16-byte aligned offset of [off, off+n), carrying a
 * block that straddles chunks in c->block. */
static void scan_go_magic(struct ak_elf_capture *c, uint64_t off, const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t in_block = (size_t)(off & 15);
		if (in_block == 0 && n >= 16) {
			size_t whole = n & ~(size_t)15;
			for (size_t i = 0; i < whole; i += 16)
				if (is_go_magic(p + i))
					open_go_window(c, off + i);
			off += whole;
			p += whole;
			n -= whole;
			continue;
		}
		size_t take = 16 - in_block < n ? 16 - in_block : n;
		memcpy(c->block + in_block, p, take);
		off += take;
		p += take;
		n -= take;
		if ((off & 15) == 0 && is_go_magic(c->block)) {
			uint64_t at = off - 16;
			unsigned before = c->go_windows;
			open_go_window(c, at);
			/* the block's earlier bytes came with previous chunks */
			if (c->go_windows != before)
				memcpy(c->buf + at, c->block, 16);
		}
	}
}

static void capture_store(struct ak_elf_capture *c, uint64_t off, const unsigned char *p, size_t n)
{
	switch (c->mode) {
	case CAPTURE_WHOLE:
	case CAPTURE_HEAD_ONLY:
		copy_range(c, off, p, n, 0, c->buf_len);
		break;
	case CAPTURE_SPARSE:
		scan_go_magic(c, off, p, n);
		copy_range(c, off, p, n, 0, AK_ELF_CAPTURE_HEAD);
		copy_range(c, off, p, n, tail_start(c), c->size);
		for (unsigned i = 0; i < c->go_windows; i++)
			copy_range(c, off, p, n, c->go_window[i],
				   c->go_window[i] + AK_ELF_CAPTURE_GO_WINDOW);
		for (unsigned i = 0; i < c->segs; i++)
			copy_range(c, off, p, n, c->seg_off[i], c->seg_off[i] + c->seg_len[i]);
		break;
	default:
		break;
	}
}

static uint64_t rd(const unsigned char *p, int size, bool le)
{
	uint64_t v = 0;
	for (int i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * (le ? i : size - 1 - i));
	return v;
}

/* With the head in place, note the small segments that lie beyond it. Runs once; a
 * header that makes no sense is left for the classifier to describe. */
static void find_segments(struct ak_elf_capture *c)
{
	c->segs_read = true;
	const unsigned char *h = c->buf;
	bool is64 = h[4] == 2, le = h[5] == 1;
	int a = is64 ? 8 : 4;
	uint64_t phoff = rd(h + 24 + a, a, le);
	uint64_t phentsize = rd(h + 30 + 3 * a, 2, le), phnum = rd(h + 32 + 3 * a, 2, le);
	if (phentsize != (is64 ? 56u : 32u) || phoff > AK_ELF_CAPTURE_HEAD ||
	    phnum * phentsize > AK_ELF_CAPTURE_HEAD - phoff)
		return;
	for (uint64_t i = 0; i < phnum; i++) {
		const unsigned char *ph = h + phoff + i * phentsize;
		uint32_t type = (uint32_t)rd(ph, 4, le);
		uint64_t off = rd(ph + (is64 ? 8 : 4), a, le);
		uint64_t filesz = rd(ph + (is64 ? 32 : 16), a, le);
		if (type != PT_DYNAMIC && type != PT_INTERP && type != PT_NOTE &&
		    type != PT_GNU_PROPERTY)
			continue;
		if (filesz > AK_ELF_CAPTURE_SEGMENT_MAX || off + filesz <= AK_ELF_CAPTURE_HEAD ||
		    off >= tail_start(c) || off > c->size || c->segs == AK_ELF_CAPTURE_SEGMENTS_MAX)
			continue;
		c->seg_off[c->segs] = off;
		c->seg_len[c->segs++] = filesz;
		c->resident += filesz;
	}
}

int ak_elf_capture_feed(struct ak_elf_capture *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	if (c->mode == CAPTURE_NOT_ELF)
		return 0;
	if (len > c->size - c->received) {
		c->overflow = true;
		len = (size_t)(c->size - c->received);
	}
	if (c->mode == CAPTURE_UNDECIDED) {
		while (c->received < 4 && len > 0) {
			c->magic[c->received++] = *p++;
			len--;
		}
		if (c->received < 4)
			return c->overflow ? -EFBIG : 0;
		if (memcmp(c->magic,
			   "\x7f"
			   "ELF",
			   4) != 0) {
			c->mode = CAPTURE_NOT_ELF;
			return 0;
		}
		int r = capture_allocate(c);
		if (r < 0) {
			c->mode = CAPTURE_NOT_ELF;
			return r;
		}
		capture_store(c, 0, c->magic, 4);
	}
	if (c->mode == CAPTURE_SPARSE && !c->segs_read &&
	    c->received + len >= AK_ELF_CAPTURE_HEAD) {
		size_t head_part = (size_t)(AK_ELF_CAPTURE_HEAD - c->received);
		capture_store(c, c->received, p, head_part);
		c->received += head_part;
		p += head_part;
		len -= head_part;
		find_segments(c);
	}
	capture_store(c, c->received, p, len);
	c->received += len;
	return c->overflow ? -EFBIG : 0;
}

bool ak_elf_capture_is_elf(const struct ak_elf_capture *c)
{
	return c->mode == CAPTURE_WHOLE || c->mode == CAPTURE_SPARSE ||
	       c->mode == CAPTURE_HEAD_ONLY;
}

const unsigned char *ak_elf_capture_data(struct ak_elf_capture *c, size_t *len)
{
	if (!ak_elf_capture_is_elf(c)) {
		*len = 0;
		return NULL;
	}
	uint64_t n = c->received < c->buf_len ? c->received : c->buf_len;
	*len = (size_t)n;
	return c->buf;
}

uint64_t ak_elf_capture_size(const struct ak_elf_capture *c)
{
	return c->size;
}

size_t ak_elf_capture_resident(const struct ak_elf_capture *c)
{
	return ak_elf_capture_is_elf(c) ? c->resident : 0;
}

void ak_elf_capture_free(struct ak_elf_capture *c)
{
	if (!c)
		return;
	if (c->mode == CAPTURE_SPARSE)
		munmap(c->buf, c->buf_len);
	else
		free(c->buf);
	free(c);
}
