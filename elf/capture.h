/* Capture one tar entry's bytes for ELF analysis with bounded memory. The layer walker
 * feeds every regular file through a capture; non-ELF files are rejected after their
 * first four bytes without any allocation. Small ELF files are kept whole; larger ones
 * live in one anonymous MAP_NORESERVE mapping of their full size in which only the head,
 * the tail and the windows after Go buildinfo magic are written, so the unwritten pages
 * read as zeros, cost no RSS, and libelf can still use file offsets unchanged. */
#ifndef AK_ELF_CAPTURE_H
#define AK_ELF_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Files up to this size are kept whole on the heap. */
#define AK_ELF_CAPTURE_WHOLE_MAX (16u << 20)
/* Above it: the first HEAD bytes (ELF and program headers, PT_INTERP, notes) ... */
#define AK_ELF_CAPTURE_HEAD (1u << 20)
/* ... the last TAIL bytes (section headers, .shstrtab, .ARM.attributes live there) ... */
#define AK_ELF_CAPTURE_TAIL (4u << 20)
/* ... and this much from each 16-byte aligned "\xff Go buildinf:" met on the way, */
#define AK_ELF_CAPTURE_GO_WINDOW (64u << 10)
/* at most this many of them (a hostile file could repeat the magic everywhere). */
#define AK_ELF_CAPTURE_GO_WINDOWS_MAX 4
/* ... and the PT_DYNAMIC, PT_INTERP and note segments (at most this many, each at most
 * SEGMENT_MAX bytes) that the program headers place between head and tail. */
#define AK_ELF_CAPTURE_SEGMENTS_MAX 8
#define AK_ELF_CAPTURE_SEGMENT_MAX (64u << 10)
/* Above this size only the head is kept (and analysed). */
#define AK_ELF_CAPTURE_CEILING (4ull << 30)

/* The Go buildinfo magic (14 bytes, 16-byte aligned in the file). */
#define AK_GO_BUILDINFO_MAGIC "\xff Go buildinf:"
#define AK_GO_BUILDINFO_MAGIC_LEN 14

struct ak_elf_capture;

/* Start capturing a file of size bytes (from the tar header). Allocates only the small
 * capture object; never NULL (err is not used). */
struct ak_elf_capture *ak_elf_capture_begin(uint64_t size, struct ak_error **err);
/* Feed the next chunk. Returns 0 (also when the file is not ELF: the bytes are dropped
 * at once), -ENOMEM when a file between WHOLE_MAX and CEILING cannot be mapped (its
 * size comes from the tar header), -EFBIG for bytes past the declared size (they are
 * ignored; what was captured stays usable). */
int ak_elf_capture_feed(struct ak_elf_capture *c, const void *buf, size_t len);
/* True once the first four bytes were "\x7fELF"; false before that. */
bool ak_elf_capture_is_elf(const struct ak_elf_capture *c);
/* The captured bytes at their file offsets (holes read as zeros) and how many of them
 * are usable: the declared size when complete, fewer when the stream ended early or the
 * file is above the ceiling (then only the head). NULL when not ELF. */
const unsigned char *ak_elf_capture_data(struct ak_elf_capture *c, size_t *len);
/* The declared size (pass it to ak_elf_classify as real_size). */
uint64_t ak_elf_capture_size(const struct ak_elf_capture *c);
/* Bytes of memory the capture has written (for tests of the memory bound). */
size_t ak_elf_capture_resident(const struct ak_elf_capture *c);
void ak_elf_capture_free(struct ak_elf_capture *c);

static inline void ak_elf_capture_freep(struct ak_elf_capture **c)
{
	ak_elf_capture_free(*c);
}
#define cleanup_elf_capture __attribute__((cleanup(ak_elf_capture_freep)))

#endif
