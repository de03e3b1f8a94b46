/* archkit doctor: the kernel, the binfmt_misc mount, the user namespace and this
 * process's privileges. Nothing is mounted or written, and an automount is looked at
 * without being triggered: the host's state is what is reported. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "binfmt/instance.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/checks.h"
#include "doctor/internal.h"

static long read_sysctl(const char *path)
{
	cleanup_free char *s = NULL;
	if (ak_read_file(path, 64, &s, NULL, NULL) < 0)
		return -1;
	return strtol(s, NULL, 10);
}

static bool kernel_has_binfmt_misc(void)
{
	cleanup_free char *fs = NULL;
	if (ak_read_file("/proc/filesystems", 1 << 16, &fs, NULL, NULL) < 0)
		return false;
	return strstr(fs, "\tbinfmt_misc\n") != NULL;
}

static void check_kernel(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	ak_doctor_add(r, "kernel.version", AK_CHECK_PASS, NULL, NULL, NULL, "Linux %s", r->kernel);
	if (ak_doctor_kernel_at_least(r->kernel, 4, 8))
		ak_doctor_add(r, "kernel.fix_binary", AK_CHECK_PASS, NULL, NULL, NULL,
			      "flag F (interpreter opened at registration) needs Linux 4.8+: "
			      "supported");
	else
		ak_doctor_add(r, "kernel.fix_binary", AK_CHECK_FAIL, NULL, NULL,
			      "upgrade the kernel to Linux 4.8 or later",
			      "Linux %s has no flag F: emulation cannot work inside containers "
			      "and chroots",
			      r->kernel);
	if (ak_doctor_kernel_at_least(r->kernel, 6, 7))
		ak_doctor_add(r, "kernel.private_instances", AK_CHECK_PASS, NULL, NULL, NULL,
			      "a user namespace can mount a binfmt_misc of its own (Linux 6.7+): "
			      "'archkit sandbox' works");
	else
		ak_doctor_add(r, "kernel.private_instances", AK_CHECK_INFO, NULL, NULL, NULL,
			      "Linux %s has one binfmt_misc for the whole machine (private "
			      "instances need 6.7+): 'archkit sandbox' and 'verify IMAGE' cannot "
			      "register private handlers",
			      r->kernel);
	if (kernel_has_binfmt_misc())
		ak_doctor_add(r, "kernel.binfmt_misc", AK_CHECK_PASS, NULL, NULL, NULL,
			      "binfmt_misc is in /proc/filesystems");
	else
		ak_doctor_add(r, "kernel.binfmt_misc", AK_CHECK_FAIL, NULL, NULL,
			      "modprobe binfmt_misc",
			      "binfmt_misc is not in /proc/filesystems: the module is not loaded");

	char detail[512], fix[256];
	bool privileged = geteuid() == 0;
	enum ak_check_status st = ak_doctor_userns_judge(
		read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
		read_sysctl("/proc/sys/user/max_user_namespaces"),
		read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"), privileged,
		detail, sizeof(detail), fix, sizeof(fix));
	ak_doctor_add(r, "kernel.userns", st, NULL, NULL, fix[0] ? fix : NULL, "%s", detail);
}

/* The canonical path of an fd, for matching mountinfo. */
static char *fd_path(int fd)
{
	char link[64], buf[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return ak_xstrdup(buf);
}

static void skip_mount_checks(struct ak_doctor_run *run, const char *why)
{
	ak_doctor_add(run->r, "mount.writable", AK_CHECK_SKIPPED, NULL, NULL, NULL, "%s", why);
	ak_doctor_add(run->r, "mount.status", AK_CHECK_SKIPPED, NULL, NULL, NULL, "%s", why);
}

/* Is the binfmt_misc mount a usable one? Returns the open instance directory or -1. */
static int check_mount(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	const char *dir = run->mount_dir;
	/* O_PATH without O_DIRECTORY: the last component's automount is not triggered */
	cleanup_fd int pfd = open(dir, O_PATH | O_CLOEXEC);
	if (pfd < 0) {
		int e = errno;
		cleanup_free char *fix =
			strcmp(dir, AK_BINFMT_DEFAULT_DIR) == 0 || !kernel_has_binfmt_misc()
				? ak_xstrdup("modprobe binfmt_misc")
				: ak_xasprintf("mkdir -p %s && mount -t binfmt_misc binfmt_misc %s",
					       dir, dir);
		ak_doctor_add(r, "mount.filesystem", AK_CHECK_FAIL, NULL, NULL, fix,
			      "cannot look at '%s': %s", dir, strerror(e));
		skip_mount_checks(run, "no binfmt_misc mount to look at");
		return -1;
	}
	struct statfs sf;
	unsigned long magic = fstatfs(pfd, &sf) == 0 ? (unsigned long)sf.f_type : 0;
	cleanup_free char *path = fd_path(pfd);
	cleanup_free char *info = NULL;
	struct ak_mountinfo m = {0};
	bool have_m = path && ak_read_file("/proc/self/mountinfo", 16 << 20, &info, NULL, NULL) == 0 &&
		      ak_doctor_mountinfo_find(info, path, &m) == 0;
	enum ak_mount_kind kind = ak_doctor_mount_classify(magic, have_m ? &m : NULL);
	cleanup_free char *mount_fix =
		ak_xasprintf("%smount -t binfmt_misc binfmt_misc %s (as root, on the host)",
			     kernel_has_binfmt_misc() ? "" : "modprobe binfmt_misc && ", dir);
	int dirfd = -1;
	switch (kind) {
	case AK_MOUNT_BINFMT:
		dirfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0) {
			ak_doctor_add(r, "mount.filesystem", AK_CHECK_FAIL, NULL, NULL, "run as root",
				      "binfmt_misc at '%s' cannot be opened: %s", dir,
				      strerror(errno));
			skip_mount_checks(run, "binfmt_misc cannot be opened");
			break;
		}
		ak_doctor_add(r, "mount.filesystem", AK_CHECK_PASS, NULL, NULL, NULL,
			      "'%s' is a binfmt_misc mount", dir);
		break;
	case AK_MOUNT_AUTOFS: {
		cleanup_free char *fix = ak_xasprintf(
			"on the host: ls %s (or systemctl start proc-sys-fs-binfmt_misc.mount)", dir);
		ak_doctor_add(r, "mount.filesystem", AK_CHECK_FAIL, NULL, NULL, fix,
			      "'%s' is an automount (autofs%s%s) that nothing has triggered: no "
			      "binfmt_misc is mounted, and handlers registered from a container "
			      "never reach the host",
			      dir, have_m ? ", source " : "", have_m ? m.source : "");
		skip_mount_checks(run, "binfmt_misc is not mounted (untriggered automount)");
		break;
	}
	case AK_MOUNT_OTHER: {
		cleanup_free char *fix = ak_xasprintf(
			"umount %s && mount -t binfmt_misc binfmt_misc %s (as root, on the host)",
			dir, dir);
		ak_doctor_add(r, "mount.filesystem", AK_CHECK_FAIL, NULL, NULL, fix,
			      "'%s' is a %s mount, not binfmt_misc: no handler can be registered "
			      "or seen there",
			      dir, m.fstype);
		skip_mount_checks(run, "not a binfmt_misc mount");
		break;
	}
	case AK_MOUNT_NONE:
		ak_doctor_add(r, "mount.filesystem", AK_CHECK_FAIL, NULL, NULL, mount_fix,
			      "binfmt_misc is not mounted at '%s'", dir);
		skip_mount_checks(run, "binfmt_misc is not mounted");
		break;
	}
	ak_mountinfo_clear(&m);
	if (dirfd < 0)
		return -1;

	struct statvfs sv;
	if (fstatvfs(dirfd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		cleanup_free char *fix = ak_xasprintf(
			"register on the host, or remount it: mount -o remount,rw %s", dir);
		ak_doctor_add(r, "mount.writable", AK_CHECK_WARN, NULL, NULL, fix,
			      "'%s' is mounted read-only (as in a container): its handlers work, but "
			      "none can be added or repaired from here",
			      dir);
	} else {
		ak_doctor_add(r, "mount.writable", AK_CHECK_PASS, NULL, NULL, NULL,
			      "'%s' is mounted read-write", dir);
	}
	cleanup_free char *status = NULL;
	if (ak_read_file_at(dirfd, "status", 64, &status, NULL, NULL) < 0) {
		ak_doctor_add(r, "mount.status", AK_CHECK_FAIL, NULL, NULL, mount_fix,
			      "'%s/status' cannot be read: %s", dir, strerror(errno));
	} else if (strncmp(status, "enabled", 7) == 0) {
		ak_doctor_add(r, "mount.status", AK_CHECK_PASS, NULL, NULL, NULL,
			      "binfmt_misc is enabled");
	} else {
		cleanup_free char *fix = ak_xasprintf("echo 1 > %s/status", dir);
		ak_doctor_add(r, "mount.status", AK_CHECK_FAIL, NULL, NULL, fix,
			      "binfmt_misc is disabled: no handler runs anything");
	}
	return dirfd;
}

/* The instance belongs to this user namespace (or one whose root is ours): its files
 * are owned by our uid 0. The host's instance seen from a user namespace is owned by an
 * unmapped uid (the overflow uid). */
static bool instance_is_ours(int dirfd)
{
	struct stat st;
	return dirfd >= 0 && fstatat(dirfd, "register", &st, 0) == 0 && st.st_uid == 0;
}

static void check_namespace(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	static const char fix[] =
		"register the handlers in the initial user namespace: on the host, 'sudo archkit "
		"binfmt install all' (or from a --privileged container)";
	if (ak_in_initial_userns()) {
		ak_doctor_add(r, "namespace.user", AK_CHECK_PASS, NULL, NULL, NULL,
			      "the initial user namespace: these handlers serve the whole machine, "
			      "the Docker daemon and every container");
		return;
	}
	if (run->dirfd >= 0 && instance_is_ours(run->dirfd))
		ak_doctor_add(r, "namespace.user", AK_CHECK_WARN, NULL, NULL, fix,
			      "a non-initial user namespace with a private binfmt_misc instance: its "
			      "handlers serve only this namespace's processes; the Docker daemon "
			      "and other containers never see them");
	else
		ak_doctor_add(r, "namespace.user", AK_CHECK_WARN, NULL, NULL, fix,
			      "a non-initial user namespace: the handlers seen here are an "
			      "ancestor's (the host's), and nothing registered from here reaches "
			      "the Docker daemon or other containers");
}

static void check_privileges(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	if (run->dirfd < 0) {
		ak_doctor_add(r, "privileges", AK_CHECK_SKIPPED, NULL, NULL, NULL,
			      "no binfmt_misc instance to repair");
		return;
	}
	struct ak_binfmt_instance inst = {
		.dir = (char *)run->mount_dir, .dirfd = run->dirfd, .lockfd = -1};
	cleanup_error struct ak_error *err = NULL;
	if (ak_binfmt_check_writable(&inst, &err) < 0)
		ak_doctor_add(r, "privileges", AK_CHECK_INFO, NULL, NULL, NULL,
			      "this process cannot repair handlers: %s", err->msg);
	else if (!ak_in_initial_userns() && !instance_is_ours(run->dirfd))
		ak_doctor_add(r, "privileges", AK_CHECK_INFO, NULL, NULL, NULL,
			      "this process cannot repair handlers: the instance belongs to an "
			      "ancestor user namespace");
	else
		ak_doctor_add(r, "privileges", AK_CHECK_PASS, NULL, NULL, NULL,
			      "this process could repair handlers (CAP_SYS_ADMIN, a writable "
			      "mount of its own namespace's instance)");
}

void ak_doctor_check_system(struct ak_doctor_run *run)
{
	check_kernel(run);
	run->dirfd = check_mount(run);
	check_namespace(run);
	check_privileges(run);
	if (run->dirfd < 0)
		return;
	cleanup_error struct ak_error *err = NULL;
	if (ak_binfmt_table_read(run->dirfd, &run->table, &err) < 0) {
		ak_doctor_add(run->r, "mount.entries", AK_CHECK_FAIL, NULL, NULL, "run as root",
			      "the entries of '%s' cannot be read: %s", run->mount_dir, err->msg);
		return;
	}
	run->table_read = true;
	ak_doctor_add(run->r, "mount.entries", AK_CHECK_PASS, NULL, NULL, NULL,
		      "%zu entr%s registered", run->table.count, run->table.count == 1 ? "y" : "ies");
}
