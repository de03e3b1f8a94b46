#include "common/tmpdirs.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A slot is written while the signals are blocked in this thread, then published with
 * a release store; a handler (in any thread) reads only published slots. */
static struct {
	atomic_int used;
	char path[PATH_MAX];
} slots[AK_TMPDIRS_MAX];

static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* fchmodat2(AT_SYMLINK_NOFOLLOW) (Linux 6.6+): a name swapped for a symlink by a
 * process still running in the tree never makes archkit chmod what it points to;
 * older kernels refuse, and the directory stays. */
static void chmod_nofollow(int dirfd, const char *name)
{
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
	syscall(SYS_fchmodat2, dirfd, name, S_IRWXU, AT_SYMLINK_NOFOLLOW);
}

/* Empty the tree under dirfd, one directory level at a time: descend into a
 * non-empty subdirectory by fd, and when a directory is done go back up through ".."
 * and read the parent again from its start. Only one fd is open at a time and the
 * stack holds one buffer, so depth costs nothing; a budget stops it on a tree that
 * cannot be removed. */
int ak_rmtree_at(int dirfd, const char *path)
{
	if (!path)
		return 0;
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
				       : (unlinkat(dirfd, path, 0) == 0 || errno == ENOENT ? 0 : -1);
	char buf[4096] __attribute__((aligned(8)));
	long depth = 0, budget = 1L << 22;
	while (fd >= 0 && budget-- > 0) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		bool descended = false;
		for (long off = 0; n > 0 && off < n;) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(buf + off);
			off += de->d_reclen;
			const char *nm = de->d_name;
			if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
				continue;
			if (de->d_type != DT_DIR && (unlinkat(fd, nm, 0) == 0 || errno == ENOENT))
				continue;
			/* an unpacked image may hold 0555 directories: make this one writable
			 * and try again */
			if (errno == EACCES && fchmod(fd, S_IRWXU) == 0 && de->d_type != DT_DIR &&
			    (unlinkat(fd, nm, 0) == 0 || errno == ENOENT))
				continue;
			if (unlinkat(fd, nm, AT_REMOVEDIR) == 0 || errno == ENOENT)
				continue;
			if (errno != ENOTEMPTY && errno != EEXIST)
				continue; /* left; the budget ends the rescans */
			/* a 0000 or 0555 directory: opened and emptied only once it is ours */
			chmod_nofollow(fd, nm);
			int child = openat(fd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (child < 0)
				continue;
			close(fd);
			fd = child;
			depth++;
			descended = true;
			break;
		}
		if (descended || n > 0)
			continue;
		/* this directory is read to its end (or unreadable) */
		if (depth == 0)
			break;
		int parent = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = parent;
		depth--;
	}
	if (fd >= 0)
		close(fd);
	return unlinkat(dirfd, path, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

int ak_rmtree_signal_safe(const char *path)
{
	return ak_rmtree_at(AT_FDCWD, path);
}

static void on_signal(int sig)
{
	int saved = errno;
	for (int i = 0; i < AK_TMPDIRS_MAX; i++)
		if (atomic_load_explicit(&slots[i].used, memory_order_acquire) == 1)
			ak_rmtree_signal_safe(slots[i].path);
	/* the default action ends the process with this signal once the handler returns
	 * (the signal is blocked in a handler, so raise() leaves it pending until then) */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	raise(sig);
	errno = saved;
}

void ak_tmpdirs_catch_signals(void)
{
	static atomic_int done;
	if (atomic_exchange(&done, 1))
		return;
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++) {
		struct sigaction old, sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		for (size_t j = 0; j < sizeof(caught) / sizeof(caught[0]); j++)
			sigaddset(&sa.sa_mask, caught[j]); /* one handler at a time per thread */
		if (sigaction(caught[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(caught[i], &sa, NULL);
	}
}

static void block_caught(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		sigaddset(&set, caught[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

char *ak_tmpdir_create(char *tmpl)
{
	if (strlen(tmpl) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	sigset_t old;
	block_caught(&old);
	char *r = NULL;
	int e = ENOSPC;
	for (int i = 0; i < AK_TMPDIRS_MAX; i++) {
		int expected = 0;
		/* 2: claimed, not yet published */
		if (!atomic_compare_exchange_strong(&slots[i].used, &expected, 2))
			continue;
		r = mkdtemp(tmpl);
		e = errno;
		if (r) {
			memcpy(slots[i].path, tmpl, strlen(tmpl) + 1);
			atomic_store_explicit(&slots[i].used, 1, memory_order_release);
		} else {
			atomic_store(&slots[i].used, 0);
		}
		break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return r;
}

void ak_tmpdir_forget_remove(const char *path)
{
	if (!path)
		return;
	/* removed first, forgotten after: a signal in between removes what is left */
	ak_rmtree_signal_safe(path);
	sigset_t old;
	block_caught(&old);
	for (int i = 0; i < AK_TMPDIRS_MAX; i++)
		if (atomic_load(&slots[i].used) == 1 && !strcmp(slots[i].path, path)) {
			atomic_store(&slots[i].used, 0);
			break;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
