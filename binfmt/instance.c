#include "binfmt/instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

#define BINFMTFS_MAGIC 0x42494e4d

bool ak_in_initial_userns(void)
{
	cleanup_free char *map = NULL;
	if (ak_read_file("/proc/self/uid_map", 4096, &map, NULL, NULL) < 0)
		return true;
	unsigned long a, b, c;
	/* the initial namespace maps the whole range onto itself */
	return sscanf(map, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295UL;
}

static bool has_cap_sys_admin(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;
	if (caps) {
		cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

static bool kernel_knows_binfmt_misc(void)
{
	cleanup_free char *fs = NULL;
	if (ak_read_file("/proc/filesystems", 1 << 16, &fs, NULL, NULL) < 0)
		return true; /* cannot tell: let the mount say */
	return strstr(fs, "\tbinfmt_misc\n") != NULL;
}

static bool is_binfmt_mount(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 && (unsigned long)sf.f_type == BINFMTFS_MAGIC;
}

static int explain_not_mounted(const char *dir, int mount_errno, struct ak_error **err)
{
	if (!kernel_knows_binfmt_misc())
		return ak_error_set(err, AK_EXIT_ENV,
				    "binfmt_misc is not available: the kernel module is not loaded "
				    "(run 'modprobe binfmt_misc' as root)");
	if (mount_errno == 0)
		return ak_error_set(err, AK_EXIT_ENV,
				    "binfmt_misc is not mounted at '%s' (mount it with 'mount -t "
				    "binfmt_misc binfmt_misc %s', or drop --no-mount)",
				    dir, dir);
	if (mount_errno == EPERM && !ak_in_initial_userns()) {
		struct utsname u;
		uname(&u);
		return ak_error_set(err, AK_EXIT_ENV,
				    "cannot mount binfmt_misc at '%s' in this user namespace: a "
				    "private instance needs Linux 6.7 or later (this is %s)",
				    dir, u.release);
	}
	if (mount_errno == EPERM)
		return ak_error_set(err, AK_EXIT_ENV,
				    "binfmt_misc is not mounted at '%s' and mounting it needs root "
				    "or CAP_SYS_ADMIN",
				    dir);
	return ak_error_errno(err, AK_EXIT_ENV, mount_errno, "cannot mount binfmt_misc at '%s'",
			      dir);
}

static void read_status(struct ak_binfmt_instance *inst)
{
	cleanup_free char *status = NULL;
	if (ak_read_file_at(inst->dirfd, "status", 64, &status, NULL, NULL) == 0)
		inst->enabled = strncmp(status, "enabled", 7) == 0;
}

int ak_binfmt_open(const char *dir, bool do_mount, struct ak_binfmt_instance *inst,
		   struct ak_error **err)
{
	memset(inst, 0, sizeof(*inst));
	inst->dirfd = inst->lockfd = -1;
	inst->dir = ak_xstrdup(dir);
	cleanup_fd int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", dir);
	if (fd < 0 || !is_binfmt_mount(fd)) {
		if (fd < 0 && strcmp(dir, AK_BINFMT_DEFAULT_DIR) != 0)
			return ak_error_set(err, AK_EXIT_ENV, "'%s' does not exist", dir);
		if (!do_mount)
			return explain_not_mounted(dir, 0, err);
		if (mount("binfmt_misc", dir, "binfmt_misc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			return explain_not_mounted(dir, errno, err);
		ak_closep(&fd);
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || !is_binfmt_mount(fd))
			return ak_error_set(err, AK_EXIT_ENV,
					    "mounted binfmt_misc at '%s' but cannot open it", dir);
	}
	inst->dirfd = steal_fd(&fd);
	read_status(inst);
	return 0;
}

void ak_binfmt_open_dirfd(int dirfd, const char *dir, struct ak_binfmt_instance *inst)
{
	memset(inst, 0, sizeof(*inst));
	inst->lockfd = -1;
	inst->dirfd = dirfd;
	inst->dir = ak_xstrdup(dir);
	read_status(inst);
}

void ak_binfmt_close(struct ak_binfmt_instance *inst)
{
	if (inst->lockfd >= 0)
		close(inst->lockfd);
	if (inst->dirfd >= 0)
		close(inst->dirfd);
	free(inst->dir);
	memset(inst, 0, sizeof(*inst));
	inst->dirfd = inst->lockfd = -1;
}

int ak_binfmt_lock(struct ak_binfmt_instance *inst, struct ak_error **err)
{
	if (inst->lockfd >= 0)
		return 0;
	/* The lock lives on the instance's own directory, so two archkit runs against the
	 * same instance serialise and runs against different instances do not. */
	int fd = openat(inst->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot lock '%s'", inst->dir);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot lock '%s'", inst->dir);
	}
	inst->lockfd = fd;
	return 0;
}

int ak_binfmt_check_writable(const struct ak_binfmt_instance *inst, struct ak_error **err)
{
	struct statvfs sv;
	if (fstatvfs(inst->dirfd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return ak_error_set(
			err, AK_EXIT_ENV,
			"binfmt_misc at '%s' is mounted read-only (as in an unprivileged "
			"container); register handlers on the host or run with --privileged",
			inst->dir);
	if (!has_cap_sys_admin())
		return ak_error_set(err, AK_EXIT_ENV,
				    "registering handlers at '%s' needs root or CAP_SYS_ADMIN (try "
				    "sudo, or 'archkit sandbox' for private handlers without root)",
				    inst->dir);
	return 0;
}

/* Turn a failed write into advice (STYLE.md: EPERM, EEXIST, ENOENT, EINVAL, EROFS). */
static int write_error_msg(struct ak_binfmt_instance *inst, const char *what, const char *name,
			   int e, bool has_f, struct ak_error **err)
{
	switch (e) {
	case EPERM:
	case EACCES:
		if (!ak_in_initial_userns())
			return ak_error_set(err, AK_EXIT_ENV,
					    "cannot %s '%s': this binfmt_misc instance belongs to "
					    "another user namespace (mount a private one, or use "
					    "'archkit sandbox')",
					    what, name);
		return ak_error_set(err, AK_EXIT_ENV, "cannot %s '%s': needs root or CAP_SYS_ADMIN",
				    what, name);
	case EEXIST:
		return ak_error_set(err, AK_EXIT_ENV,
				    "cannot %s '%s': an entry with that name is already there",
				    what, name);
	case ENOENT:
		return ak_error_set(
			err, AK_EXIT_ENV,
			"cannot %s '%s': the interpreter file (or the entry) does not exist", what,
			name);
	case EINVAL:
		if (has_f)
			return ak_error_set(
				err, AK_EXIT_ENV,
				"cannot %s '%s': the kernel rejected the rule (flag F needs "
				"Linux 4.8 or later; or the rule is malformed)",
				what, name);
		return ak_error_set(err, AK_EXIT_ENV,
				    "cannot %s '%s': the kernel rejected the rule", what, name);
	case EROFS:
		return ak_error_set(err, AK_EXIT_ENV, "cannot %s '%s': '%s' is mounted read-only",
				    what, name, inst->dir);
	default:
		return ak_error_errno(err, AK_EXIT_ENV, e, "cannot %s '%s'", what, name);
	}
}

static int write_error(struct ak_binfmt_instance *inst, const char *what, const char *name, int e,
		       bool has_f, struct ak_error **err)
{
	bool fresh = err && !*err;
	write_error_msg(inst, what, name, e, has_f, err);
	if (fresh && *err)
		(*err)->errnum = e; /* callers tell privilege problems from per-entry ones */
	return -1;
}

static const char *rule_name(const char *rule, char *buf, size_t len)
{
	const char *p = rule + 1;
	size_t n = strcspn(p, ":");
	snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
	return buf;
}

int ak_binfmt_register(struct ak_binfmt_instance *inst, const char *rule, struct ak_error **err)
{
	char name[AK_BINFMT_NAME_MAX + 1];
	rule_name(rule, name, sizeof(name));
	const char *flags = strrchr(rule, ':');
	bool has_f = flags && strchr(flags, 'F');
	cleanup_fd int fd = openat(inst->dirfd, "register", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return write_error(inst, "register", name, errno, has_f, err);
	/* the kernel parses one rule per write(): never split it */
	ssize_t w = write(fd, rule, strlen(rule));
	if (w < 0)
		return write_error(inst, "register", name, errno, has_f, err);
	if ((size_t)w != strlen(rule))
		return ak_error_set(err, AK_EXIT_ENV, "cannot register '%s': short write", name);
	return 0;
}

static int write_entry(struct ak_binfmt_instance *inst, const char *name, const char *value,
		       const char *what, struct ak_error **err)
{
	if (ak_binfmt_name_check(name, err) < 0)
		return -1;
	cleanup_fd int fd = openat(inst->dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return write_error(inst, what, name, errno, false, err);
	if (write(fd, value, strlen(value)) < 0)
		return write_error(inst, what, name, errno, false, err);
	return 0;
}

int ak_binfmt_unregister(struct ak_binfmt_instance *inst, const char *name, struct ak_error **err)
{
	return write_entry(inst, name, "-1", "remove", err);
}

int ak_binfmt_enable(struct ak_binfmt_instance *inst, const char *name, struct ak_error **err)
{
	return write_entry(inst, name, "1", "enable", err);
}
