/* archkit doctor: persistence checks. For each handler that matters here: is it re-created
 * at boot, and does what is persisted agree with what is registered (else the next boot
 * silently changes it)? Reading the files is doctor/persist.c's, which links without the
 * rest of doctor (the fuzz targets use it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfmt/registrar.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "doctor/internal.h"
#include "doctor/persist.h"

struct candidate {
	const struct ak_binfmt_entry *e;
	const char *platform;	/* the platform it serves, or NULL */
	const char *export_arg; /* what `archkit binfmt export` takes for it */
};

static void add_candidate(struct candidate **v, size_t *n, const struct ak_binfmt_entry *e,
			  const char *platform, const char *export_arg)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].e == e)
			return;
	ak_grow_one(v, *n, sizeof(**v));
	(*v)[(*n)++] = (struct candidate){.e = e, .platform = platform, .export_arg = export_arg};
}

/* The qemu-* entries of the platforms asked about (all of them when no --platform was
 * given), and whatever else catches those platforms' binaries. */
static size_t candidates(const struct ak_doctor_run *run, struct candidate **out)
{
	size_t n = 0;
	for (size_t i = 0; i < run->table.count; i++) {
		const struct ak_binfmt_entry *e = &run->table.entries[i];
		if (!ak_str_has_prefix(e->name, "qemu-"))
			continue;
		const struct ak_qemu_target *t = ak_qemu_target_find(e->name + 5);
		const struct ak_platform *p = NULL;
		for (size_t k = 0; t && !p && k < run->nplatforms; k++)
			if (ak_platform_qemu(run->platforms[k]) == t)
				p = run->platforms[k];
		if (!p && run->opt->nplatforms)
			continue; /* --platform asked about others */
		if (!p && t)
			p = ak_target_platform(t);
		add_candidate(out, &n, e, p ? p->name : NULL, p ? p->name : t ? t->name : NULL);
	}
	for (size_t k = 0; k < run->nplatforms; k++) {
		const struct ak_platform *p = run->platforms[k];
		const struct ak_binfmt_entry *c[16];
		size_t nc = ak_binfmt_table_catchers(&run->table, ak_platform_qemu(p), c, 16);
		for (size_t i = 0; i < nc && i < 16; i++)
			add_candidate(out, &n, c[i], p->name, p->name);
	}
	return n;
}

static char *export_fix(const struct ak_doctor_run *run, const struct candidate *c)
{
	const char *root = run->opt->host_root && *run->opt->host_root ? run->opt->host_root : "/";
	size_t len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	bool slash = len == 1 && root[0] == '/';
	bool flags = c->e->flags[0] && strcmp(c->e->flags, "F") != 0;
	return ak_xasprintf("archkit binfmt export --format systemd%s%s %.*s/etc/binfmt.d%s%s",
			    flags ? " --flags " : "", flags ? c->e->flags : "",
			    slash ? 0 : (int)len, root, c->export_arg ? " " : "",
			    c->export_arg ? c->export_arg : "");
}

static const char *masked_for(const struct ak_persist_set *s, const char *name)
{
	for (size_t i = 0; i < s->nmasked; i++) {
		const char *base = strrchr(s->masked[i], '/');
		base = base ? base + 1 : s->masked[i];
		size_t n = strlen(name);
		if (!strncmp(base, name, n) && !strcmp(base + n, ".conf"))
			return s->masked[i];
	}
	return NULL;
}

static void check_candidate(struct ak_doctor_run *run, const struct ak_persist_set *s,
			    const struct candidate *c)
{
	const struct ak_persisted *p = ak_persist_find(s, c->e->name);
	const char *name = c->e->name;
	if (!p) {
		cleanup_free char *fix = export_fix(run, c);
		const char *mask = masked_for(s, name);
		ak_doctor_add(run->r, "persistence.boot", AK_CHECK_WARN, c->platform, name, fix,
			      "'%s' is registered, but nothing re-creates it at boot (%s%s%s): it "
			      "is gone after a reboot",
			      name, mask ? "" : "no binfmt.d file or update-binfmts entry names it",
			      mask ? mask : "", mask ? " is a link to /dev/null, masking it" : "");
		return;
	}
	const char *how = p->systemd ? "systemd-binfmt" : "update-binfmts --enable";
	char where[32] = "";
	if (p->line)
		snprintf(where, sizeof(where), " line %u", p->line);
	ak_doctor_add(run->r, "persistence.boot", AK_CHECK_PASS, c->platform, name, NULL,
		      "re-created at boot from %s%s (%s)", p->source, where, how);
	cleanup_free char *diff = ak_persist_diff(&p->e, c->e);
	if (!diff) {
		ak_doctor_add(run->r, "persistence.agrees", AK_CHECK_PASS, c->platform, name, NULL,
			      "%s%s agrees with the registered entry", p->source, where);
		return;
	}
	cleanup_free char *fix = export_fix(run, c);
	ak_doctor_add(run->r, "persistence.agrees", AK_CHECK_WARN, c->platform, name, fix,
		      "%s%s disagrees with the registered entry (%s): the next boot registers "
		      "the persisted rule instead",
		      p->source, where, diff);
}

void ak_doctor_check_persistence(struct ak_doctor_run *run)
{
	struct ak_doctor_report *r = run->r;
	if (!run->table_read) {
		ak_doctor_add(r, "persistence.boot", AK_CHECK_SKIPPED, NULL, NULL, NULL,
			      "binfmt_misc could not be read: nothing to compare with what boot "
			      "registers");
		return;
	}
	struct ak_persist_set s;
	cleanup_error struct ak_error *err = NULL;
	if (ak_persist_read(run->opt->host_root, &s, &err) < 0) {
		ak_doctor_add(r, "persistence.boot", AK_CHECK_SKIPPED, NULL, NULL, NULL, "%s",
			      err->msg);
		return;
	}
	if (s.nproblems) {
		size_t len = 0;
		for (size_t i = 0; i < s.nproblems; i++)
			len += strlen(s.problems[i]) + 2;
		cleanup_free char *all = ak_xmalloc(len + 1);
		all[0] = '\0';
		for (size_t i = 0; i < s.nproblems; i++) {
			if (i)
				strcat(all, "; ");
			strcat(all, s.problems[i]);
		}
		ak_doctor_add(r, "persistence.files", AK_CHECK_WARN, NULL, NULL,
			      "correct or remove what is named (binfmt.d(5), update-binfmts(8))",
			      "boot skips what it cannot read: %s%s", all,
			      s.problems_dropped ? " (and more)" : "");
	}

	cleanup_free struct candidate *cand = NULL;
	size_t n = candidates(run, &cand);
	for (size_t i = 0; i < n; i++)
		check_candidate(run, &s, &cand[i]);

	/* what boot brings back for a platform asked about, although it is not registered
	 * now (the QEMU-only targets a distro persists are left out: no platform) */
	for (size_t i = 0; i < s.count; i++) {
		const struct ak_persisted *p = &s.rules[i];
		if (!p->effective || !ak_str_has_prefix(p->e.name, "qemu-") ||
		    ak_binfmt_table_find(&run->table, p->e.name))
			continue;
		const struct ak_qemu_target *t = ak_qemu_target_find(p->e.name + 5);
		const struct ak_platform *pl = NULL;
		for (size_t k = 0; t && !pl && k < run->nplatforms; k++)
			if (ak_platform_qemu(run->platforms[k]) == t)
				pl = run->platforms[k];
		if (!pl)
			continue;
		ak_doctor_add(r, "persistence.boot", AK_CHECK_INFO, pl->name, p->e.name, NULL,
			      "'%s' is not registered now, but %s registers it at the next boot",
			      p->e.name, p->source);
	}
	if (n == 0)
		ak_doctor_add(r, "persistence.boot", AK_CHECK_INFO, NULL, NULL, NULL,
			      "no QEMU handler is registered: nothing needs to survive a reboot");
	ak_persist_clear(&s);
}
