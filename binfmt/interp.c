#include "binfmt/interp.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"

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
	out->path = strdup(path);
	out->needs_p = needs_p;
	return out->path ? 0 : -1;
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
		strdup(path_env && *path_env ? path_env : "/usr/local/bin:/usr/bin:/bin");
	if (!dirs)
		return ak_error_set(err, AK_EXIT_ENV, "out of memory");
	/* static builds first: they work inside containers and chroots (flag F) */
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *copy = strdup(dirs);
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

void ak_interp_query_version(struct ak_interp *in)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return;
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0)
			dup2(null, 2);
		execl(in->path, in->path, "--version", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	char out[512];
	size_t n = 0;
	struct pollfd p = {.fd = pfd[0], .events = POLLIN};
	while (n < sizeof(out) - 1 && poll(&p, 1, 5000) > 0) {
		ssize_t r = read(pfd[0], out + n, sizeof(out) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	close(pfd[0]);
	kill(pid, SIGKILL); /* our own child, by pid */
	waitpid(pid, NULL, 0);
	const char *v = strstr(out, "version ");
	if (v) {
		v += 8;
		size_t l = strcspn(v, " \n(");
		in->version = strndup(v, l);
	}
}
