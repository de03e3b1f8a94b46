#include "binfmt/interp.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

void ak_interp_clear(struct ak_interp *in)
{
	free(in->path);
	free(in->version);
	memset(in, 0, sizeof(*in));
}

static bool is_exec_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int found(struct ak_interp *out, const char *path, bool needs_p)
{
	out->path = ak_xstrdup(path);
	out->needs_p = needs_p;
	return 0;
}

int ak_interp_find(const struct ak_qemu_target *t, const char *qemu_path, struct ak_interp *out,
		   struct ak_error **err)
{
	memset(out, 0, sizeof(*out));
	char buf[4096];
	const char *suffix[] = {"-static", ""};
	if (qemu_path) {
		for (size_t i = 0; i < 2; i++) {
			char name[64];
			snprintf(name, sizeof(name), "qemu-%s%s", t->name, suffix[i]);
			snprintf(buf, sizeof(buf), "%s/%s", qemu_path, name);
			if (is_exec_file(buf))
				return found(out, buf, false);
		}
		return ak_error_set(
			err, AK_EXIT_FAIL,
			"no interpreter for '%s': neither qemu-%s-static nor qemu-%s in '%s'",
			t->name, t->name, t->name, qemu_path);
	}
	const char *path_env = getenv("PATH");
	cleanup_free char *dirs =
		ak_xstrdup(path_env && *path_env ? path_env : "/usr/local/bin:/usr/bin:/bin");
	/* static builds first: they work inside containers and chroots (flag F) */
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *copy = ak_xstrdup(dirs);
		char *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			if (d[0] != '/')
				continue; /* a relative PATH entry would register a relative path */
			char name[64];
			snprintf(name, sizeof(name), "qemu-%s%s", t->name, suffix[i]);
			snprintf(buf, sizeof(buf), "%s/%s", d, name);
			if (is_exec_file(buf))
				return found(out, buf, false);
		}
		const char *usual[] = {"/usr/bin", "/usr/local/bin"};
		for (size_t j = 0; j < 2; j++) {
			char name[64];
			snprintf(name, sizeof(name), "qemu-%s%s", t->name, suffix[i]);
			snprintf(buf, sizeof(buf), "%s/%s", usual[j], name);
			if (is_exec_file(buf))
				return found(out, buf, false);
		}
	}
	snprintf(buf, sizeof(buf), "/usr/libexec/qemu-binfmt/%s-binfmt-P", t->name);
	if (is_exec_file(buf))
		return found(out, buf, true);
	return ak_error_set(
		err, AK_EXIT_FAIL,
		"no interpreter for '%s': qemu-%s-static not found in $PATH, /usr/bin, "
		"/usr/local/bin or /usr/libexec/qemu-binfmt (install qemu-user-static, or "
		"pass --qemu-path DIR)",
		t->name, t->name);
}

/* The machine this process itself was built for: what "an ELF for this host" means. */
static int host_machine(GElf_Half *machine, int *cls)
{
	unsigned char h[EI_NIDENT + 4];
	cleanup_fd int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ak_read_full(fd, h, sizeof(h)) != (long)sizeof(h))
		return -1;
	*cls = h[EI_CLASS];
	*machine = h[EI_DATA] == ELFDATA2LSB ? (GElf_Half)(h[18] | h[19] << 8)
					     : (GElf_Half)(h[18] << 8 | h[19]);
	return 0;
}

int ak_interp_check(struct ak_interp *in, bool fix_binary, struct ak_error **err)
{
	struct stat st;
	if (stat(in->path, &st) < 0)
		return ak_error_errno(err, AK_EXIT_FAIL, errno, "interpreter '%s'", in->path);
	if (!S_ISREG(st.st_mode))
		return ak_error_set(err, AK_EXIT_FAIL, "interpreter '%s' is not a regular file",
				    in->path);
	if (access(in->path, X_OK) < 0)
		return ak_error_set(err, AK_EXIT_FAIL, "interpreter '%s' is not executable",
				    in->path);
	if (elf_version(EV_CURRENT) == EV_NONE)
		return ak_error_set(err, AK_EXIT_ENV, "libelf: %s", elf_errmsg(-1));
	cleanup_fd int fd = open(in->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ak_error_errno(err, AK_EXIT_FAIL, errno, "interpreter '%s'", in->path);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	GElf_Ehdr eh;
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		if (elf)
			elf_end(elf);
		return ak_error_set(err, AK_EXIT_FAIL, "interpreter '%s' is not an ELF executable",
				    in->path);
	}
	GElf_Half hm = 0;
	int hc = 0;
	if (host_machine(&hm, &hc) == 0 && (eh.e_machine != hm || gelf_getclass(elf) != hc)) {
		elf_end(elf);
		return ak_error_set(err, AK_EXIT_FAIL,
				    "interpreter '%s' is not built for this host's machine",
				    in->path);
	}
	size_t phnum = 0;
	bool has_interp = false;
	if (elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_INTERP)
				has_interp = true;
		}
	}
	elf_end(elf);
	in->is_static = !has_interp;
	if (fix_binary && !in->is_static)
		return ak_error_set(
			err, AK_EXIT_FAIL,
			"interpreter '%s' is dynamically linked: with flag F the kernel "
			"starts it inside containers and chroots, where its libraries are "
			"missing; use a static build (qemu-user-static) or drop F with --flags",
			in->path);
	return 0;
}

int ak_interp_serves(const char *path, const struct ak_qemu_target *t, bool *needs_p,
		     struct ak_error **err)
{
	char wrapper[128], names[2][64];
	snprintf(wrapper, sizeof(wrapper), "/usr/libexec/qemu-binfmt/%s-binfmt-P", t->name);
	snprintf(names[0], sizeof(names[0]), "qemu-%s-static", t->name);
	snprintf(names[1], sizeof(names[1]), "qemu-%s", t->name);
	const char *base = strrchr(path, '/');
	size_t bl = base ? strlen(base) : 0;
	*needs_p = bl > 9 && strcmp(base + bl - 9, "-binfmt-P") == 0;
	cleanup_free char *real = realpath(path, NULL);
	if (!real)
		return ak_error_errno(err, AK_EXIT_FAIL, errno, "interpreter '%s'", path);
	const char *rbase = strrchr(real, '/') + 1;
	/* the wrapper may be a file of its own (older Debian) rather than a symlink */
	if (strcmp(rbase, names[0]) != 0 && strcmp(rbase, names[1]) != 0 &&
	    strcmp(real, wrapper) != 0)
		return ak_error_set(err, AK_EXIT_FAIL, "interpreter '%s' is not qemu-%s", path,
				    t->name);
	struct ak_interp in = {.path = real};
	int r = ak_interp_check(&in, true, err);
	in.path = NULL;
	return r;
}

const char *ak_version_status_name(enum ak_version_status s)
{
	switch (s) {
	case AK_VERSION_NOT_ASKED:
		return "not asked";
	case AK_VERSION_FOUND:
		return "found";
	case AK_VERSION_TIMED_OUT:
		return "timed out";
	case AK_VERSION_CANNOT_RUN:
		return "cannot run";
	case AK_VERSION_NONE:
		return "no version in its output";
	}
	return "?";
}

/* One running "INTERPRETER --version". */
struct version_query {
	pid_t pid; /* leader of its own process group; -1 when it did not start */
	int fd;	   /* read end of its stdout, -1 once at EOF */
	char out[512];
	size_t len;
};

/* Start it in a process group of its own, so that whatever it starts can be killed
 * with it; stdin and stderr are /dev/null. */
static void version_query_start(struct version_query *q, const char *path)
{
	q->pid = -1;
	q->fd = -1;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	char *const argv[] = {(char *)path, "--version", NULL};
	pid_t pid;
	int r = posix_spawn(&pid, path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		return;
	}
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	q->pid = pid;
	q->fd = pfd[0];
}

/* Read what is there; close the pipe at EOF, on an error, or once the buffer is full. */
static void version_query_read(struct version_query *q)
{
	ssize_t r = read(q->fd, q->out + q->len, sizeof(q->out) - 1 - q->len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r > 0)
		q->len += (size_t)r;
	if (r <= 0 || q->len == sizeof(q->out) - 1) {
		close(q->fd);
		q->fd = -1;
	}
}

void ak_interp_query_versions(struct ak_interp *in, size_t n, int timeout_ms)
{
	cleanup_free struct version_query *q = ak_xcalloc(n, sizeof(*q));
	cleanup_free struct pollfd *pfds = ak_xcalloc(n, sizeof(*pfds));
	cleanup_free size_t *which = ak_xcalloc(n, sizeof(*which));
	for (size_t i = 0; i < n; i++) {
		q[i].pid = q[i].fd = -1;
		if (in[i].path)
			version_query_start(&q[i], in[i].path);
	}

	/* one deadline for all: a slow interpreter costs the command at most timeout_ms */
	int64_t deadline = ak_monotonic_ms() + timeout_ms;
	for (;;) {
		nfds_t nfds = 0;
		for (size_t i = 0; i < n; i++) {
			if (q[i].fd < 0)
				continue;
			pfds[nfds] = (struct pollfd){.fd = q[i].fd, .events = POLLIN};
			which[nfds++] = i;
		}
		int64_t left = deadline - ak_monotonic_ms();
		if (nfds == 0 || left <= 0)
			break;
		int r = poll(pfds, nfds, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (nfds_t k = 0; k < nfds; k++)
			if (pfds[k].revents)
				version_query_read(&q[which[k]]);
	}

	for (size_t i = 0; i < n; i++) {
		if (!in[i].path)
			continue;
		bool late = q[i].fd >= 0;
		if (q[i].pid > 0) {
			/* Our child's own group; the leader is not reaped yet, so the id cannot
			 * have been reused. An answered query is killed too: what it left behind
			 * (a background process holding the pipe) goes with it. */
			kill(-q[i].pid, SIGKILL);
			while (waitpid(q[i].pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		if (q[i].fd >= 0)
			close(q[i].fd);
		q[i].out[q[i].len] = '\0';
		free(in[i].version);
		in[i].version = NULL;
		const char *v = strstr(q[i].out, "version ");
		if (v && strcspn(v + 8, " \n(") > 0)
			in[i].version = ak_xstrndup(v + 8, strcspn(v + 8, " \n("));
		in[i].version_status = in[i].version   ? AK_VERSION_FOUND
				       : q[i].pid <= 0 ? AK_VERSION_CANNOT_RUN
				       : late	       ? AK_VERSION_TIMED_OUT
						       : AK_VERSION_NONE;
	}
}
