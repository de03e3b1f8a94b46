/* archkit doctor: every binfmt_misc entry and every platform asked about. The registrar's
 * plan classifies each QEMU target exactly as `archkit binfmt install` would (native,
 * missing, in place, drifted, a distro's equivalent), so doctor and install agree; then
 * each entry is judged on its own (enabled, magic, interpreter, flags), the QEMU behind
 * it asked for its version, and each platform's smoke binary run twice: from here, and
 * inside a private root that inherits this instance (the interpreter is outside that
 * root, so only flag F can run it). The slow parts go side by side: the root runs start
 * first and are collected last. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binfmt/registrar.h"
#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/checks.h"
#include "doctor/internal.h"
#include "sandbox/root.h"
#include "verify/verify.h"

/* What one run of the handler checks keeps per target and per entry. */
struct target_info {
	const struct ak_qemu_target *t;
	const struct ak_platform *first; /* the first asked platform it serves */
	struct ak_handler *h;		 /* its handler in the plan */
};

struct entry_info {
	const struct ak_binfmt_entry *e;
	const struct ak_qemu_target *t; /* the asked target it serves, or NULL */
	const struct ak_platform *first;
	bool owned;		/* some archkit platform's binaries match it */
	struct ak_interp interp; /* for the version query */
	bool interp_ok;
};

/* `archkit binfmt install P` with this run's --mount-dir; extra appended. */
static char *install_fix(const struct ak_doctor_run *run, const char *platform, const char *extra)
{
	bool def = strcmp(run->mount_dir, AK_BINFMT_DEFAULT_DIR) == 0;
	return ak_xasprintf("archkit binfmt install %s%s%s%s%s", platform, extra ? " " : "",
			    extra ? extra : "", def ? "" : " --mount-dir ", def ? "" : run->mount_dir);
}

static bool named_for(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t)
{
	return ak_str_has_prefix(e->name, "qemu-") && strcmp(e->name + 5, t->name) == 0;
}

/* Does e serve target t: named for it, or catching its binaries (enabled or not)? */
static bool serves(const struct ak_binfmt_entry *e, const struct ak_qemu_target *t)
{
	unsigned char hdr[64];
	ak_qemu_target_sample_header(t, hdr);
	return named_for(e, t) || (!e->is_extension && ak_binfmt_entry_matches(e, hdr, sizeof(hdr)));
}

static bool owned_by_a_platform(const struct ak_binfmt_entry *e)
{
	for (size_t i = 0; i < ak_platform_count; i++)
		if (serves(e, ak_platform_qemu(&ak_platforms[i])))
			return true;
	return false;
}

static void check_interpreter(const struct ak_doctor_run *run, struct entry_info *ei)
{
	const struct ak_binfmt_entry *e = ei->e;
	const char *pl = ei->first->name;
	bool f = strchr(e->flags, 'F') != NULL;
	struct stat st;
	if (stat(e->interpreter, &st) < 0) {
		int en = errno;
		cleanup_free char *fix = install_fix(run, pl, "--replace always");
		if (en == ENOENT && f)
			ak_doctor_add(run->r, "handler.interpreter", AK_CHECK_FAIL, pl, e->name, fix,
				      "interpreter '%s' was deleted after registration: flag F keeps "
				      "the file it opened working until the entry is removed or the "
				      "machine reboots",
				      e->interpreter);
		else
			ak_doctor_add(run->r, "handler.interpreter", AK_CHECK_FAIL, pl, e->name, fix,
				      "interpreter '%s': %s", e->interpreter, strerror(en));
		return;
	}
	struct ak_interp in = {.path = ak_xstrdup(e->interpreter)};
	cleanup_error struct ak_error *err = NULL;
	if (ak_interp_check(&in, f, &err) < 0) {
		cleanup_free char *fix = install_fix(run, pl, "--replace always");
		ak_doctor_add(run->r, "handler.interpreter", AK_CHECK_FAIL, pl, e->name, fix, "%s",
			      err->msg);
		ak_interp_clear(&in);
		return;
	}
	ak_doctor_add(run->r, "handler.interpreter", AK_CHECK_PASS, pl, e->name, NULL,
		      "interpreter '%s' is present, executable%s", e->interpreter,
		      in.is_static ? " and statically linked" : " (dynamically linked, no F)");
	ei->interp = in;
	ei->interp_ok = true;
}

static void check_entry(const struct ak_doctor_run *run, struct entry_info *ei,
			const struct target_info *ti)
{
	const struct ak_binfmt_entry *e = ei->e;
	struct ak_doctor_report *r = run->r;
	const char *pl = ei->first->name;
	if (e->enabled) {
		ak_doctor_add(r, "handler.enabled", AK_CHECK_PASS, pl, e->name, NULL, "enabled");
	} else {
		cleanup_free char *fix = install_fix(run, pl, NULL);
		ak_doctor_add(r, "handler.enabled", AK_CHECK_FAIL, pl, e->name, fix,
			      "'%s' is disabled: it runs nothing", e->name);
	}

	/* a distro's line that accepts the same real binaries is as good as archkit's */
	if (ti->h && ti->h->state == AK_HANDLER_EQUIVALENT && named_for(e, ti->t)) {
		ak_doctor_add(r, "handler.magic", AK_CHECK_PASS, pl, e->name, NULL,
			      "magic and mask accept the same %s binaries as the platform table's",
			      pl);
	} else {
		struct ak_binfmt_entry want;
		cleanup_free char *drift = NULL;
		if (ak_binfmt_entry_for_target(ti->t, "/x", "F", &want, NULL) == 0) {
			drift = ak_doctor_magic_drift(e, &want);
			ak_binfmt_entry_clear(&want);
		}
		if (drift) {
			cleanup_free char *install = install_fix(run, pl, "--replace always");
			/* archkit replaces its own entries only: another one goes first */
			cleanup_free char *fix =
				named_for(e, ti->t) ? ak_xstrdup(install)
						    : ak_xasprintf("echo -1 > %s/%s && %s",
								   run->mount_dir, e->name, install);
			ak_doctor_add(r, "handler.magic", AK_CHECK_FAIL, pl, e->name, fix,
				      "'%s' drifted from the platform table: %s", e->name, drift);
		} else {
			ak_doctor_add(r, "handler.magic", AK_CHECK_PASS, pl, e->name, NULL,
				      "offset, magic and mask as the platform table says");
		}
	}

	check_interpreter(run, ei);

	char detail[1024];
	enum ak_check_status st =
		ak_doctor_flags_judge(e->flags, strstr(e->interpreter, "-binfmt-P") != NULL,
				      detail, sizeof(detail));
	cleanup_free char *fix = NULL;
	if (st == AK_CHECK_FAIL)
		fix = install_fix(run, pl, "--replace always");
	else if (st == AK_CHECK_WARN) {
		cleanup_free char *install = install_fix(run, pl, "--replace always");
		fix = ak_xasprintf("%s (flags F; keep C only where images need setuid binaries "
				   "such as sudo under emulation)",
				   install);
	}
	ak_doctor_add(r, "handler.flags", st, pl, e->name, fix, "flags '%s': %s", e->flags,
		      detail);
}

/* ---- the smoke runs inside a private root ---- */

struct root_runs {
	char dir[4096];
	int dirfd;
	struct ak_root_proc *procs[AK_ROOT_WAIT_MAX];
	char *argv0[AK_ROOT_WAIT_MAX];
	struct ak_root_result res[AK_ROOT_WAIT_MAX];
	bool done[AK_ROOT_WAIT_MAX];
	char why[512]; /* set when the runs could not be started */
};

static void root_runs_start(struct root_runs *rr, const struct ak_doctor_run *run,
			    const bool *skip)
{
	const char *base = getenv("TMPDIR");
	snprintf(rr->dir, sizeof(rr->dir), "%s/archkit-doctor-XXXXXX", base && *base ? base : "/tmp");
	rr->dirfd = -1;
	if (!ak_tmpdir_create(rr->dir)) {
		snprintf(rr->why, sizeof(rr->why), "cannot make a root under '%s': %s",
			 base && *base ? base : "/tmp", strerror(errno));
		rr->dir[0] = '\0';
		return;
	}
	rr->dirfd = open(rr->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the runs share the root: made here, the mount points cannot race between them */
	if (rr->dirfd >= 0 && (mkdirat(rr->dirfd, "proc", 0755) < 0 ||
			       mkdirat(rr->dirfd, "dev", 0755) < 0)) {
		snprintf(rr->why, sizeof(rr->why), "cannot make a root in '%.400s': %s", rr->dir,
			 strerror(errno));
		return;
	}
	int timeout = run->opt->timeout_ms > 0 ? run->opt->timeout_ms : AK_SMOKE_TIMEOUT_MS;
	for (size_t i = 0; i < run->nplatforms && i < AK_ROOT_WAIT_MAX; i++) {
		const struct ak_platform *p = run->platforms[i];
		size_t len = 0;
		const unsigned char *bin = ak_smoke_binary(p, &len);
		if (!bin || rr->dirfd < 0 || skip[i])
			continue;
		/* one file per platform in one root: each run sees nothing but smoke binaries */
		char name[64];
		snprintf(name, sizeof(name), "%s", p->name);
		for (char *c = name; *c; c++)
			if (*c == '/')
				*c = '-';
		cleanup_fd int fd = openat(rr->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
					   0755);
		if (fd < 0 || ak_write_all(fd, bin, len) < 0) {
			snprintf(rr->why, sizeof(rr->why), "cannot write a smoke binary into '%.400s'",
				 rr->dir);
			return;
		}
		rr->argv0[i] = ak_xasprintf("/%s", name);
	}
	/* every file written and closed first: a run started while one is open for
	 * writing would hold that fd when its command execs (ETXTBSY) */
	for (size_t i = 0; i < run->nplatforms && i < AK_ROOT_WAIT_MAX; i++) {
		if (!rr->argv0[i])
			continue;
		char *argv[] = {rr->argv0[i], NULL};
		struct ak_root_run rrun = {
			.root_fd = rr->dirfd,
			.argv = argv,
			.inherit_binfmt = true,
			.timeout_ms = timeout,
			.stdout_max = 256,
			.stderr_tail = 256,
		};
		cleanup_error struct ak_error *err = NULL;
		if (ak_root_start(&rrun, &rr->procs[i], &err) < 0) {
			snprintf(rr->why, sizeof(rr->why), "%s", err->msg);
			return;
		}
	}
}

/* Wait for every run; a run that cannot be collected is left without a result. */
static void root_runs_collect(struct root_runs *rr, size_t n)
{
	if (n > AK_ROOT_WAIT_MAX)
		n = AK_ROOT_WAIT_MAX;
	for (;;) {
		cleanup_error struct ak_error *err = NULL;
		int i = ak_root_wait_any(rr->procs, n, &err);
		if (i < 0)
			break;
		struct ak_error *ferr = NULL;
		if (ak_root_finish(rr->procs[i], &rr->res[i], &ferr) == 0)
			rr->done[i] = true;
		else if (!rr->why[0])
			snprintf(rr->why, sizeof(rr->why), "%s", ferr->msg);
		ak_error_free(ferr);
		rr->procs[i] = NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (rr->procs[i]) {
			struct ak_root_result ignored;
			ak_root_finish(rr->procs[i], &ignored, NULL);
			ak_root_result_clear(&ignored);
			rr->procs[i] = NULL;
		}
}

static void root_runs_clear(struct root_runs *rr)
{
	for (size_t i = 0; i < AK_ROOT_WAIT_MAX; i++) {
		free(rr->argv0[i]);
		if (rr->done[i])
			ak_root_result_clear(&rr->res[i]);
	}
	if (rr->dirfd >= 0)
		close(rr->dirfd);
	if (rr->dir[0])
		ak_tmpdir_forget_remove(rr->dir);
}

/* What a run in the root did, as one line; true when it passed. */
static bool root_judge(const struct ak_platform *p, const struct ak_root_result *res, char *why,
		       size_t len)
{
	char machine[65];
	snprintf(machine, sizeof(machine), "%.*s", (int)strcspn(res->out, "\n"), res->out);
	switch (res->outcome) {
	case AK_ROOT_EXITED:
		if (res->exit_code == 0 && ak_platform_uname_ok(p, machine)) {
			snprintf(why, len, "ran in a private root and reported '%s'", machine);
			return true;
		}
		if (res->exit_code == 0)
			snprintf(why, len, "ran in a private root but reported '%s', expected one of: %s",
				 machine, p->uname);
		else
			snprintf(why, len, "exited %d in a private root", res->exit_code);
		return false;
	case AK_ROOT_SIGNALED:
		snprintf(why, len, "killed by signal %d in a private root", res->signal);
		return false;
	case AK_ROOT_TIMED_OUT:
		snprintf(why, len, "timed out in a private root");
		return false;
	case AK_ROOT_EXEC_FAILED:
		if (res->exec_errno == ENOEXEC)
			snprintf(why, len, "exec format error in a private root: no handler runs it "
					   "there");
		else if (res->exec_errno == ENOENT)
			snprintf(why, len, "cannot execute in a private root: the handler's "
					   "interpreter is not found there (no flag F?)");
		else
			snprintf(why, len, "cannot execute in a private root: %s",
				 strerror(res->exec_errno));
		return false;
	}
	return false;
}

/* ---- the whole part ---- */

static const struct target_info *target_of(const struct target_info *tis, size_t n,
					   const struct ak_qemu_target *t)
{
	for (size_t i = 0; i < n; i++)
		if (tis[i].t == t)
			return &tis[i];
	return NULL;
}

static void check_platform_handler(const struct ak_doctor_run *run, const struct target_info *ti,
				   const struct entry_info *eis, size_t ne)
{
	struct ak_doctor_report *r = run->r;
	const char *pl = ti->first->name;
	if (ti->h && ti->h->state == AK_HANDLER_NATIVE) {
		ak_doctor_add(r, "platform.native", AK_CHECK_PASS, pl, NULL, NULL,
			      "this host runs %s code natively (no handler needed)", ti->t->name);
		return;
	}
	size_t serving = 0;
	for (size_t i = 0; i < ne; i++)
		serving += eis[i].t == ti->t;
	if (!serving) {
		cleanup_free char *fix = install_fix(run, pl, NULL);
		if (ti->h && ti->h->error)
			ak_doctor_add(r, "handler.missing", AK_CHECK_FAIL, pl, NULL, fix,
				      "no binfmt_misc entry runs %s binaries, and install could not "
				      "register one here: %s",
				      pl, ti->h->error->msg);
		else
			ak_doctor_add(r, "handler.missing", AK_CHECK_FAIL, pl, NULL, fix,
				      "no binfmt_misc entry runs %s binaries (qemu-%s missing)", pl,
				      ti->t->name);
		return;
	}
	const struct ak_binfmt_entry *c[16];
	size_t nc = ak_binfmt_table_catchers(&run->table, ti->t, c, 16);
	if (nc)
		ak_doctor_add(r, "handler.missing", AK_CHECK_PASS, pl, c[0]->name, NULL,
			      "'%s' runs %s binaries", c[0]->name, pl);
	else {
		cleanup_free char *fix = install_fix(run, pl, NULL); /* enables a disabled one */
		ak_doctor_add(r, "handler.missing", AK_CHECK_FAIL, pl, NULL, fix,
			      "no enabled binfmt_misc entry runs %s binaries", pl);
	}
	if (nc < 2)
		return;
	/* the kernel takes the first match in its list, the entry registered last: which
	 * one runs a binary depends on an order nobody sees */
	size_t own = 0;
	for (size_t i = 0; i < nc; i++)
		if (named_for(c[i], ti->t))
			own = i;
	for (size_t i = 0; i < nc; i++) {
		if (i == own)
			continue;
		cleanup_free char *fix = ak_xasprintf(
			"echo -1 > %s/%s (remove whichever of the two should not run them)",
			run->mount_dir, c[i]->name);
		ak_doctor_add(r, "handler.shadowing", AK_CHECK_FAIL, pl, c[i]->name, fix,
			      "'%s' catches the same %s binaries as '%s': the one registered last "
			      "runs them",
			      c[i]->name, pl, c[own]->name);
	}
}

void ak_doctor_check_handlers(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	size_t np = run->nplatforms;

	/* the QEMU targets asked about, each once, classified as install would */
	struct target_info *tis = ak_xcalloc(np ? np : 1, sizeof(*tis));
	const struct ak_qemu_target **targets = ak_xcalloc(np ? np : 1, sizeof(*targets));
	size_t nt = 0;
	for (size_t i = 0; i < np; i++) {
		const struct ak_qemu_target *t = ak_platform_qemu(run->platforms[i]);
		if (target_of(tis, nt, t))
			continue;
		tis[nt].t = t;
		tis[nt].first = run->platforms[i];
		targets[nt++] = t;
	}
	struct ak_native_probe natives;
	ak_native_probe_init(&natives, &run->table);
	struct ak_binfmt_options bopt = {
		.flags = "F", .is_native = ak_native_target, .native_ctx = &natives};
	struct ak_binfmt_plan plan = {0};
	cleanup_error struct ak_error *perr = NULL;
	bool planned = ak_binfmt_plan_build(&run->table, targets, nt, &bopt, &plan, &perr) == 0;
	for (size_t i = 0; planned && i < nt; i++)
		tis[i].h = &plan.handlers[i];

	/* the in-root runs next: they take longest and need nothing of what follows. A
	 * native platform's would prove nothing about a handler: not run */
	bool *skip = ak_xcalloc(np ? np : 1, sizeof(*skip));
	for (size_t i = 0; i < np; i++) {
		const struct target_info *ti = target_of(tis, nt, ak_platform_qemu(run->platforms[i]));
		skip[i] = ti->h && ti->h->state == AK_HANDLER_NATIVE;
	}
	struct root_runs *rr = ak_xcalloc(1, sizeof(*rr));
	root_runs_start(rr, run, skip);

	/* every entry: whose is it, and its own checks */
	size_t ne = run->table.count;
	struct entry_info *eis = ak_xcalloc(ne ? ne : 1, sizeof(*eis));
	for (size_t i = 0; i < ne; i++) {
		struct entry_info *ei = &eis[i];
		ei->e = &run->table.entries[i];
		ei->owned = owned_by_a_platform(ei->e);
		for (size_t k = 0; k < nt && !ei->t; k++)
			if (serves(ei->e, tis[k].t) &&
			    !(tis[k].h && tis[k].h->state == AK_HANDLER_NATIVE)) {
				ei->t = tis[k].t;
				ei->first = tis[k].first;
			}
		const struct target_info *native = NULL;
		for (size_t k = 0; k < nt && !ei->t && !native; k++)
			if (tis[k].h && tis[k].h->state == AK_HANDLER_NATIVE && ei->e->enabled &&
			    serves(ei->e, tis[k].t))
				native = &tis[k];
		if (ei->t) {
			check_entry(run, ei, target_of(tis, nt, ei->t));
		} else if (native) {
			/* the kernel asks binfmt_misc before it runs an ELF itself */
			cleanup_free char *fix = ak_xasprintf("echo -1 > %s/%s", run->mount_dir,
							      ei->e->name);
			ak_doctor_add(r, "handler.native", AK_CHECK_WARN, native->first->name,
				      ei->e->name, fix,
				      "'%s' catches %s binaries, which this host runs natively: each "
				      "of them runs under '%s' instead",
				      ei->e->name, native->first->name, ei->e->interpreter);
		} else if (!ei->owned)
			ak_doctor_add(r, "handler.unowned", AK_CHECK_INFO, NULL, ei->e->name, NULL,
				      "'%s' (%s, interpreter '%s') serves no archkit platform: left "
				      "alone",
				      ei->e->name, ei->e->enabled ? "enabled" : "disabled",
				      ei->e->interpreter);
	}
	for (size_t i = 0; i < run->table.unreadable_count; i++)
		ak_doctor_add(r, "handler.unowned", AK_CHECK_INFO, NULL, NULL, NULL,
			      "an entry cannot be parsed: %s", run->table.unreadable[i]);
	if (!planned)
		ak_doctor_add(r, "handler.missing", AK_CHECK_SKIPPED, NULL, NULL, NULL,
			      "cannot classify the handlers: %s", perr->msg);
	for (size_t k = 0; planned && k < nt; k++) {
		if (run->table_read || tis[k].h->state == AK_HANDLER_NATIVE)
			check_platform_handler(run, &tis[k], eis, ne);
		else
			ak_doctor_add(r, "handler.missing", AK_CHECK_SKIPPED, tis[k].first->name,
				      NULL, NULL, "no binfmt_misc entries could be read from '%s'",
				      run->mount_dir);
	}

	/* the QEMU behind every entry that serves an asked platform, all at once */
	struct ak_interp *qi = ak_xcalloc(ne ? ne : 1, sizeof(*qi));
	for (size_t i = 0; i < ne; i++) {
		if (!eis[i].interp_ok)
			continue;
		/* Debian's ARCH-binfmt-P links to qemu-ARCH-static: QEMU called by that name
		 * takes its first argument for a program, so ask it by its own name */
		char *real = realpath(eis[i].interp.path, NULL);
		qi[i].path = real ? real : ak_xstrdup(eis[i].interp.path);
	}
	ak_interp_query_versions(qi, ne, AK_INTERP_VERSION_TIMEOUT_MS);

	/* every platform from here, as a container's process would be started */
	struct ak_verify_result *vr = ak_xcalloc(np ? np : 1, sizeof(*vr));
	cleanup_error struct ak_error *verr = NULL;
	bool verified =
		ak_verify_platforms(run->platforms, np, run->table_read ? &run->table : NULL,
				    run->opt->timeout_ms, vr, &verr) == 0;
	root_runs_collect(rr, np);

	r->platforms = ak_xcalloc(np ? np : 1, sizeof(*r->platforms));
	r->nplatforms = np;
	for (size_t i = 0; i < np; i++) {
		const struct ak_platform *p = run->platforms[i];
		struct ak_doctor_platform *dp = &r->platforms[i];
		const struct target_info *ti = target_of(tis, nt, ak_platform_qemu(p));
		bool native = ti && ti->h && ti->h->state == AK_HANDLER_NATIVE;
		dp->platform = p;
		const struct ak_binfmt_entry *c[1];
		size_t nc = run->table_read ? ak_binfmt_table_catchers(&run->table, ti->t, c, 1) : 0;
		dp->how = native ? "native" : nc ? "emulated" : "none";
		if (nc && !native)
			dp->entry = ak_xstrdup(c[0]->name);

		/* the version of the QEMU that runs it */
		for (size_t k = 0; dp->entry && k < ne; k++) {
			if (strcmp(eis[k].e->name, dp->entry) != 0)
				continue;
			cleanup_free char *fix = install_fix(run, p->name, "--replace always");
			if (qi[k].version) {
				dp->qemu_version = ak_xstrdup(qi[k].version);
				ak_doctor_add(r, "qemu.version", AK_CHECK_PASS, p->name, dp->entry,
					      NULL, "QEMU %s ('%s')", qi[k].version,
					      eis[k].e->interpreter);
			} else if (!qi[k].path) {
				ak_doctor_add(r, "qemu.version", AK_CHECK_SKIPPED, p->name,
					      dp->entry, NULL,
					      "the interpreter cannot be asked (see handler.interpreter)");
			} else {
				ak_doctor_add(r, "qemu.version", AK_CHECK_WARN, p->name, dp->entry,
					      fix, "'%s --version': %s", eis[k].e->interpreter,
					      ak_version_status_name(qi[k].version_status));
			}
		}

		if (!verified) {
			ak_doctor_add(r, "platform.smoke", AK_CHECK_SKIPPED, p->name, NULL, NULL,
				      "cannot run smoke binaries: %s", verr ? verr->msg : "?");
		} else if (vr[i].outcome == AK_VERIFY_NO_SMOKE) {
			ak_doctor_add(r, "platform.smoke", AK_CHECK_SKIPPED, p->name, NULL, NULL,
				      "%s", vr[i].why);
		} else if (ak_verify_ok(&vr[i])) {
			dp->ok = true;
			ak_doctor_add(r, "platform.smoke", AK_CHECK_PASS, p->name,
				      vr[i].entry[0] ? vr[i].entry : NULL, NULL,
				      "ran %s%s and reported '%s'",
				      vr[i].outcome == AK_VERIFY_NATIVE ? "natively" : "emulated by ",
				      vr[i].entry, vr[i].smoke.machine);
		} else {
			cleanup_free char *fix =
				install_fix(run, p->name, nc ? "--replace always" : NULL);
			ak_doctor_add(r, "platform.smoke", AK_CHECK_FAIL, p->name,
				      vr[i].entry[0] ? vr[i].entry : NULL, fix, "%s", vr[i].why);
		}

		char why[600];
		if (i < AK_ROOT_WAIT_MAX && rr->done[i]) {
			dp->ok_in_root = root_judge(p, &rr->res[i], why, sizeof(why));
			cleanup_free char *fix =
				dp->ok_in_root ? NULL
					       : install_fix(run, p->name,
							     nc ? "--replace always" : NULL);
			ak_doctor_add(r, "platform.smoke_in_root",
				      dp->ok_in_root ? AK_CHECK_PASS : AK_CHECK_FAIL, p->name,
				      dp->entry, fix, "%s", why);
		} else if (native) {
			ak_doctor_add(r, "platform.smoke_in_root", AK_CHECK_SKIPPED, p->name, NULL,
				      NULL, "native: no handler to prove in a private root");
		} else {
			ak_doctor_add(r, "platform.smoke_in_root", AK_CHECK_SKIPPED, p->name, NULL,
				      NULL, "%s",
				      rr->why[0] ? rr->why : "no smoke binary or no run for it");
		}
	}

	for (size_t i = 0; i < ne; i++) {
		ak_interp_clear(&qi[i]);
		ak_interp_clear(&eis[i].interp);
	}
	free(qi);
	free(vr);
	free(eis);
	ak_binfmt_plan_clear(&plan);
	free(targets);
	free(tis);
	root_runs_clear(rr);
	free(rr);
	free(skip);
}
