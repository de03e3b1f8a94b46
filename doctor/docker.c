/* archkit doctor: docker. Where a docker command and its daemon answer: is the daemon
 * rootless (its containers use the host's handlers, which it cannot register), does it
 * keep images in the containerd store (without it `--load` of a multi-platform image
 * fails), and does each buildx builder list the platforms this machine now runs (BuildKit
 * detects emulators when it starts: a builder started before registration lacks them).
 * docker runs without a shell, in a process group of its own, killed at the timeout. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/docker-parse.h"
#include "doctor/internal.h"
#include "verify/smoke-run.h"

extern char **environ;

#define DOCKER_OUTPUT_MAX (1u << 20) /* `docker info` prints ~3 KiB */
#define DOCKER_BUILDERS_MAX 16	     /* builders inspected, one `docker buildx inspect` each */

struct docker_out {
	bool started;	/* the command could be executed */
	bool timed_out; /* killed at the deadline */
	int status;	/* exit code, 128 + signal when killed */
	char *out, *err;
	size_t outlen, errlen;
};

static void docker_out_clear(struct docker_out *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/* Append what fd has to buf (capped: past the cap, read and dropped, so the child never
 * blocks on a full pipe); closes fd at EOF. Whether it read anything. */
static bool drain(int *fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t r = read(*fd, chunk, sizeof(chunk));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (r <= 0) {
		close(*fd);
		*fd = -1;
		return false;
	}
	size_t keep = *len >= DOCKER_OUTPUT_MAX ? 0 : DOCKER_OUTPUT_MAX - *len;
	if ((size_t)r < keep)
		keep = (size_t)r;
	if (keep) {
		*buf = ak_xrealloc(*buf, *len + keep + 1);
		memcpy(*buf + *len, chunk, keep);
		*len += keep;
		(*buf)[*len] = '\0';
	}
	return true;
}

/* Run exe with argv, stdin /dev/null, collecting stdout and stderr until it exits or
 * timeout_ms pass; then its whole process group is killed (a plugin it started too). */
static void docker_run(const char *exe, char *const argv[], int timeout_ms, struct docker_out *o)
{
	memset(o, 0, sizeof(*o));
	o->out = ak_xstrdup("");
	o->err = ak_xstrdup("");
	int po[2], pe[2];
	if (pipe2(po, O_CLOEXEC) < 0)
		return;
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	pid_t pid;
	int rc = posix_spawn(&pid, exe, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	if (rc != 0) {
		close(po[0]);
		close(pe[0]);
		free(o->err);
		o->err = ak_xasprintf("cannot run '%s': %s", exe, strerror(rc));
		o->errlen = strlen(o->err);
		return;
	}
	o->started = true;
	int fds[2] = {po[0], pe[0]};
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	int64_t deadline = ak_monotonic_ms() + timeout_ms;
	bool exited = false;
	for (;;) {
		/* the exit is seen without reaping, so the group can still be killed by the
		 * leader's id (it cannot be reused yet): a child it left holding the pipes
		 * costs nothing */
		siginfo_t si = {0};
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid) {
			exited = true;
			while (fds[0] >= 0 && drain(&fds[0], &o->out, &o->outlen))
				;
			while (fds[1] >= 0 && drain(&fds[1], &o->err, &o->errlen))
				;
			break;
		}
		int64_t left = deadline - ak_monotonic_ms();
		if (left <= 0)
			break;
		struct pollfd p[2];
		nfds_t n = 0;
		int which[2];
		for (int k = 0; k < 2; k++)
			if (fds[k] >= 0) {
				p[n] = (struct pollfd){.fd = fds[k], .events = POLLIN};
				which[n++] = k;
			}
		/* short waits: the exit itself is not a poll event */
		int r = poll(p, n, (int)(left > 10 ? 10 : left));
		if (r < 0 && errno != EINTR)
			break;
		for (nfds_t k = 0; r > 0 && k < n; k++) {
			if (!p[k].revents)
				continue;
			if (which[k] == 0)
				drain(&fds[0], &o->out, &o->outlen);
			else
				drain(&fds[1], &o->err, &o->errlen);
		}
	}
	o->timed_out = !exited;
	kill(-pid, SIGKILL);
	int ws = 0;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	for (int k = 0; k < 2; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	o->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The first line of s, trimmed, for a one-line detail (static buffer). */
static const char *first_line(const char *s)
{
	static char buf[240];
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strcspn(s, "\r\n");
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static bool is_command(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* opt->docker, or "docker": a name without '/' is looked up in $PATH, as a shell would. */
static char *find_docker(const char *want)
{
	const char *name = want && *want ? want : "docker";
	if (strchr(name, '/'))
		return is_command(name) ? ak_xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		cleanup_free char *cand =
			ak_xasprintf("%.*s/%s", (int)(n ? n : 1), n ? path : ".", name);
		if (is_command(cand))
			return steal_pointer(&cand);
		path += n + (path[n] == ':');
	}
	return NULL;
}

struct docker_ctx {
	struct ak_doctor_run *run;
	char *exe;
	int timeout_ms;
	bool rootless;
};

static void skip_rest(struct ak_doctor_report *r, const char *why)
{
	ak_doctor_add(r, "docker.rootless", AK_CHECK_SKIPPED, NULL, NULL, NULL, "%s", why);
	ak_doctor_add(r, "docker.image_store", AK_CHECK_SKIPPED, NULL, NULL, NULL, "%s", why);
	ak_doctor_add(r, "docker.builder", AK_CHECK_SKIPPED, NULL, NULL, NULL, "%s", why);
}

/* docker.daemon, docker.rootless, docker.image_store; false when the daemon did not answer. */
static bool check_daemon(struct docker_ctx *dc)
{
	struct ak_doctor_report *r = dc->run->r;
	char *argv[] = {dc->exe, "info", "--format", "{{json .}}", NULL};
	struct docker_out o;
	docker_run(dc->exe, argv, dc->timeout_ms, &o);
	struct ak_docker_info info = {0};
	if (o.started && !o.timed_out && o.status == 0)
		ak_docker_info_parse(o.out, o.outlen, &info);
	if (!info.version || info.has_errors) {
		const char *why = o.timed_out	    ? "did not answer in time"
				  : !o.started	    ? first_line(o.err)
				  : info.has_errors ? info.server_error
				  : *o.err	    ? first_line(o.err)
				  : o.status	    ? "failed"
						    : "printed no server version";
		const char *fix =
			strstr(o.err, "permission denied")
				? "sudo usermod -aG docker \"$USER\" (then log in again), or "
				  "run as root"
				: "sudo systemctl start docker (or set DOCKER_HOST to the "
				  "daemon's socket)";
		char took[32] = "";
		if (o.timed_out)
			snprintf(took, sizeof(took), " (%d ms)", dc->timeout_ms);
		ak_doctor_add(r, "docker.daemon", AK_CHECK_WARN, NULL, NULL, fix,
			      "'%s info' found no daemon: %s%s; builds through docker will fail",
			      dc->exe, why ? why : "?", took);
		docker_out_clear(&o);
		ak_docker_info_clear(&info);
		skip_rest(r, "the docker daemon did not answer");
		return false;
	}
	const char *driver = info.driver ? info.driver : "unknown";
	ak_doctor_add(r, "docker.daemon", AK_CHECK_PASS, NULL, NULL, NULL,
		      "docker daemon %s answers (storage driver %s)", info.version, driver);

	dc->rootless = info.rootless;
	if (dc->rootless)
		ak_doctor_add(r, "docker.rootless", AK_CHECK_WARN, NULL, NULL,
			      "sudo archkit binfmt install all (on the host, as root)",
			      "the docker daemon is rootless: its containers use the host's "
			      "binfmt_misc handlers, which only root on the host can register");
	else
		ak_doctor_add(r, "docker.rootless", AK_CHECK_PASS, NULL, NULL, NULL,
			      "the docker daemon runs as root (not rootless)");

	if (info.containerd)
		ak_doctor_add(
			r, "docker.image_store", AK_CHECK_PASS, NULL, NULL, NULL,
			"containerd image store (snapshotter %s): `docker buildx build --load` "
			"of a multi-platform image works",
			driver);
	else
		ak_doctor_add(
			r, "docker.image_store", AK_CHECK_WARN, NULL, NULL,
			dc->rootless
				? "{\"features\":{\"containerd-snapshotter\":true}} in "
				  "~/.config/docker/daemon.json, then systemctl --user "
				  "restart docker"
				: "{\"features\":{\"containerd-snapshotter\":true}} in "
				  "/etc/docker/daemon.json, then sudo systemctl restart docker",
			"classic image store (storage driver %s): `docker buildx build "
			"--load` of a multi-platform image fails with \"docker exporter does "
			"not currently support exporting manifest lists\"",
			driver);
	docker_out_clear(&o);
	ak_docker_info_clear(&info);
	return true;
}

/* What BuildKit looks for when it starts (util/archutil's SupportedPlatforms: a test
 * binary per platform, run through binfmt_misc). It never lists arm/v5 or ppc64 however
 * they run, and only recent versions look for mips64, mips64le and loong64: holding a
 * builder to those would fail every runner. */
static bool buildkit_detects(const struct ak_platform *p)
{
	static const char *const detected[] = {"linux/amd64",	"linux/arm64", "linux/riscv64",
					       "linux/ppc64le", "linux/s390x", "linux/386",
					       "linux/arm/v7",	"linux/arm/v6"};
	for (size_t i = 0; i < sizeof(detected) / sizeof(detected[0]); i++)
		if (!strcmp(p->name, detected[i]))
			return true;
	return false;
}

static bool builder_has(const struct ak_docker_builder *b, const struct ak_platform *p)
{
	for (size_t i = 0; i < b->nplatforms; i++)
		if (b->platforms[i] == p)
			return true;
	return false;
}

static void check_builder(struct docker_ctx *dc, struct ak_docker_builder *b)
{
	struct ak_doctor_report *r = dc->run->r;
	char *argv[] = {dc->exe, "buildx", "inspect", b->name, NULL};
	struct docker_out o;
	docker_run(dc->exe, argv, dc->timeout_ms, &o);
	bool ok = o.started && !o.timed_out && o.status == 0;
	if (ok)
		ak_docker_parse_inspect(o.out, b);
	const char *driver = b->driver ? b->driver : "docker-container";
	bool is_docker = !strcmp(driver, "docker");
	cleanup_free char *recreate =
		is_docker ? ak_xstrdup(dc->rootless ? "systemctl --user restart docker"
						    : "sudo systemctl restart docker")
			  : ak_xasprintf("docker buildx rm %s && docker buildx create --name %s "
					 "--driver %s --use",
					 b->name, b->name, driver);
	if (!ok || b->error) {
		ak_doctor_add(r, "docker.builder", AK_CHECK_WARN, NULL, b->name, recreate,
			      "builder '%s' cannot be inspected: %s", b->name,
			      b->error	    ? b->error
			      : o.timed_out ? "'docker buildx inspect' did not answer in time"
			      : *o.err	    ? first_line(o.err)
					    : "'docker buildx inspect' failed");
		docker_out_clear(&o);
		return;
	}
	docker_out_clear(&o);
	if (b->remote || (!is_docker && strcmp(driver, "docker-container"))) {
		ak_doctor_add(r, "docker.builder", AK_CHECK_INFO, NULL, b->name, NULL,
			      "builder '%s' (driver %s) builds on another machine: its platforms "
			      "do not depend on this one's handlers",
			      b->name, driver);
		return;
	}
	if (!b->running) {
		ak_doctor_add(r, "docker.builder", AK_CHECK_INFO, NULL, b->name, NULL,
			      "builder '%s' (driver %s) is not running: it finds the registered "
			      "platforms when it starts",
			      b->name, driver);
		return;
	}
	/* the platforms that run here and BuildKit would find, natives included, against
	 * the builder's list */
	size_t want = 0, len = 0;
	char missing[512] = "";
	for (size_t i = 0; i < r->nplatforms; i++) {
		const struct ak_doctor_platform *dp = &r->platforms[i];
		if (!dp->ok || !buildkit_detects(dp->platform))
			continue;
		want++;
		if (builder_has(b, dp->platform))
			continue;
		if (len < sizeof(missing))
			len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s",
						len ? ", " : "", dp->platform->name);
	}
	if (!*missing) {
		ak_doctor_add(r, "docker.builder", AK_CHECK_PASS, NULL, b->name, NULL,
			      "builder '%s' (driver %s) lists every platform that runs here (%zu "
			      "that BuildKit detects)",
			      b->name, driver, want);
		return;
	}
	/* the builder a build uses by default fails now; another one when it is picked */
	ak_doctor_add(r, "docker.builder", b->current ? AK_CHECK_FAIL : AK_CHECK_WARN, NULL,
		      b->name, recreate,
		      "%sbuilder '%s' (driver %s) lacks %s, which run%s here: it was started "
		      "before they were registered, and BuildKit detects emulators only when it "
		      "starts",
		      b->current ? "the current " : "", b->name, driver, missing,
		      strchr(missing, ',') ? "" : "s");
}

static void check_builders(struct docker_ctx *dc)
{
	struct ak_doctor_report *r = dc->run->r;
	char *argv[] = {dc->exe, "buildx", "ls", NULL};
	struct docker_out o;
	docker_run(dc->exe, argv, dc->timeout_ms, &o);
	if (!o.started || o.timed_out || o.status != 0) {
		ak_doctor_add(r, "docker.builder", AK_CHECK_SKIPPED, NULL, NULL, NULL,
			      "'docker buildx ls' %s%s%s",
			      o.timed_out ? "did not answer in time" : "failed",
			      *o.err && !o.timed_out ? ": " : "",
			      o.timed_out ? "" : first_line(o.err));
		docker_out_clear(&o);
		return;
	}
	struct ak_docker_builder b[DOCKER_BUILDERS_MAX];
	size_t n = ak_docker_parse_ls(o.out, b, DOCKER_BUILDERS_MAX);
	docker_out_clear(&o);
	if (n == 0)
		ak_doctor_add(r, "docker.builder", AK_CHECK_SKIPPED, NULL, NULL, NULL,
			      "'docker buildx ls' lists no builder");
	for (size_t i = 0; i < n; i++) {
		check_builder(dc, &b[i]);
		ak_docker_builder_clear(&b[i]);
	}
}

void ak_doctor_check_docker(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	const char *want = run->opt->docker;
	struct docker_ctx dc = {
		.run = run,
		.exe = find_docker(want),
		.timeout_ms = run->opt->timeout_ms > 0 ? run->opt->timeout_ms : AK_SMOKE_TIMEOUT_MS,
	};
	if (!dc.exe) {
		if (want && strchr(want, '/'))
			ak_doctor_add(r, "docker.daemon", AK_CHECK_SKIPPED, NULL, NULL, NULL,
				      "no docker command at '%s'", want);
		else
			ak_doctor_add(r, "docker.daemon", AK_CHECK_SKIPPED, NULL, NULL, NULL,
				      "no '%s' command in $PATH", want && *want ? want : "docker");
		skip_rest(r, "no docker command");
		return;
	}
	if (check_daemon(&dc))
		check_builders(&dc);
	free(dc.exe);
}
