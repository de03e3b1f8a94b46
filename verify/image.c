#include "verify/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "binfmt/interp.h"
#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/fsview.h"
#include "image/image.h"
#include "image/rootfs.h"
#include "image/unpack.h"
#include "sandbox/root.h"
#include "verify/verify.h"

const char *ak_vi_status_name(enum ak_vi_status s)
{
	switch (s) {
	case AK_VI_PASSED:
		return "passed";
	case AK_VI_FAILED:
		return "failed";
	case AK_VI_TIMED_OUT:
		return "timed-out";
	case AK_VI_NOT_RUNNABLE:
		return "not-runnable";
	}
	return "?";
}

/* ---- which variants ---- */

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* The variants asked for, each (manifest, platform, name) once. A platform asked for
 * and missing is an error that lists what the image has: there is nothing to run. */
static int select_variants(struct ak_variant_list *vl, const struct ak_verify_image_options *opt,
			   const char *ref, const struct ak_variant ***out, size_t *n,
			   struct ak_error **err)
{
	if (vl->n == 0)
		return ak_error_set(err, AK_EXIT_ENV, "'%s' holds no image", ref);
	/* an output that says nothing about its platform takes the one asked for */
	for (size_t i = 0; i < vl->n; i++) {
		struct ak_variant *v = &vl->items[i];
		if (!v->platform && opt->nfilter == 1 && !v->index_platform &&
		    !v->config_platform && !v->folder_platform)
			v->platform = opt->filter[0];
	}
	for (size_t i = 0; i < vl->n; i++) {
		const struct ak_variant *v = &vl->items[i];
		/* nothing to choose the handler or check the machine by: nothing to run */
		if (!v->platform && !v->index_platform && !v->config_platform &&
		    !v->folder_platform)
			return ak_error_set(err, AK_EXIT_ENV,
					    "'%s' names no platform (single-platform output): "
					    "pass --platform P to say which it is",
					    ref);
	}
	for (size_t k = 0; k < opt->nfilter; k++) {
		bool present = false;
		for (size_t i = 0; i < vl->n && !present; i++)
			present = vl->items[i].platform == opt->filter[k];
		if (present)
			continue;
		char has[1024];
		ak_variant_list_platforms(vl, has, sizeof(has));
		return ak_error_set(err, AK_EXIT_ENV, "'%s' has no variant for %s (it has: %s)",
				    ref, opt->filter[k]->name, has);
	}
	const struct ak_variant **sel = ak_xcalloc(vl->n, sizeof(*sel));
	size_t m = 0;
	for (size_t i = 0; i < vl->n; i++) {
		const struct ak_variant *v = &vl->items[i];
		bool wanted = opt->nfilter == 0;
		for (size_t k = 0; k < opt->nfilter && !wanted; k++)
			wanted = v->platform == opt->filter[k];
		for (size_t j = 0; j < m && wanted; j++) {
			const struct ak_variant *u = sel[j];
			if (u->platform == v->platform && u->manifest_digest && v->manifest_digest &&
			    !strcmp(u->manifest_digest, v->manifest_digest) &&
			    !strcmp(or_empty(u->ref_name), or_empty(v->ref_name)))
				wanted = false; /* listed again: running it again says nothing new */
		}
		if (wanted)
			sel[m++] = v;
	}
	*out = sel;
	*n = m;
	return 0;
}

/* ---- what to run ---- */

static bool is_file(const struct ak_fsview *view, const char *path)
{
	const struct ak_fsview_entry *e = NULL;
	struct ak_error *err = NULL;
	int r = ak_fsview_resolve(view, path, &e, &err);
	ak_error_free(err);
	return r == 1 && e->type == AK_ENTRY_REGULAR;
}

/* The default command: `uname -m` through the variant's own shell; without a shell,
 * busybox's applet; else the entrypoint asked for its version. *check_machine says
 * whether stdout names a machine. NULL when the variant holds none of them. */
static char **default_command(const struct ak_fsview *view, const struct ak_variant *v,
			      bool *check_machine)
{
	*check_machine = true;
	if (is_file(view, "bin/sh"))
		return ak_xstrv_dup((char *const[]){"/bin/sh", "-c", "uname -m", NULL});
	if (is_file(view, "bin/busybox"))
		return ak_xstrv_dup((char *const[]){"/bin/busybox", "uname", "-m", NULL});
	*check_machine = false;
	char *const *ep = v->process.entrypoint && v->process.entrypoint[0] ? v->process.entrypoint
									    : v->process.cmd;
	if (!ep || !ep[0])
		return NULL;
	size_t n = 0;
	while (ep[n])
		n++;
	char **out = ak_xcalloc(n + 2, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = ak_xstrdup(ep[i]);
	out[n] = ak_xstrdup("--version");
	return out;
}

/* The config's WorkingDir when the final filesystem has it as a directory (a runtime
 * would make it; "/" is as good for a check), else NULL: the root. */
static const char *working_dir(const struct ak_fsview *view, const struct ak_variant *v)
{
	const char *wd = v->process.working_dir;
	if (!wd || wd[0] != '/')
		return NULL;
	const struct ak_fsview_entry *e = NULL;
	struct ak_error *err = NULL;
	int r = ak_fsview_resolve(view, wd, &e, &err);
	ak_error_free(err);
	return r == 1 && e->type == AK_ENTRY_DIR ? wd : NULL;
}

static bool has_var(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return true;
	return false;
}

/* The config's Env, plus the PATH and HOME that Docker adds when it lacks them. */
static char **run_env(const struct ak_variant *v)
{
	char *const *env = v->process.env;
	size_t n = 0;
	while (env && env[n])
		n++;
	char **out = ak_xcalloc(n + 3, sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		out[k++] = ak_xstrdup(env[i]);
	if (!has_var(env, "PATH"))
		out[k++] = ak_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
				      "/bin");
	if (!has_var(env, "HOME"))
		out[k++] = ak_xstrdup("HOME=/root");
	return out;
}

/* ---- the run of one variant ---- */

struct verify_run {
	const struct ak_verify_image_options *opt;
	struct ak_native_probe natives;
	int tmpfd;
	char *tmpdir;
	struct ak_unpack_store *store;
};

static void set_text(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_text(char **dst, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(*dst);
	*dst = ak_xvasprintf(fmt, ap);
	va_end(ap);
}

static char *install_fix(const struct ak_platform *p)
{
	return ak_xasprintf("apt-get install qemu-user-static && archkit binfmt install %s",
			    p->name);
}

/* The QEMU target of this host's own machine, NULL when uname names none. */
static const struct ak_qemu_target *host_target(void)
{
	struct utsname u;
	return uname(&u) == 0 ? ak_qemu_target_find(u.machine) : NULL;
}

/* The handler a non-native platform needs: a static QEMU for its target, found where
 * `archkit binfmt install` would look. 0 with *native, or with interp filled; 1 when
 * nothing here can run it (v->status and the texts set). */
static int find_handler(struct verify_run *vr, struct ak_vi_variant *v, struct ak_interp *interp,
			bool *native)
{
	const struct ak_qemu_target *t = ak_platform_qemu(v->platform);
	/* a host runs no other CPU family's code itself: only its own family's targets
	 * (i386 on x86_64, arm on aarch64) need the run that proves it */
	const struct ak_qemu_target *host = host_target();
	*native = host && strcmp(host->family, t->family) != 0
			  ? false
			  : ak_native_target(t, &vr->natives);
	if (*native)
		return 0;
	struct ak_error *e = NULL;
	if (ak_interp_find(t, vr->opt->qemu_path, interp, &e) < 0 ||
	    ak_interp_check(interp, true, &e) < 0) {
		v->status = AK_VI_NOT_RUNNABLE;
		/* where it looked is the finder's message: in JSON, not on the row */
		set_text(&v->detail, "no QEMU interpreter for %s here", v->name);
		set_text(&v->why, "%s", e ? e->msg : "not found");
		v->fix = install_fix(v->platform);
		ak_error_free(e);
		return 1;
	}
	ak_interp_query_versions(interp, 1, AK_INTERP_VERSION_TIMEOUT_MS); /* for its flags */
	return 0;
}

static void judge_run(struct ak_vi_variant *v, const struct ak_root_result *res,
		      bool check_machine, bool native, int timeout_ms)
{
	v->elapsed_ms = res->elapsed_ms;
	v->out = ak_xstrdup(res->out ? res->out : "");
	v->err_tail = ak_xstrdup(res->err_tail ? res->err_tail : "");
	switch (res->outcome) {
	case AK_ROOT_TIMED_OUT:
		v->status = AK_VI_TIMED_OUT;
		set_text(&v->detail, "killed after %d s", timeout_ms / 1000);
		return;
	case AK_ROOT_EXEC_FAILED:
		if (res->exec_errno == ENOEXEC) {
			/* the variant's own code runs here (natively, or by the one handler
			 * registered for it): what failed is not code of its platform */
			v->status = AK_VI_FAILED;
			set_text(&v->detail,
				 "exec format error: '%s' is not %s code (%s)", v->command[0],
				 v->name,
				 native ? "which this host runs natively"
					: "which the registered QEMU handler runs");
			set_text(&v->fix, "%s binaries in the %s variant (`archkit probe` names "
					  "the files)",
				 v->name, v->name);
		} else {
			v->status = AK_VI_FAILED;
			set_text(&v->detail, "cannot execute '%s': %s%s", v->command[0],
				 strerror(res->exec_errno),
				 res->exec_errno == ENOENT
					 ? " (the file, or the ELF loader it names, is missing)"
					 : "");
		}
		return;
	case AK_ROOT_SIGNALED:
		v->status = AK_VI_FAILED;
		v->signal = res->signal;
		set_text(&v->detail, "killed by signal %d (SIG%s, status %d)", res->signal,
			 sigabbrev_np(res->signal) ? sigabbrev_np(res->signal) : "?",
			 128 + res->signal);
		return;
	case AK_ROOT_EXITED:
		break;
	}
	v->exit_code = res->exit_code;
	if (res->exit_code != 0) {
		v->status = AK_VI_FAILED;
		set_text(&v->detail, "exit status %d", res->exit_code);
		return;
	}
	if (!check_machine) {
		v->status = AK_VI_PASSED;
		set_text(&v->detail, "exit status 0");
		return;
	}
	char machine[128];
	size_t n = strcspn(v->out, "\r\n");
	snprintf(machine, sizeof(machine), "%.*s", (int)(n < 100 ? n : 100), v->out);
	v->machine = ak_xstrdup(machine);
	if (ak_platform_uname_ok(v->platform, machine)) {
		v->status = AK_VI_PASSED;
		set_text(&v->detail, "uname -m: %s", machine);
		return;
	}
	v->status = AK_VI_FAILED;
	set_text(&v->detail, "reported machine %s, not one of %s's (%s)", machine, v->name,
		 v->platform->uname);
	set_text(&v->fix, "%s binaries in the %s variant (a build step that ignored "
			  "TARGETPLATFORM? `archkit probe` names the files)",
		 v->name, v->name);
}

static void fill_variant(struct ak_vi_variant *v, const struct ak_variant *src);

/* Open path in the unpacked root as the command would see it (symlinks inside it). */
static int open_in_root(int rootfd, const char *path)
{
	/* the last link is followed too, as exec follows it */
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* The file exec would run for argv0: itself when it has a '/', else the first PATH
 * entry holding it, as execvp searches. -1 when there is none. */
static int open_command(int rootfd, const char *argv0, char *const *env)
{
	if (strchr(argv0, '/'))
		return open_in_root(rootfd, argv0);
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "PATH=", 5))
			path = env[i] + 5;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		char full[PATH_MAX];
		if (n > 0 && (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)n, p, argv0) <
				     sizeof(full)) {
			int fd = open_in_root(rootfd, full);
			if (fd >= 0)
				return fd;
		}
		p += n + (p[n] == ':');
	}
	return -1;
}

/* A command of another CPU's code than the variant's can still "pass" when it is the
 * host's own (amd64 code in an s390x variant runs natively on an amd64 runner): so
 * before CMD runs, its ELF header must name the variant's machine. 1 with the verdict
 * set when it does not; 0 otherwise (a script, no such file: the run will say). */
static int check_command_code(int rootfd, struct ak_vi_variant *v, char *const *env)
{
	int fd = open_command(rootfd, v->command[0], env);
	if (fd < 0)
		return 0;
	unsigned char h[20];
	long n = ak_read_full(fd, h, sizeof(h));
	close(fd);
	if (n < (long)sizeof(h) || memcmp(h, "\x7f" "ELF", 4) != 0)
		return 0;
	const struct ak_platform *p = v->platform;
	uint16_t machine = h[5] == 2 ? (uint16_t)(h[18] << 8 | h[19]) : (uint16_t)(h[19] << 8 | h[18]);
	if (machine == p->e_machine && h[4] == p->elf_class && h[5] == p->elf_data)
		return 0;
	const char *what = "another platform";
	for (size_t i = 0; i < ak_platform_count; i++)
		if (ak_platforms[i].e_machine == machine && ak_platforms[i].elf_class == h[4] &&
		    ak_platforms[i].elf_data == h[5]) {
			what = ak_platforms[i].name;
			break;
		}
	v->status = AK_VI_FAILED;
	set_text(&v->detail, "'%s' is %s code, not %s's: not run (a host that runs that code "
			     "itself would make it pass)",
		 v->command[0], what, v->name);
	set_text(&v->fix, "%s binaries in the %s variant (`archkit probe` names the files)",
		 v->name, v->name);
	return 1;
}

/* Flags for the private handler. P (keep argv[0]) as docker/setup-qemu-action's
 * handlers have it: a multi-call binary that re-executes itself through /proc/self/exe
 * (Debian's busybox shell runs its applets so) gets its applet's name back only with
 * P; without it `sh -c 'sleep 1'` fails with "can't open '1'". QEMU reads P from
 * AT_FLAGS since 6.0; an older one would take argv[0] for the program, so it gets F
 * alone, and Debian's -binfmt-P wrappers need P. */
static const char *handler_flags(const struct ak_interp *in)
{
	if (in->needs_p)
		return "PF";
	int major = in->version ? atoi(in->version) : 0;
	return major >= 6 ? "PF" : "F";
}

/* A variant on its way: its root on disk, and its run once started. */
struct slot {
	struct ak_vi_variant *v;
	size_t idx;
	struct ak_root_proc *proc;
	struct ak_interp interp;
	bool native, check_machine;
	char **env;
	int rootfd;
};

static void slot_path(const struct verify_run *vr, size_t idx, char *buf, size_t len)
{
	snprintf(buf, len, "%s/root-%zu", vr->tmpdir, idx);
}

/* Free what the slot holds and remove its root: no root outlives its run. */
static void slot_clear(struct verify_run *vr, struct slot *sl)
{
	char path[PATH_MAX];
	ak_strv_free(sl->env);
	ak_interp_clear(&sl->interp);
	if (sl->rootfd >= 0)
		close(sl->rootfd);
	slot_path(vr, sl->idx, path, sizeof(path));
	ak_rmtree_signal_safe(path);
	*sl = (struct slot){.rootfd = -1};
}

/* Decide what variant idx runs, unpack its root and start the run. 0 with sl->proc
 * set when it runs; 0 without when its verdict is already known (no platform, nothing
 * to run, no QEMU); -1 with *err when the environment fails. */
static int start_variant(struct verify_run *vr, const struct ak_variant *src,
			 const struct ak_fsview *view, size_t idx, struct ak_vi_variant *v,
			 struct slot *sl, struct ak_error **err)
{
	*sl = (struct slot){.v = v, .idx = idx, .rootfd = -1};
	if (vr->opt->cmd)
		v->command = ak_xstrv_dup(vr->opt->cmd);
	else
		v->command = default_command(view, src, &sl->check_machine);
	if (!v->platform) {
		v->status = AK_VI_FAILED;
		set_text(&v->detail, "a platform archkit does not know (%s)",
			 src->index_platform	? src->index_platform
			 : src->config_platform ? src->config_platform
						: src->folder_platform);
		set_text(&v->fix, "a known platform (%s)", ak_platform_known_list());
		return 0;
	}
	if (!v->command) {
		v->status = AK_VI_FAILED;
		set_text(&v->detail, "nothing to run: no /bin/sh, /bin/busybox, entrypoint or "
				     "command in the image");
		set_text(&v->fix, "a command to run: archkit verify IMAGE -- CMD ARGS");
		return 0;
	}
	if (find_handler(vr, v, &sl->interp, &sl->native) > 0)
		return 0;
	char name[32], path[PATH_MAX];
	snprintf(name, sizeof(name), "root-%zu", idx);
	slot_path(vr, idx, path, sizeof(path));
	if (mkdirat(vr->tmpfd, name, 0700) < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot make '%s'", path);
	sl->rootfd = openat(vr->tmpfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sl->rootfd < 0)
		return ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", path);
	struct ak_unpack_stats stats = {0};
	if (ak_unpack_materialise(vr->store, view, sl->rootfd, &stats, err) < 0)
		return ak_error_prefix(err, "%s: unpacking", v->name);
	v->files = stats.files;
	v->bytes = stats.bytes;
	sl->env = run_env(src);
	if (vr->opt->cmd && check_command_code(sl->rootfd, v, sl->env))
		return 0;
	struct ak_root_handler h = {.target = ak_platform_qemu(v->platform),
				    .interpreter = sl->interp.path,
				    .flags = handler_flags(&sl->interp)};
	struct ak_root_run run = {
		.root_fd = sl->rootfd,
		.argv = v->command,
		/* the image's own PATH and variables, as a runtime would set them */
		.envp = sl->env,
		.cwd = working_dir(view, src),
		.handlers = sl->native ? NULL : &h,
		.nhandlers = sl->native ? 0 : 1,
		.timeout_ms = vr->opt->timeout_ms,
	};
	if (vr->opt->starting)
		vr->opt->starting(v->name, vr->opt->ctx);
	return ak_root_start(&run, &sl->proc, err);
}

/* The run of a started slot ended (or timed out): its verdict. */
static int end_variant(struct verify_run *vr, struct slot *sl, struct ak_error **err)
{
	struct ak_vi_variant *v = sl->v;
	struct ak_root_result res = {0};
	int r = ak_root_finish(sl->proc, &res, err);
	sl->proc = NULL;
	if (r < 0)
		return ak_error_prefix(err, "%s", v->name);
	v->emulated = !sl->native;
	v->interpreter = sl->native ? NULL : ak_xstrdup(sl->interp.path);
	judge_run(v, &res, sl->check_machine, sl->native, vr->opt->timeout_ms);
	if (v->status == AK_VI_PASSED && sl->check_machine)
		set_text(&v->detail, "uname -m: %s (%s%s)", v->machine,
			 sl->native ? "native" : "emulated: ", sl->native ? "" : sl->interp.path);
	ak_root_result_clear(&res);
	return 0;
}

/* Runs at once: each is mostly one QEMU's start-up, so one per CPU (--jobs N too). */
static size_t parallel_runs(const struct ak_verify_image_options *opt)
{
	return ak_parallel_jobs(opt->jobs, AK_ROOT_WAIT_MAX);
}

/* Every variant: a root is unpacked and its run started while others run; a root is
 * removed as soon as its run ends, so at most parallel_runs() roots are on disk. */
static int run_variants(struct verify_run *vr, const struct ak_variant **sel,
			struct ak_fsview **views, size_t nsel, struct ak_vi_report *out,
			struct ak_error **err)
{
	size_t k = parallel_runs(vr->opt);
	struct slot *slots = ak_xcalloc(k, sizeof(*slots));
	struct ak_root_proc **procs = ak_xcalloc(k, sizeof(*procs));
	size_t next = 0, running = 0;
	int r = 0;
	for (size_t i = 0; i < k; i++)
		slots[i].rootfd = -1;
	out->variants = ak_xcalloc(nsel ? nsel : 1, sizeof(*out->variants));
	while (r == 0 && (next < nsel || running > 0)) {
		for (size_t i = 0; r == 0 && i < k && next < nsel; i++) {
			if (procs[i])
				continue;
			struct ak_vi_variant *v = &out->variants[next];
			fill_variant(v, sel[next]);
			out->n = next + 1;
			r = start_variant(vr, sel[next], views[next], next, v, &slots[i], err);
			ak_fsview_free(views[next]);
			views[next++] = NULL;
			if (r == 0 && slots[i].proc) {
				procs[i] = slots[i].proc;
				running++;
			} else {
				if (r == 0)
					out->count[v->status]++;
				slot_clear(vr, &slots[i]);
			}
		}
		if (r < 0 || running == 0)
			continue;
		int w = ak_root_wait_any(procs, k, err);
		if (w < 0) {
			r = -1;
			break;
		}
		procs[w] = NULL;
		running--;
		r = end_variant(vr, &slots[w], err);
		if (r == 0)
			out->count[slots[w].v->status]++;
		slot_clear(vr, &slots[w]);
	}
	/* failing: end what still runs */
	for (size_t i = 0; i < k; i++) {
		if (slots[i].proc) {
			struct ak_root_result ignored;
			ak_root_finish(slots[i].proc, &ignored, NULL);
			ak_root_result_clear(&ignored);
			slots[i].proc = NULL;
		}
		if (slots[i].v || slots[i].rootfd >= 0)
			slot_clear(vr, &slots[i]);
	}
	free(procs);
	free(slots);
	return r;
}

/* ---- the whole verify ---- */

static int unpack_make(void *ctx, size_t job, const struct ak_descriptor *layer,
		       struct ak_layer_consumer *out, struct ak_error **err)
{
	return ak_unpack_consumer(ctx, job, out, err);
}

static int unpack_finish(void *ctx, size_t job, struct ak_layer_consumer *c, bool ok,
			 struct ak_error **err)
{
	return ak_unpack_consumer_finish(c, err);
}

static void fill_variant(struct ak_vi_variant *v, const struct ak_variant *src)
{
	v->platform = src->platform;
	v->name = ak_xstrdup(src->platform ? src->platform->name : "unknown");
	v->ref_name = ak_xstrdup(src->ref_name);
	v->manifest_digest = ak_xstrdup(src->manifest_digest);
	v->exit_code = -1;
}

static int verify_all(struct ak_image *img, const char *ref,
		      const struct ak_verify_image_options *opt, struct ak_vi_report *out,
		      struct ak_error **err)
{
	struct ak_variant_list vl = {0};
	cleanup_free const struct ak_variant **sel = NULL;
	size_t nsel = 0;
	if (ak_image_variants_all(img, opt->filter, opt->nfilter, &vl, err) < 0)
		return -1;
	int r = select_variants(&vl, opt, ref, &sel, &nsel, err);
	struct verify_run vr = {.opt = opt, .tmpfd = -1};
	struct ak_rootfs *rs = NULL;
	struct ak_fsview **views = NULL;
	ak_native_probe_init(&vr.natives, NULL);
	if (r == 0) {
		out->kind = ak_xstrdup(ak_image_kind(img));
		for (size_t i = 0; i < vl.n_notes; i++) {
			out->notes = ak_xrealloc(out->notes, (out->nnotes + 1) * sizeof(char *));
			out->notes[out->nnotes++] = ak_xstrdup(vl.notes[i]);
		}
		const char *base = getenv("TMPDIR");
		char tmpl[PATH_MAX];
		snprintf(tmpl, sizeof(tmpl), "%s/archkit-verify-XXXXXX",
			 base && *base ? base : "/tmp");
		ak_tmpdirs_catch_signals();
		if (!ak_tmpdir_create(tmpl))
			r = ak_error_errno(err, AK_EXIT_ENV, errno,
					   "cannot make a temporary directory in '%s'",
					   base && *base ? base : "/tmp");
		else
			vr.tmpdir = ak_xstrdup(tmpl);
	}
	if (r == 0 && (vr.tmpfd = open(vr.tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = ak_error_errno(err, AK_EXIT_ENV, errno, "cannot open '%s'", vr.tmpdir);
	if (r == 0)
		r = ak_unpack_store_new(vr.tmpfd, "store", opt->max_unpack_bytes, &vr.store, err);
	if (r == 0) {
		struct ak_rootfs_options ro = {.max_layer_bytes = opt->max_layer_bytes,
					       .jobs = opt->jobs};
		struct ak_rootfs_consumers cons = {
			.ctx = vr.store, .make = unpack_make, .finish = unpack_finish};
		r = ak_rootfs_scan(img, sel, nsel, &ro, &cons, &rs, err);
	}
	/* every view first: a stored file is moved by its last user, copied for the others */
	if (r == 0)
		views = ak_xcalloc(nsel, sizeof(*views));
	for (size_t i = 0; r == 0 && i < nsel; i++) {
		if (!(views[i] = ak_rootfs_view(rs, i, false, err)))
			r = -1;
		else
			ak_unpack_plan(vr.store, views[i]);
	}
	if (r == 0)
		r = run_variants(&vr, sel, views, nsel, out, err);
	for (size_t i = 0; views && i < nsel; i++)
		ak_fsview_free(views[i]);
	free(views);
	ak_rootfs_free(rs);
	ak_unpack_store_free(vr.store);
	if (vr.tmpfd >= 0)
		close(vr.tmpfd);
	if (vr.tmpdir)
		ak_tmpdir_forget_remove(vr.tmpdir);
	free(vr.tmpdir);
	ak_variant_list_free(&vl);
	return r;
}

int ak_verify_image(const char *ref, const struct ak_verify_image_options *opt,
		    struct ak_vi_report *out, struct ak_error **err)
{
	memset(out, 0, sizeof(*out));
	struct ak_verify_image_options o = *opt;
	if (o.timeout_ms <= 0)
		o.timeout_ms = AK_VERIFY_IMAGE_TIMEOUT_MS;
	struct ak_image_options io;
	ak_image_options_init(&io);
	if (opt->registry)
		io.registry = *opt->registry;
	struct ak_image *img = NULL;
	if (ak_image_open_with(ref, &io, &img, err) < 0)
		return -1;
	int r = verify_all(img, ref, &o, out, err);
	ak_image_close(img);
	if (r < 0)
		ak_vi_report_free(out);
	return r;
}

void ak_vi_report_free(struct ak_vi_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct ak_vi_variant *v = &r->variants[i];
		free(v->name);
		free(v->ref_name);
		free(v->manifest_digest);
		ak_strv_free(v->command);
		free(v->interpreter);
		free(v->machine);
		free(v->out);
		free(v->err_tail);
		free(v->detail);
		free(v->fix);
		free(v->why);
	}
	free(r->variants);
	for (size_t i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	free(r->kind);
	memset(r, 0, sizeof(*r));
}
