/* archkit doctor: is emulation on this runner healthy, and if not, what exactly is wrong?
 * Parses options, makes one library call (ak_doctor_run) and renders the report: text,
 * archkit.doctor/v1 JSON or node_exporter's textfile format, to stdout or (atomically)
 * to --output. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/doctor-output.h"
#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/xalloc.h"
#include "doctor/doctor.h"

static const char doctor_help[] =
	"Usage: archkit doctor [OPTIONS]\n"
	"\n"
	"Will multi-platform builds work on this runner? Checks the kernel (version, flag F,\n"
	"private instances, binfmt_misc, user namespaces), the binfmt_misc mount (by\n"
	"filesystem magic: not mounted, an untriggered automount, another filesystem,\n"
	"read-only, disabled), the user namespace and privileges, every handler (enabled,\n"
	"magic and mask, interpreter present, executable and static, flags and what each\n"
	"costs, shadowing, entries no platform owns), the QEMU version behind each, native\n"
	"platforms, a smoke run per platform from here and inside a private root (proves\n"
	"flag F), persistence across reboots, and docker and its buildx builders. Each\n"
	"check is pass, info, warn, fail or skipped; every warn and fail prints its fix.\n"
	"Doctor only looks: it never mounts, registers or writes anything but --output.\n"
	"\n"
	"Options:\n"
	"  --platform P          check platform P (repeatable, or comma-separated: arm64,\n"
	"                        linux/riscv64; all: every platform archkit has a smoke\n"
	"                        binary for, the default)\n"
	"  --mount-dir DIR       the binfmt_misc instance to look at (default\n"
	"                        /proc/sys/fs/binfmt_misc)\n"
	"  --host-root DIR       where the host's / is, for the files that persist handlers\n"
	"                        (a DaemonSet mounts it at /host; default /)\n"
	"  --format FORMAT       text (default), json (archkit.doctor/v1) or prometheus\n"
	"                        (node_exporter's textfile format)\n"
	"  --json                the same as --format json\n"
	"  --output FILE         write the report to FILE atomically (temp file + rename in\n"
	"                        its folder), as the textfile collector requires\n"
	"  --timeout MS          per smoke run, in milliseconds (1 to 3600000; default 10000)\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 healthy (no check failed); 1 some check failed; 2 could not check\n"
	"at all, or --output could not be written; 64 usage error.\n"
	"\nSee archkit-doctor(1).\n";

enum { OPT_PLATFORM = 256, OPT_MOUNT_DIR, OPT_HOST_ROOT, OPT_FORMAT, OPT_JSON, OPT_OUTPUT, OPT_TIMEOUT };

enum doctor_format { FMT_TEXT, FMT_JSON, FMT_PROMETHEUS };

struct doctor_args {
	const struct ak_platform **platforms; /* --platform, in the order given */
	size_t nplatforms;
	bool all;
	enum doctor_format format;
	const char *output;
	struct ak_doctor_options opt;
};


static int parse_args(int argc, char **argv, struct doctor_args *a)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, OPT_PLATFORM},
		{"mount-dir", required_argument, NULL, OPT_MOUNT_DIR},
		{"host-root", required_argument, NULL, OPT_HOST_ROOT},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"json", no_argument, NULL, OPT_JSON},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, r;
	uint64_t ms;
	const char *end;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_PLATFORM:
			if ((r = cli_platforms_add("doctor", optarg, &a->all, &a->platforms,
						   &a->nplatforms)) != 0)
				return r;
			break;
		case OPT_MOUNT_DIR:
			if (!*optarg)
				return cli_usage("doctor", "--mount-dir takes a directory");
			a->opt.mount_dir = optarg;
			break;
		case OPT_HOST_ROOT:
			if (!*optarg)
				return cli_usage("doctor", "--host-root takes a directory");
			a->opt.host_root = optarg;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "text"))
				a->format = FMT_TEXT;
			else if (!strcmp(optarg, "json"))
				a->format = FMT_JSON;
			else if (!strcmp(optarg, "prometheus"))
				a->format = FMT_PROMETHEUS;
			else
				return cli_usage("doctor",
						 "invalid --format '%s' (text, json or prometheus)",
						 optarg);
			break;
		case OPT_JSON:
			a->format = FMT_JSON;
			break;
		case OPT_OUTPUT:
			if (!*optarg)
				return cli_usage("doctor", "--output takes a file name");
			a->output = optarg;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_u64(optarg, &ms, &end) < 0 || *end || ms < 1 || ms > 3600000)
				return cli_usage("doctor",
						 "invalid --timeout '%s' (milliseconds, 1 to 3600000)",
						 optarg);
			a->opt.timeout_ms = (int)ms;
			break;
		case 'h':
			fputs(doctor_help, stdout);
			return -1;
		default:
			if (optopt && optopt < 256)
				return cli_usage("doctor", "invalid option '-%c'", optopt);
			return cli_usage("doctor", "invalid option '%s' (or a missing value)",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("doctor", "unexpected argument '%s'", argv[optind]);
	if (!a->all) {
		a->opt.platforms = a->platforms;
		a->opt.nplatforms = a->nplatforms;
	}
	return 0;
}

/* ---- text ---- */

static void write_text(FILE *f, void *ctx)
{
	const struct ak_doctor_report *r = ctx;
	size_t count[AK_CHECK_SKIPPED + 1] = {0};
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct ak_check *c = &r->checks[i];
		count[c->status]++;
		/* a handler check is about its entry; the rest about a platform */
		bool by_entry = c->entry && (!c->platform || !strncmp(c->id, "handler.", 8));
		const char *what = by_entry ? c->entry : c->platform ? c->platform : "-";
		fprintf(f, "%-7s %-24s ", ak_check_status_name(c->status), c->id);
		cli_put_text(f, what);
		fprintf(f, "%*s ", (int)(strlen(what) < 16 ? 16 - strlen(what) : 0), "");
		cli_put_text(f, c->detail);
		fputc('\n', f);
		if (c->fix && (c->status == AK_CHECK_WARN || c->status == AK_CHECK_FAIL)) {
			fputs("  fix: ", f);
			cli_put_text(f, c->fix);
			fputc('\n', f);
		}
	}
	fprintf(f,
		"%s: %zu checks, %zu passed, %zu info, %zu warnings, %zu failed, %zu skipped "
		"(%llu ms)\n",
		ak_doctor_unhealthy(r) ? "unhealthy" : "healthy", r->nchecks, count[AK_CHECK_PASS],
		count[AK_CHECK_INFO], count[AK_CHECK_WARN], count[AK_CHECK_FAIL],
		count[AK_CHECK_SKIPPED], (unsigned long long)r->elapsed_ms);
}

/* ---- archkit.doctor/v1 ---- */

static json_t *report_json(const struct ak_doctor_report *r)
{
	json_t *doc = json_object(), *checks = json_array(), *platforms = json_array();
	json_object_set_new(doc, "schema", json_string("archkit.doctor/v1"));
	json_object_set_new(doc, "healthy", json_boolean(!ak_doctor_unhealthy(r)));
	json_object_set_new(doc, "kernel", cli_json_string(r->kernel));
	json_object_set_new(doc, "elapsed_ms", json_integer((json_int_t)r->elapsed_ms));
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct ak_check *c = &r->checks[i];
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(c->id));
		json_object_set_new(o, "status", json_string(ak_check_status_name(c->status)));
		cli_json_set_string(o, "detail", c->detail);
		cli_json_set_string(o, "fix", c->fix);
		json_object_set_new(o, "platform", cli_json_string(c->platform));
		cli_json_set_string(o, "entry", c->entry);
		json_array_append_new(checks, o);
	}
	for (size_t i = 0; i < r->nplatforms; i++) {
		const struct ak_doctor_platform *p = &r->platforms[i];
		json_t *o = json_object();
		json_object_set_new(o, "platform", json_string(p->platform->name));
		json_object_set_new(o, "how", json_string(p->how));
		json_object_set_new(o, "ok", json_boolean(p->ok));
		json_object_set_new(o, "ok_in_root", json_boolean(p->ok_in_root));
		cli_json_set_string(o, "entry", p->entry);
		cli_json_set_string(o, "qemu_version", p->qemu_version);
		json_array_append_new(platforms, o);
	}
	json_object_set_new(doc, "checks", checks);
	json_object_set_new(doc, "platforms", platforms);
	return doc;
}

static void write_json(FILE *f, void *ctx)
{
	json_t *doc = report_json(ctx);
	json_dumpf(doc, f, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', f);
	json_decref(doc);
}

static void write_prometheus(FILE *f, void *ctx)
{
	doctor_write_prometheus(ctx, f);
}

int cmd_doctor(int argc, char **argv)
{
	struct doctor_args a = {0};
	int r = parse_args(argc, argv, &a);
	cleanup_free const struct ak_platform **platforms = a.platforms;
	if (r)
		return r < 0 ? 0 : r;
	struct ak_doctor_report rep;
	struct ak_error *err = NULL;
	ak_tmpdirs_catch_signals(); /* ^C must not leave the smoke runs' root behind */
	if (ak_doctor_run(&a.opt, &rep, &err) < 0)
		return cli_fail(err);
	void (*write)(FILE *, void *) = a.format == FMT_JSON	       ? write_json
					: a.format == FMT_PROMETHEUS ? write_prometheus
								     : write_text;
	int status = ak_doctor_unhealthy(&rep) ? AK_EXIT_FAIL : 0;
	if (a.output) {
		if (cli_write_atomic(a.output, write, &rep, &err) < 0)
			status = cli_fail(err);
	} else if (a.format == FMT_JSON) {
		cli_json_print(report_json(&rep));
	} else {
		write(stdout, &rep);
	}
	ak_doctor_report_clear(&rep);
	return status;
}
