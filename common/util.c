#include "common/util.h"

#include <errno.h>
#include <sched.h>
#include <linux/openat2.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

int ak_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len,
		    struct ak_error **err)
{
	cleanup_fd int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", path);
	size_t cap = 4096, n = 0;
	cleanup_free char *buf = ak_xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				return ak_error_set(err, AK_EXIT_ENV,
						    "'%s' is larger than %zu bytes", path, max);
			cap = cap * 2 > max ? max : cap * 2;
			buf = ak_xrealloc(buf, cap + 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read '%s'", path);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = steal_pointer(&buf);
	return 0;
}

int ak_read_file(const char *path, size_t max, char **out, size_t *len, struct ak_error **err)
{
	return ak_read_file_at(AT_FDCWD, path, max, out, len, err);
}

static const char *file_type_name(mode_t m)
{
	return S_ISDIR(m)		  ? "a directory"
	       : S_ISFIFO(m)		  ? "a FIFO"
	       : S_ISSOCK(m)		  ? "a socket"
	       : S_ISCHR(m) || S_ISBLK(m) ? "a device"
					  : "not a file";
}

int ak_fd_require_regular(int fd, const char *path, int64_t *size, struct ak_error **err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot stat '%.200s'", path);
	if (!S_ISREG(st.st_mode))
		return ak_error_set(err, AK_EXIT_ENV, "'%.200s' is not a regular file (%s)", path,
				    file_type_name(st.st_mode));
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot read '%.200s'", path);
	if (size)
		*size = st.st_size;
	return 0;
}

int ak_read_regular_file(const char *path, size_t max, char **out, size_t *len,
			 struct ak_error **err)
{
	/* O_NONBLOCK: opening a FIFO for reading would wait for a writer forever */
	cleanup_fd int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%.200s'", path);
	int64_t size;
	if (ak_fd_require_regular(fd, path, &size, err) < 0)
		return -1;
	if ((uint64_t)size > max)
		return ak_error_set_kind(err, AK_EXIT_ENV, AK_ERR_LIMIT, 0,
					 "'%.200s' is larger than %zu bytes", path, max);
	/* one byte more than fstat said, to notice a file that grows while read */
	char *buf = malloc((size_t)size + 2);
	if (!buf)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	long n = ak_read_full(fd, buf, (size_t)size + 1);
	if (n < 0 || n > size) {
		free(buf);
		if (n < 0)
			return ak_error_errno(err, AK_EXIT_ENV, (int)-n, "cannot read '%.200s'", path);
		return ak_error_set(err, AK_EXIT_ENV, "'%.200s' changed while it was read", path);
	}
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	*out = buf;
	return 0;
}

int ak_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

long ak_read_full(int fd, void *buf, size_t len)
{
	size_t n = 0;
	while (n < len) {
		ssize_t r = read(fd, (char *)buf + n, len - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (long)n;
}

char *ak_hex_escape(const unsigned char *buf, size_t len)
{
	char *s = ak_xmalloc(len * 4 + 1);
	for (size_t i = 0; i < len; i++)
		snprintf(s + i * 4, 5, "\\x%02x", buf[i]);
	s[len * 4] = '\0';
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long ak_hex_unescape(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;
	while (*s) {
		int c;
		if (s[0] == '\\' && s[1] == 'x') {
			int hi = hexval(s[2]), lo = hi >= 0 ? hexval(s[3]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			s += 4;
		} else if (s[0] == '\\') {
			return -1;
		} else {
			c = (unsigned char)*s++;
		}
		if (n >= max)
			return -1;
		out[n++] = (unsigned char)c;
	}
	return (long)n;
}

bool ak_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int ak_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int64_t ak_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned ak_cpus_available(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

unsigned ak_parallel_jobs(int requested, unsigned max)
{
	unsigned n = requested > 0 ? (unsigned)requested : ak_cpus_available();
	return n < max ? n : max;
}

void ak_hex_encode(const unsigned char *buf, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * len] = '\0';
}

int ak_openat_beneath(int dirfd, const char *path, int flags, uint64_t resolve_extra)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | resolve_extra,
	};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int ak_grow_one(void *arrayp, size_t n, size_t size)
{
	void **array = arrayp;
	if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return 0;
	*array = ak_xreallocarray(*array, n < 8 ? 8 : 2 * n, size);
	return 0;
}
