/* archkit binfmt: install, remove, status, plan, export. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binfmt/entry.h"
#include "binfmt/instance.h"
#include "binfmt/registrar.h"
#include "cli/cli.h"
#include "cli/doctor-output.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "verify/verify.h"

static const char binfmt_help[] =
	"Usage: archkit binfmt install [OPTIONS] [PLATFORM...|all]\n"
	"       archkit binfmt remove [OPTIONS] NAME|PLATFORM...|--all-qemu\n"
	"       archkit binfmt status [--json]\n"
	"       archkit binfmt plan [OPTIONS] [PLATFORM...|all]\n"
	"       archkit binfmt export --format systemd|binfmt-support DIR [PLATFORM...|all]\n"
	"\n"
	"Install, remove and show the QEMU handlers that let this machine run binaries of\n"
	"other architectures. install reconciles: it reads every entry, writes only what is\n"
	"missing or (with --replace) drifted, reads each entry back, then runs a smoke binary\n"
	"per platform through the kernel. Platforms the host runs natively are never\n"
	"registered. PLATFORM is an OCI platform (linux/arm64, arm/v7), an alias (aarch64,\n"
	"armhf, ppc64el) or a QEMU target (sparc64), or a comma-separated list of them as\n"
	"docker buildx takes (linux/amd64,linux/arm64); the default is all.\n"
	"\n"
	"Options:\n"
	"  --mount-dir DIR     the binfmt_misc instance (default /proc/sys/fs/binfmt_misc;\n"
	"                      mounted there when missing and allowed)\n"
	"  --qemu-path DIR     take interpreters from DIR (qemu-ARCH-static or qemu-ARCH)\n"
	"  --flags FLAGS       handler flags, default F. F: the kernel opens the interpreter\n"
	"                      now, so it works in containers and chroots (needs a static\n"
	"                      interpreter). P: keep argv[0]. O: pass an open fd. C: use the\n"
	"                      binary's credentials: setuid foreign binaries run with their\n"
	"                      owner's rights inside QEMU, whose bugs then become a privilege\n"
	"                      escalation; use C only when you need setuid (implies O)\n"
	"  --replace POLICY    never | drifted (default) | always: what install rewrites.\n"
	"                      A distro's own handler that serves the platform as well\n"
	"                      (same binaries, a static QEMU, F; e.g. Debian's OPF lines)\n"
	"                      is 'in place (distro)' and rewritten only by always\n"
	"  --all-qemu          (remove) every entry named qemu-*\n"
	"  --force             (remove) also entries archkit does not own (not qemu-*)\n"
	"  --format FORMAT     (export) systemd (binfmt.d .conf) or binfmt-support\n"
	"  --no-mount          never mount binfmt_misc\n"
	"  --json              machine-readable output\n"
	"  -h, --help          this help\n"
	"\n"
	"With $GITHUB_OUTPUT set, install appends platforms=LIST: the platforms that are\n"
	"registered and verified (or native).\n"
	"\n"
	"Exit status: 0 every requested platform is registered and runs (a drifted entry\n"
	"kept by --replace never counts when its smoke run passes: it is warned about); 1\n"
	"some platform is not (no interpreter, smoke run failed); 2 environment (no\n"
	"binfmt_misc, no privilege, read-only); 64 usage error.\n"
	"\nSee archkit-binfmt(1).\n";

enum {
	OPT_MOUNT_DIR = 256,
	OPT_QEMU_PATH,
	OPT_FLAGS,
	OPT_REPLACE,
	OPT_ALL_QEMU,
	OPT_FORCE,
	OPT_FORMAT,
	OPT_NO_MOUNT,
	OPT_JSON
};

struct binfmt_args {
	const char *verb;
	const char *mount_dir;
	const char *qemu_path;
	char flags[8];
	enum ak_replace replace;
	bool all_qemu, force, no_mount, json;
	const char *format;
	struct cli_targets targets;
	char **names; /* remove: raw arguments */
	int nnames;
};

static int parse_args(int argc, char **argv, struct binfmt_args *a)
{
	static const struct option opts[] = {
		{"mount-dir", required_argument, NULL, OPT_MOUNT_DIR},
		{"qemu-path", required_argument, NULL, OPT_QEMU_PATH},
		{"flags", required_argument, NULL, OPT_FLAGS},
		{"replace", required_argument, NULL, OPT_REPLACE},
		{"all-qemu", no_argument, NULL, OPT_ALL_QEMU},
		{"force", no_argument, NULL, OPT_FORCE},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"no-mount", no_argument, NULL, OPT_NO_MOUNT},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(a, 0, sizeof(*a));
	a->mount_dir = AK_BINFMT_DEFAULT_DIR;
	a->replace = AK_REPLACE_DRIFTED;
	strcpy(a->flags, "F");
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		struct ak_error *err = NULL;
		switch (c) {
		case 'h':
			fputs(binfmt_help, stdout);
			return 1;
		case OPT_MOUNT_DIR:
			a->mount_dir = optarg;
			break;
		case OPT_QEMU_PATH:
			a->qemu_path = optarg;
			break;
		case OPT_FLAGS:
			if (ak_binfmt_flags_check(optarg, a->flags, &err) < 0) {
				int r = cli_usage("binfmt", "%s", err->msg);
				ak_error_free(err);
				return -r;
			}
			break;
		case OPT_REPLACE:
			if (!strcmp(optarg, "never"))
				a->replace = AK_REPLACE_NEVER;
			else if (!strcmp(optarg, "drifted"))
				a->replace = AK_REPLACE_DRIFTED;
			else if (!strcmp(optarg, "always"))
				a->replace = AK_REPLACE_ALWAYS;
			else
				return -cli_usage("binfmt",
						  "unknown --replace '%s' (never, drifted, always)",
						  optarg);
			break;
		case OPT_ALL_QEMU:
			a->all_qemu = true;
			break;
		case OPT_FORCE:
			a->force = true;
			break;
		case OPT_FORMAT:
			a->format = optarg;
			break;
		case OPT_NO_MOUNT:
			a->no_mount = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		default:
			return -cli_usage("binfmt", "invalid option");
		}
	}
	return 0;
}

static int add_target_args(struct binfmt_args *a, int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		struct ak_error *err = NULL;
		if (cli_targets_add(&a->targets, argv[i], &err) < 0) {
			int r = cli_usage("binfmt", "%s", err->msg);
			ak_error_free(err);
			return r;
		}
	}
	if (a->targets.count == 0)
		cli_targets_add_all(&a->targets);
	return 0;
}

static void warn_unreadable(const struct ak_binfmt_table *t)
{
	for (size_t i = 0; i < t->unreadable_count; i++)
		cli_warn("%s", t->unreadable[i]);
}

static const char *platforms_text(const struct cli_target *ct, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ct->nplatforms && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "," : "",
				      ct->platforms[i]->name);
	if (!ct->nplatforms)
		snprintf(buf, len, "-");
	return buf;
}

static json_t *handler_json(const struct ak_handler *h, const struct cli_target *ct)
{
	json_t *o = json_object();
	char name[80];
	snprintf(name, sizeof(name), "qemu-%s", h->target->name);
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "qemu_target", json_string(h->target->name));
	json_t *pl = json_array();
	for (size_t i = 0; i < ct->nplatforms; i++)
		json_array_append_new(pl, json_string(ct->platforms[i]->name));
	json_object_set_new(o, "platforms", pl);
	json_object_set_new(o, "state", json_string(ak_handler_state_name(h->state)));
	json_object_set_new(o, "action", json_string(ak_handler_action_name(h->action)));
	json_object_set_new(o, "interpreter",
			    h->interp.path ? json_string(h->interp.path) : json_null());
	json_object_set_new(o, "flags", h->rule ? json_string(h->want.flags) : json_null());
	json_object_set_new(o, "rule", h->rule ? json_string(h->rule) : json_null());
	json_object_set_new(o, "drift", h->drift ? json_string(h->drift) : json_null());
	json_t *sh = json_array();
	for (size_t i = 0; i < h->shadowed_count; i++)
		json_array_append_new(sh, json_string(h->shadowed_by[i]));
	json_object_set_new(o, "shadowed_by", sh);
	json_object_set_new(o, "error", h->error ? json_string(h->error->msg) : json_null());
	return o;
}

static json_t *verify_json(const struct ak_verify_result *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "platform", json_string(r->platform->name));
	json_object_set_new(o, "outcome", json_string(ak_verify_outcome_name(r->outcome)));
	json_object_set_new(o, "ok", json_boolean(ak_verify_ok(r)));
	json_object_set_new(o, "entry", r->entry[0] ? json_string(r->entry) : json_null());
	json_object_set_new(o, "machine",
			    r->smoke.ran ? json_string(r->smoke.machine) : json_null());
	json_object_set_new(o, "why", r->why[0] ? json_string(r->why) : json_null());
	return o;
}

/* Open the instance and read its table; plan and status work on an unmounted one too. */
static int open_instance(struct binfmt_args *a, bool need_write, struct ak_binfmt_instance *inst,
			 struct ak_binfmt_table *table, bool *mounted)
{
	struct ak_error *err = NULL;
	*mounted = true;
	memset(table, 0, sizeof(*table));
	if (ak_binfmt_open(a->mount_dir, need_write && !a->no_mount, inst, &err) < 0) {
		if (need_write)
			return cli_fail(err);
		*mounted = false;
		cli_warn("%s", err->msg);
		ak_error_free(err);
		return 0;
	}
	if (need_write && ak_binfmt_check_writable(inst, &err) < 0)
		return cli_fail(err);
	if (need_write && ak_binfmt_lock(inst, &err) < 0)
		return cli_fail(err);
	if (ak_binfmt_table_read(inst->dirfd, table, &err) < 0)
		return cli_fail(err);
	warn_unreadable(table);
	return 0;
}

static int build_plan(struct binfmt_args *a, const struct ak_binfmt_table *table,
		      struct ak_native_probe *np, struct ak_binfmt_plan *plan)
{
	const struct ak_qemu_target *targets[64];
	for (size_t i = 0; i < a->targets.count; i++)
		targets[i] = a->targets.items[i].target;
	ak_native_probe_init(np, table);
	struct ak_binfmt_options opt = {
		.qemu_path = a->qemu_path,
		.flags = a->flags,
		.replace = a->replace,
		.is_native = ak_native_target,
		.native_ctx = np,
	};
	struct ak_error *err = NULL;
	if (ak_binfmt_plan_build(table, targets, a->targets.count, &opt, plan, &err) < 0)
		return cli_fail(err);
	return 0;
}

/* What install, plan and status share: the instance, its entries, and the plan. */
struct session {
	struct ak_binfmt_instance inst;
	struct ak_binfmt_table table;
	bool mounted;
	struct ak_native_probe np;
	struct ak_binfmt_plan plan;
};

static int session_open(struct binfmt_args *a, bool need_write, struct session *s)
{
	memset(s, 0, sizeof(*s));
	int r = open_instance(a, need_write, &s->inst, &s->table, &s->mounted);
	if (r == 0)
		r = build_plan(a, &s->table, &s->np, &s->plan);
	return r;
}

static void session_close(struct session *s)
{
	ak_binfmt_plan_clear(&s->plan);
	ak_binfmt_table_clear(&s->table);
	ak_binfmt_close(&s->inst);
}

static int do_install(struct binfmt_args *a)
{
	struct session s;
	int r = session_open(a, true, &s);
	struct ak_error *err = NULL;
	if (!r && ak_binfmt_plan_apply(&s.inst, &s.plan, &err) < 0)
		r = cli_fail(err);
	/* verify against what the kernel now holds */
	ak_binfmt_table_clear(&s.table);
	if (!r && ak_binfmt_table_read(s.inst.dirfd, &s.table, &err) < 0)
		r = cli_fail(err);
	if (r) {
		session_close(&s);
		return r;
	}
	/* every platform's smoke run at once, against what the kernel now holds */
	const struct ak_platform **ps = NULL;
	size_t nps = 0;
	for (size_t i = 0; i < s.plan.count; i++)
		for (size_t j = 0; j < a->targets.items[i].nplatforms; j++) {
			ak_grow_one(&ps, nps, sizeof(*ps));
			ps[nps++] = a->targets.items[i].platforms[j];
		}
	cleanup_free struct ak_verify_result *vrs = ak_xcalloc(nps ? nps : 1, sizeof(*vrs));
	r = ak_verify_platforms(ps, nps, &s.table, 0, vrs, &err) < 0 ? cli_fail(err) : 0;
	free(ps);
	if (r) {
		session_close(&s);
		return r;
	}
	size_t vi = 0;
	bool all_ok = true;
	char verified[1024] = "";
	size_t vn = 0;
	json_t *jh = json_array();
	if (!a->json)
		printf("%-16s %-16s %-9s %-9s %s\n", "PLATFORM", "HANDLER", "STATE", "ACTION",
		       "RESULT");
	for (size_t i = 0; i < s.plan.count; i++) {
		struct ak_handler *h = &s.plan.handlers[i];
		struct cli_target *ct = &a->targets.items[i];
		json_t *o = handler_json(h, ct);
		json_t *jv = json_array();
		char name[80];
		snprintf(name, sizeof(name), "qemu-%s", h->target->name);
		if (ct->nplatforms == 0) {
			/* a QEMU-only target: registered, but nothing can prove it runs */
			all_ok = false;
			if (!a->json)
				printf("%-16s %-16s %-9s %-9s %s\n", "-", name,
				       ak_handler_state_name(h->state),
				       ak_handler_action_name(h->action),
				       h->error ? "failed" : "unverified (no smoke binary)");
			if (h->error)
				cli_failf(1, "%s: %s", name, h->error->msg);
			else
				cli_failf(1,
					  "%s: registered, but archkit has no smoke binary to "
					  "prove it runs",
					  name);
		}
		for (size_t j = 0; j < ct->nplatforms; j++) {
			const struct ak_platform *p = ct->platforms[j];
			const struct ak_verify_result *vr = &vrs[vi++];
			json_array_append_new(jv, verify_json(vr));
			bool ok = ak_verify_ok(vr);
			char result[600];
			if (ok)
				snprintf(result, sizeof(result), "ok: %s%s%s (uname %s)",
					 ak_verify_outcome_name(vr->outcome),
					 vr->entry[0] ? " by " : "", vr->entry, vr->smoke.machine);
			else
				snprintf(result, sizeof(result), "FAILED: %s",
					 h->error ? h->error->msg : vr->why);
			if (!a->json)
				printf("%-16s %-16s %-9s %-9s %s\n", p->name,
				       h->state == AK_HANDLER_NATIVE ? "-" : name,
				       ak_handler_state_name(h->state),
				       ak_handler_action_name(h->action), result);
			if (ok) {
				vn += (size_t)snprintf(verified + vn, sizeof(verified) - vn, "%s%s",
						       vn ? "," : "", p->name);
				if (vn >= sizeof(verified))
					vn = sizeof(verified) - 1;
			} else {
				all_ok = false;
			}
		}
		json_object_set_new(o, "verify", jv);
		json_array_append_new(jh, o);
		if (!a->json) {
			if (h->drift && h->action == AK_ACTION_KEEP_DRIFTED)
				cli_warn("%s drifted (%s); kept because of --replace never", name,
					 h->drift);
			for (size_t k = 0; k < h->shadowed_count; k++)
				cli_warn("%s is shadowed: entry '%s' catches the same binaries",
					 name, h->shadowed_by[k]);
			if (h->error && ct->nplatforms)
				cli_failf(1, "%s: %s", ct->platforms[0]->name, h->error->msg);
		}
	}
	cli_github_output("platforms", verified);
	if (a->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "mount_dir", json_string(a->mount_dir));
		json_object_set_new(doc, "handlers", jh);
		json_object_set_new(doc, "ok", json_boolean(all_ok));
		json_object_set_new(doc, "platforms", json_string(verified));
		cli_json_print(doc);
	} else {
		json_decref(jh);
	}
	session_close(&s);
	if (r)
		return r;
	return all_ok ? 0 : 1;
}

static int do_plan(struct binfmt_args *a)
{
	struct session s;
	int r = session_open(a, false, &s);
	bool all_ok = true;
	json_t *jh = json_array();
	if (!r && !s.mounted && !a->json)
		printf("mount -t binfmt_misc binfmt_misc %s\n", a->mount_dir);
	for (size_t i = 0; !r && i < s.plan.count; i++) {
		struct ak_handler *h = &s.plan.handlers[i];
		char pl[512];
		platforms_text(&a->targets.items[i], pl, sizeof(pl));
		json_array_append_new(jh, handler_json(h, &a->targets.items[i]));
		if (a->json)
			continue;
		printf("# %s (qemu-%s): %s%s%s\n", pl, h->target->name,
		       ak_handler_state_name(h->state), h->drift ? ", " : "",
		       h->drift ? h->drift : "");
		for (size_t k = 0; k < h->shadowed_count; k++)
			printf("#   shadowed by '%s'\n", h->shadowed_by[k]);
		switch (h->action) {
		case AK_ACTION_REPLACE:
			printf("echo -1 > %s/%s\n", a->mount_dir, h->want.name);
			/* fall through */
		case AK_ACTION_REGISTER:
			printf("echo '%s' > %s/register\n", h->rule, a->mount_dir);
			break;
		case AK_ACTION_ENABLE:
			printf("echo 1 > %s/%s\n", a->mount_dir, h->want.name);
			break;
		case AK_ACTION_KEEP_DRIFTED:
			printf("#   kept as it is (--replace never)\n");
			all_ok = false;
			break;
		case AK_ACTION_FAIL:
			printf("#   cannot register: %s\n", h->error ? h->error->msg : "unknown");
			all_ok = false;
			break;
		case AK_ACTION_NONE:
			printf("#   nothing to write\n");
			break;
		}
	}
	if (!r && a->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "mount_dir", json_string(a->mount_dir));
		json_object_set_new(doc, "mounted", json_boolean(s.mounted));
		json_object_set_new(doc, "handlers", jh);
		json_object_set_new(doc, "ok", json_boolean(all_ok));
		cli_json_print(doc);
	} else {
		json_decref(jh);
	}
	session_close(&s);
	return r ? r : all_ok ? 0 : 1;
}

static const char *entry_platforms(const struct ak_binfmt_entry *e, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ak_platform_count && n < len; i++) {
		unsigned char hdr[64];
		const struct ak_platform *p = &ak_platforms[i];
		if (p->variant && strcmp(p->arch, "arm") != 0)
			continue; /* amd64/v2.. are the same binaries to binfmt_misc */
		ak_qemu_target_sample_header(ak_platform_qemu(p), hdr);
		if (ak_binfmt_entry_matches(e, hdr, sizeof(hdr)))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", p->name);
	}
	if (!n)
		snprintf(buf, len, "-");
	return buf;
}

static int do_status(struct binfmt_args *a)
{
	struct session s;
	int r = session_open(a, false, &s);
	if (r) {
		session_close(&s);
		return r;
	}
	/* A QEMU interpreter says its version; for other interpreters it means nothing. All
	 * are asked at once, under one deadline: a hung one cannot stall a read-only command. */
	struct ak_interp *qi = ak_xcalloc(s.table.count, sizeof(*qi));
	for (size_t i = 0; a->json && i < s.table.count; i++) {
		const char *ip = s.table.entries[i].interpreter;
		struct stat st;
		if ((strstr(ip, "qemu-") || strstr(ip, "-binfmt-P")) && stat(ip, &st) == 0)
			qi[i].path = ak_xstrdup(ip);
	}
	ak_interp_query_versions(qi, s.table.count, AK_INTERP_VERSION_TIMEOUT_MS);
	json_t *je = json_array();
	if (!a->json) {
		printf("binfmt_misc at %s: %s\n", a->mount_dir,
		       !s.mounted	? "not mounted"
		       : s.inst.enabled ? "enabled"
					: "disabled");
		if (s.table.count)
			printf("%-20s %-8s %-5s %-40s %s\n", "NAME", "STATE", "FLAGS",
			       "INTERPRETER", "PLATFORMS");
	}
	for (size_t i = 0; i < s.table.count; i++) {
		const struct ak_binfmt_entry *e = &s.table.entries[i];
		char pl[256];
		entry_platforms(e, pl, sizeof(pl));
		struct stat st;
		bool interp_ok = stat(e->interpreter, &st) == 0;
		if (!a->json)
			printf("%-20s %-8s %-5s %-40s %s%s\n", e->name,
			       e->enabled ? "enabled" : "disabled", e->flags[0] ? e->flags : "-",
			       e->interpreter, pl, interp_ok ? "" : "  (interpreter missing)");
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(e->name));
		json_object_set_new(o, "enabled", json_boolean(e->enabled));
		json_object_set_new(o, "interpreter", json_string(e->interpreter));
		json_object_set_new(o, "interpreter_present", json_boolean(interp_ok));
		json_object_set_new(o, "qemu_version",
				    qi[i].version ? json_string(qi[i].version) : json_null());
		/* why the version is unknown, for an interpreter that was asked */
		enum ak_version_status vs = qi[i].version_status;
		json_object_set_new(o, "qemu_version_error",
				    vs == AK_VERSION_NOT_ASKED || vs == AK_VERSION_FOUND
					    ? json_null()
					    : json_string(ak_version_status_name(vs)));
		ak_interp_clear(&qi[i]);
		json_object_set_new(o, "flags", json_string(e->flags));
		json_object_set_new(o, "offset", json_integer(e->offset));
		cleanup_free char *magic = ak_hex_escape(e->magic, e->magic_len);
		cleanup_free char *mask = ak_hex_escape(e->mask, e->magic_len);
		json_object_set_new(o, "magic", e->is_extension ? json_null() : json_string(magic));
		json_object_set_new(o, "mask", e->is_extension ? json_null() : json_string(mask));
		json_object_set_new(o, "extension",
				    e->extension ? json_string(e->extension) : json_null());
		json_t *jp = json_array();
		if (strcmp(pl, "-") != 0) {
			char *save = NULL;
			for (char *t = strtok_r(pl, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(jp, json_string(t));
		}
		json_object_set_new(o, "platforms", jp);
		json_array_append_new(je, o);
	}
	/* the platforms archkit knows: who runs them now, and what install would do */
	json_t *jh = json_array();
	if (!r && !a->json)
		printf("\n%-16s %-16s %s\n", "PLATFORM", "HANDLER", "STATE");
	for (size_t i = 0; !r && i < s.plan.count; i++) {
		struct ak_handler *h = &s.plan.handlers[i];
		char pl[512], name[80], state[600];
		platforms_text(&a->targets.items[i], pl, sizeof(pl));
		snprintf(name, sizeof(name), "qemu-%s", h->target->name);
		snprintf(state, sizeof(state), "%s%s%s", ak_handler_state_name(h->state),
			 h->drift ? ": " : "", h->drift ? h->drift : "");
		for (size_t k = 0; k < h->shadowed_count; k++) {
			size_t l = strlen(state);
			snprintf(state + l, sizeof(state) - l, "; also caught by '%s'",
				 h->shadowed_by[k]);
		}
		if (!a->json)
			printf("%-16s %-16s %s\n", pl, h->state == AK_HANDLER_NATIVE ? "-" : name,
			       state);
		json_array_append_new(jh, handler_json(h, &a->targets.items[i]));
	}
	if (!a->json) {
		for (size_t i = 0; i < s.table.unreadable_count; i++)
			printf("unreadable: %s\n", s.table.unreadable[i]);
	}
	if (!r && a->json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "mount_dir", json_string(a->mount_dir));
		json_object_set_new(doc, "mounted", json_boolean(s.mounted));
		json_object_set_new(doc, "enabled", json_boolean(s.mounted && s.inst.enabled));
		json_object_set_new(doc, "entries", je);
		json_object_set_new(doc, "platforms", jh);
		json_t *ju = json_array();
		for (size_t i = 0; i < s.table.unreadable_count; i++)
			json_array_append_new(ju, json_string(s.table.unreadable[i]));
		json_object_set_new(doc, "unreadable", ju);
		cli_json_print(doc);
	} else {
		json_decref(je);
		json_decref(jh);
	}
	free(qi);
	session_close(&s);
	return r;
}

static int do_remove(struct binfmt_args *a, int argc, char **argv)
{
	if (argc == 0 && !a->all_qemu)
		return cli_usage("binfmt", "remove needs NAME, PLATFORM or --all-qemu");
	struct ak_binfmt_instance inst;
	struct ak_binfmt_table table;
	bool mounted;
	a->no_mount = true; /* nothing to remove from an instance that is not there */
	int r = open_instance(a, true, &inst, &table, &mounted);
	if (r) {
		ak_binfmt_close(&inst);
		return r;
	}
	/* decide every name first, so a usage error writes nothing */
	/* every argument and every qemu-* entry: no name is dropped for want of room */
	cleanup_free char **names = NULL;
	size_t n = 0;
	for (int i = 0; i < argc && !r; i++) {
		struct ak_error *err = NULL;
		const char *arg = argv[i];
		char buf[96];
		if (!ak_binfmt_table_find(&table, arg)) {
			struct cli_targets ts = {0};
			if (cli_targets_add(&ts, arg, &err) < 0) {
				ts.count = 0; /* a name, or nothing archkit knows */
				if (strchr(arg, ',')) { /* meant as a list of platforms */
					r = cli_usage("binfmt", "%s", err->msg);
					ak_error_free(err);
					break;
				}
				ak_error_free(err);
				err = NULL;
			}
			if (ts.count > 1) {
				/* a comma-separated list of platforms: each one's entry */
				for (size_t k = 0; k < ts.count; k++) {
					snprintf(buf, sizeof(buf), "qemu-%s", ts.items[k].target->name);
					ak_grow_one(&names, n, sizeof(*names));
					names[n++] = ak_xstrdup(buf);
				}
				continue;
			}
			if (ts.count == 1) {
				snprintf(buf, sizeof(buf), "qemu-%s", ts.items[0].target->name);
				arg = buf;
			} else if (ak_binfmt_name_check(arg, &err) < 0) {
				r = cli_usage("binfmt", "%s", err->msg);
				ak_error_free(err);
				break;
			}
		}
		if (!ak_str_has_prefix(arg, "qemu-") && !a->force) {
			r = cli_usage(
				"binfmt",
				"refusing to remove '%s': archkit removes only the qemu-* entries "
				"it owns (add --force to remove it anyway)",
				arg);
			break;
		}
		ak_grow_one(&names, n, sizeof(*names));
		names[n++] = ak_xstrdup(arg);
	}
	for (size_t i = 0; !r && a->all_qemu && i < table.count; i++)
		if (ak_str_has_prefix(table.entries[i].name, "qemu-")) {
			ak_grow_one(&names, n, sizeof(*names));
			names[n++] = ak_xstrdup(table.entries[i].name);
		}
	int failed = 0;
	for (size_t i = 0; !r && i < n; i++) {
		struct ak_error *err = NULL;
		if (!ak_binfmt_table_find(&table, names[i])) {
			if (!a->json)
				printf("%s: not registered\n", names[i]);
			continue;
		}
		if (ak_binfmt_unregister(&inst, names[i], &err) < 0) {
			failed = cli_fail(err);
			continue;
		}
		if (!a->json)
			printf("%s: removed\n", names[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	ak_binfmt_table_clear(&table);
	ak_binfmt_close(&inst);
	return r ? r : failed;
}

static void put_text(FILE *f, void *text)
{
	fputs(text, f);
}

static int do_export(struct binfmt_args *a, const char *dir)
{
	bool systemd;
	if (!a->format)
		return cli_usage("binfmt", "export needs --format systemd|binfmt-support");
	if (!strcmp(a->format, "systemd"))
		systemd = true;
	else if (!strcmp(a->format, "binfmt-support"))
		systemd = false;
	else
		return cli_usage("binfmt", "unknown --format '%s' (systemd, binfmt-support)",
				 a->format);
	int e = ak_mkdir_p(dir);
	if (e < 0)
		return cli_failf(2, "cannot create '%s': %s", dir, strerror(-e));
	struct ak_binfmt_table empty = {0};
	struct ak_native_probe np;
	struct ak_binfmt_plan plan = {0};
	int r = build_plan(a, &empty, &np, &plan);
	int status = 0;
	for (size_t i = 0; !r && i < plan.count; i++) {
		struct ak_handler *h = &plan.handlers[i];
		if (h->state == AK_HANDLER_NATIVE)
			continue;
		if (!h->rule) {
			status = cli_failf(1, "qemu-%s: %s", h->target->name,
					   h->error ? h->error->msg : "cannot export");
			continue;
		}
		char name[128];
		cleanup_free char *text = NULL;
		if (systemd) {
			snprintf(name, sizeof(name), "%s.conf", h->want.name);
			text = ak_xasprintf("# written by archkit binfmt export\n%s\n", h->rule);
		} else {
			snprintf(name, sizeof(name), "%s", h->want.name);
			cleanup_free char *magic = ak_hex_escape(h->want.magic, h->want.magic_len);
			cleanup_free char *mask = ak_hex_escape(h->want.mask, h->want.magic_len);
			const char *f = h->want.flags;
			text = ak_xasprintf(
				"package archkit\ninterpreter %s\nmagic %s\nmask %s\noffset "
				"%u\n"
				"credentials %s\nfix_binary %s\npreserve %s\n",
				h->want.interpreter, magic, mask, h->want.offset,
				strchr(f, 'C') ? "yes" : "no", strchr(f, 'F') ? "yes" : "no",
				strchr(f, 'P') ? "yes" : "no");
		}
		struct ak_error *err = NULL;
		cleanup_free char *path = ak_xasprintf("%s/%s", dir, name);
		if (cli_write_atomic(path, put_text, text, &err) < 0) {
			status = cli_fail(err);
			continue;
		}
		if (!a->json)
			printf("%s/%s\n", dir, name);
	}
	ak_binfmt_plan_clear(&plan);
	return r ? r : status;
}

int cmd_binfmt(int argc, char **argv)
{
	if (argc < 2) {
		fputs(binfmt_help, stderr);
		return AK_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(binfmt_help, stdout);
		return 0;
	}
	const char *verb = argv[1];
	struct binfmt_args a;
	int r = parse_args(argc - 1, argv + 1, &a);
	if (r)
		return r > 0 ? 0 : -r;
	a.verb = verb;
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (!strcmp(verb, "install") || !strcmp(verb, "plan") || !strcmp(verb, "status")) {
		if (!strcmp(verb, "status") && nargs)
			return cli_usage("binfmt", "status takes no arguments");
		if ((r = add_target_args(&a, nargs, args)))
			return r;
		return !strcmp(verb, "install") ? do_install(&a)
		       : !strcmp(verb, "plan")	? do_plan(&a)
						: do_status(&a);
	}
	if (!strcmp(verb, "remove"))
		return do_remove(&a, nargs, args);
	if (!strcmp(verb, "export")) {
		if (nargs < 1)
			return cli_usage("binfmt", "export needs a directory");
		if ((r = add_target_args(&a, nargs - 1, args + 1)))
			return r;
		return do_export(&a, args[0]);
	}
	return cli_usage("binfmt", "unknown binfmt command '%s'", verb);
}
