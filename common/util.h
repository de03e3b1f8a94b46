/* Small helpers shared by every part: whole-file reads and writes, string lists. */
#ifndef AK_UTIL_H
#define AK_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Read at most max bytes of a file (NUL-terminated copy in *out, length in *len). */
int ak_read_file(const char *path, size_t max, char **out, size_t *len, struct ak_error **err);
/* Read a file relative to dirfd (AT_FDCWD allowed). */
int ak_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len,
		    struct ak_error **err);
/* Refuse fd unless it is a regular file, then clear O_NONBLOCK (opened with it, a FIFO
 * does not block the open); its size in *size when not NULL. 0, or -1 naming path. */
int ak_fd_require_regular(int fd, const char *path, int64_t *size, struct ak_error **err);
/* Read the regular file at path (a FIFO, device or directory refused without blocking),
 * at most max bytes, into one buffer sized by fstat, so no copy of the bytes is left
 * in freed memory and a caller can wipe them. errnum tells ENOENT from the rest. */
int ak_read_regular_file(const char *path, size_t max, char **out, size_t *len,
			 struct ak_error **err);
/* Write all of buf to fd, retrying short writes and EINTR; returns 0 or -errno. */
int ak_write_all(int fd, const void *buf, size_t len);
/* Read exactly len bytes unless EOF; returns bytes read or -errno. */
long ak_read_full(int fd, void *buf, size_t len);
/* Render bytes as \xNN escapes (binfmt_misc and systemd syntax); caller frees. */
char *ak_hex_escape(const unsigned char *buf, size_t len);
/* Lowercase hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void ak_hex_encode(const unsigned char *buf, size_t len, char *out);
/* openat2 below dirfd: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS plus resolve_extra (say
 * RESOLVE_NO_SYMLINKS), O_CLOEXEC added; the fd, or -1 with errno (EXDEV: it leads out). */
int ak_openat_beneath(int dirfd, const char *path, int flags, uint64_t resolve_extra);
/* Parse \xNN escapes and plain characters; returns length or -1 when malformed. */
long ak_hex_unescape(const char *s, unsigned char *out, size_t max);
bool ak_str_has_prefix(const char *s, const char *prefix);
/* Make room for element n of an array that grows one element at a time through here
 * alone: its capacity is implicit (8, then each power of two), so growth is geometric
 * with no field to keep. Exits when memory runs out (as ak_xrealloc), so it returns 0:
 * the int stays for callers that still check it. */
int ak_grow_one(void *arrayp, size_t n, size_t size);
/* Milliseconds on CLOCK_MONOTONIC, for deadlines. */
int64_t ak_monotonic_ms(void);
/* The CPUs this process may run on (its affinity mask, which a container's cpuset
 * narrows), at least 1. */
unsigned ak_cpus_available(void);
/* How many to run at once: requested when > 0, else ak_cpus_available() (not the CPUs
 * online, which count a container's whole host); never above max. */
unsigned ak_parallel_jobs(int requested, unsigned max);
/* Make a directory and its parents (mode 0755); 0 or -errno. */
int ak_mkdir_p(const char *path);

#endif
