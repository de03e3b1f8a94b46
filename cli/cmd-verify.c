/* archkit verify: does code for each platform really run here, and does each variant of
 * an image? */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binfmt/instance.h"
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "verify/image.h"
#include "verify/verify.h"

static const char verify_help[] =
	"Usage: archkit verify [OPTIONS]\n"
	"       archkit verify IMAGE [OPTIONS] [-- CMD ARGS...]\n"
	"\n"
	"Without IMAGE: run archkit's built-in smoke binary for each platform through the\n"
	"kernel (a real execve, as a container's process would be started) and check that it\n"
	"ran, exited 0 and reported a machine of that platform from uname. Each platform is:\n"
	"native, emulated by a named binfmt_misc entry, failed (why), or has no handler.\n"
	"\n"
	"With IMAGE: docker run --platform for every variant, with no daemon and no root.\n"
	"Each variant's final filesystem is unpacked into a private directory under $TMPDIR\n"
	"(no path leaves it, no device nodes, setuid/setgid bits and file capabilities\n"
	"dropped, everything owned by the caller) and CMD runs there in a user namespace\n"
	"with private QEMU handlers (flag F), after pivot_root, with a read-only /proc and a\n"
	"minimal /dev. CMD defaults to 'uname -m' through the variant's /bin/sh (else\n"
	"/bin/busybox, else the entrypoint with --version), and then the machine it prints\n"
	"must be one of the variant's platform. Each variant: passed, failed (exit status or\n"
	"signal, and the end of its stderr), timed out, or not runnable here (no QEMU).\n"
	"IMAGE is any form 'archkit probe' reads, docker://REF (a registry) included.\n"
	"\n"
	"Options:\n"
	"  --platform P          check P (repeatable or comma-separated, as buildx takes\n"
	"                        them). Smoke mode default: one platform per\n"
	"                        architecture (amd64, 386, arm64, arm/v7, ppc64le, ppc64,\n"
	"                        s390x, riscv64, mips64le, mips64, loong64); 'all': every\n"
	"                        platform, variants included (amd64/v2, arm/v6...); with\n"
	"                        IMAGE: every variant, and a P the image lacks is an error\n"
	"  --timeout SECONDS     per run (1 to 3600; default 10, with IMAGE 30)\n"
	"  --json                machine-readable output (with IMAGE: archkit.verify-image/v1)\n"
	"  --format FORMAT       text (default), json (as --json) or github: a workflow\n"
	"                        command per platform that did not run (::error title=...::)\n"
	"                        and a ::notice:: saying what ran\n"
	"  --mount-dir DIR       smoke mode: the binfmt_misc instance to name handlers from\n"
	"  --qemu-path DIR       with IMAGE: take qemu-ARCH-static (or qemu-ARCH) from DIR\n"
	"                        only, not from $PATH and the usual places\n"
	"  --jobs N              with IMAGE: layers read and variants run at once (default:\n"
	"                        the CPUs archkit may use, as its affinity says)\n"
	"  --max-layer-bytes N   with IMAGE: as for probe (K, M, G suffixes; default 8G)\n"
	"  --max-unpack-bytes N  with IMAGE: bytes all unpacked files may hold (default 8G)\n"
	"  -h, --help            this help\n"
	"\n"
	"With a docker:// IMAGE (see REGISTRIES in archkit-probe(1)):\n"
	CLI_REGISTRY_HELP
	"\n"
	"Exit status: 0 every platform or variant ran (and passed); 1 some did not; 2 the\n"
	"environment or an unreadable image; 64 usage.\n"
	"\nSee archkit-verify(1).\n";

/* ---- verify IMAGE ---- */

/* "timed out" for the row, "timed-out" in JSON */
static const char *status_words(enum ak_vi_status s, char buf[32])
{
	snprintf(buf, 32, "%s", ak_vi_status_name(s));
	for (char *p = buf; *p; p++)
		if (*p == '-')
			*p = ' ';
	return buf;
}

/* Whether the variants come from more than one image: then rows show the tag too. */
static bool several_refs(const struct ak_vi_report *r)
{
	for (size_t i = 1; i < r->n; i++) {
		const char *a = r->variants[0].ref_name, *b = r->variants[i].ref_name;
		if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
			return true;
	}
	return false;
}

/* The last lines of stderr, indented under the row; what came from the image escaped. */
static void print_stderr_tail(const char *tail)
{
	const char *end = tail + strlen(tail);
	while (end > tail && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	const char *start = end;
	for (int lines = 0; start > tail && lines < 5; start--)
		if (start[-1] == '\n' && ++lines == 5)
			break;
	if (start == end)
		return;
	char *copy = ak_xstrndup(start, (size_t)(end - start));
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		printf("%-16s %-13s %s", "", "", line == copy ? "stderr: " : "        ");
		cli_put_text(stdout, line);
		putchar('\n');
	}
	free(copy);
}

static void print_image_text(const struct ak_vi_report *r)
{
	bool refs = several_refs(r);
	printf("%-16s %-13s %s\n", "PLATFORM", "RESULT", "DETAIL");
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_vi_variant *v = &r->variants[i];
		cleanup_free char *label = refs && v->ref_name
						   ? ak_xasprintf("%s (%s)", v->name, v->ref_name)
						   : ak_xstrdup(v->name);
		cleanup_free char *shown = cli_text(label);
		char words[32];
		printf("%-16s %-13s ", shown, status_words(v->status, words));
		cli_put_text(stdout, v->detail ? v->detail : "");
		/* a failure's row says what happened (its fix is in --json); a variant
		 * that cannot run here needs the fix to be run at all */
		if (v->fix && v->status == AK_VI_NOT_RUNNABLE) {
			fputs(" (fix: ", stdout);
			cli_put_text(stdout, v->fix);
			putchar(')');
		}
		putchar('\n');
		if (v->status == AK_VI_FAILED && v->err_tail)
			print_stderr_tail(v->err_tail);
	}
	printf("%zu variant%s: %zu passed, %zu failed, %zu timed out, %zu not runnable\n", r->n,
	       r->n == 1 ? "" : "s", r->count[AK_VI_PASSED], r->count[AK_VI_FAILED],
	       r->count[AK_VI_TIMED_OUT], r->count[AK_VI_NOT_RUNNABLE]);
	for (size_t i = 0; i < r->nnotes; i++) {
		fputs("note: ", stdout);
		cli_put_text(stdout, r->notes[i]);
		putchar('\n');
	}
}

static json_t *image_json(const char *ref, const struct ak_vi_report *r)
{
	json_t *doc = json_object(), *vs = json_array(), *notes = json_array();
	json_object_set_new(doc, "schema", json_string("archkit.verify-image/v1"));
	cli_json_set_string(doc, "image", ref);
	json_object_set_new(doc, "kind", json_string(r->kind));
	json_object_set_new(doc, "ok", json_boolean(r->count[AK_VI_PASSED] == r->n));
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_vi_variant *v = &r->variants[i];
		json_t *o = json_object(), *cmd = json_array();
		json_object_set_new(o, "platform", json_string(v->name));
		cli_json_set_string(o, "ref_name", v->ref_name);
		json_object_set_new(o, "manifest_digest", cli_json_string(v->manifest_digest));
		json_object_set_new(o, "status", json_string(ak_vi_status_name(v->status)));
		for (size_t k = 0; v->command && v->command[k]; k++)
			json_array_append_new(cmd, cli_json_string(v->command[k]));
		json_object_set_new(o, "command", v->command ? cmd : (json_decref(cmd), json_null()));
		bool ran = v->out != NULL;
		json_object_set_new(o, "how",
				    ran ? json_string(v->emulated ? "emulated" : "native") : json_null());
		json_object_set_new(o, "interpreter", cli_json_string(v->interpreter));
		json_object_set_new(o, "exit_code",
				    v->exit_code >= 0 ? json_integer(v->exit_code) : json_null());
		json_object_set_new(o, "signal", v->signal ? json_integer(v->signal) : json_null());
		cli_json_set_string(o, "machine", v->machine);
		cli_json_set_string(o, "stdout", v->out);
		cli_json_set_string(o, "stderr_tail", v->err_tail);
		json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)v->elapsed_ms));
		json_object_set_new(o, "files", json_integer((json_int_t)v->files));
		json_object_set_new(o, "bytes", json_integer((json_int_t)v->bytes));
		cli_json_set_string(o, "detail", v->detail);
		cli_json_set_string(o, "fix", v->fix);
		cli_json_set_string(o, "why", v->why);
		json_array_append_new(vs, o);
	}
	json_object_set_new(doc, "variants", vs);
	for (size_t i = 0; i < r->nnotes; i++)
		json_array_append_new(notes, cli_json_string(r->notes[i]));
	json_object_set_new(doc, "notes", notes);
	json_object_set_new(doc, "passed", json_integer((json_int_t)r->count[AK_VI_PASSED]));
	json_object_set_new(doc, "failed", json_integer((json_int_t)r->count[AK_VI_FAILED]));
	json_object_set_new(doc, "timed_out", json_integer((json_int_t)r->count[AK_VI_TIMED_OUT]));
	json_object_set_new(doc, "not_runnable",
			    json_integer((json_int_t)r->count[AK_VI_NOT_RUNNABLE]));
	return doc;
}

enum format { FMT_TEXT, FMT_JSON, FMT_GITHUB }; /* in --format's order */

/* "::error title=archkit verify PLATFORM::" for one platform or variant */
static void github_error_start(const char *label)
{
	fputs("::error title=archkit verify ", stdout);
	cli_github_put(stdout, label, true);
	fputs("::", stdout);
}

/* One ::error:: per variant that did not pass (its stderr tail on the lines below), then
 * a ::notice:: with the counts and one per note. */
static void print_image_github(const char *ref, const struct ak_vi_report *r)
{
	bool refs = several_refs(r);
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_vi_variant *v = &r->variants[i];
		if (v->status == AK_VI_PASSED)
			continue;
		cleanup_free char *label = refs && v->ref_name
						   ? ak_xasprintf("%s (%s)", v->name, v->ref_name)
						   : ak_xstrdup(v->name);
		char words[32];
		github_error_start(label);
		cli_github_put(stdout, status_words(v->status, words), false);
		if (v->detail) {
			fputs(": ", stdout);
			cli_github_put(stdout, v->detail, false);
		}
		if (v->fix) {
			fputs(" (fix: ", stdout);
			cli_github_put(stdout, v->fix, false);
			fputc(')', stdout);
		}
		if (v->status == AK_VI_FAILED && v->err_tail && *v->err_tail) {
			/* the tail's lines, each escaped on its own, joined by real line breaks */
			cleanup_free char *tail = ak_xstrdup(v->err_tail);
			for (size_t len = strlen(tail); len && tail[len - 1] == '\n';)
				tail[--len] = '\0';
			fputs("%0Astderr:", stdout);
			for (char *line = tail, *next; line; line = next) {
				next = strchr(line, '\n');
				if (next)
					*next++ = '\0';
				size_t len = strlen(line);
				if (len && line[len - 1] == '\r')
					line[len - 1] = '\0'; /* a CRLF line end */
				fputs("%0A", stdout);
				cli_github_put(stdout, line, false);
			}
		}
		fputc('\n', stdout);
	}
	fputs("::notice title=archkit verify::", stdout);
	cli_github_put(stdout, ref, false);
	printf(": %zu variant%s: %zu passed, %zu failed, %zu timed out, %zu not runnable\n", r->n,
	       r->n == 1 ? "" : "s", r->count[AK_VI_PASSED], r->count[AK_VI_FAILED],
	       r->count[AK_VI_TIMED_OUT], r->count[AK_VI_NOT_RUNNABLE]);
	for (size_t i = 0; i < r->nnotes; i++) {
		fputs("::notice title=archkit verify::", stdout);
		cli_github_put(stdout, r->notes[i], false);
		fputc('\n', stdout);
	}
}

static void note_starting(const char *platform, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "archkit: verify: running %s\n", platform);
}

static int verify_image(const char *ref, struct ak_verify_image_options *opt,
			enum format format)
{
	struct ak_vi_report r;
	struct ak_error *err = NULL;
	if (isatty(STDERR_FILENO))
		opt->starting = note_starting;
	if (ak_verify_image(ref, opt, &r, &err) < 0)
		return cli_fail_text(err);
	if (format == FMT_JSON)
		cli_json_print(image_json(ref, &r));
	else if (format == FMT_GITHUB)
		print_image_github(ref, &r);
	else
		print_image_text(&r);
	bool ok = r.count[AK_VI_PASSED] == r.n;
	ak_vi_report_free(&r);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_failf(AK_EXIT_ENV, "cannot write the report: %s", strerror(errno));
	return ok ? 0 : AK_EXIT_FAIL;
}

/* ---- smoke mode ---- */

/* "emulated by qemu-aarch64", "native", "no handler" */
static const char *smoke_how(const struct ak_verify_result *r, char how[128])
{
	snprintf(how, 128, "%s%s%s", ak_verify_outcome_name(r->outcome), r->entry[0] ? " by " : "",
		 r->entry);
	return how;
}

static void print_smoke_text(const struct ak_verify_result *res, size_t n)
{
	printf("%-16s %-8s %-30s %s\n", "PLATFORM", "RESULT", "HOW", "DETAIL");
	for (size_t i = 0; i < n; i++) {
		const struct ak_verify_result *r = &res[i];
		bool ok = ak_verify_ok(r);
		char how[128];
		printf("%-16s %-8s %-30s %s%s\n", r->platform->name, ok ? "ok" : "FAILED",
		       smoke_how(r, how), ok ? "uname: " : "", ok ? r->smoke.machine : r->why);
	}
}

static json_t *smoke_json(const struct ak_verify_result *res, size_t n, bool all_ok)
{
	json_t *jr = json_array();
	for (size_t i = 0; i < n; i++) {
		const struct ak_verify_result *r = &res[i];
		json_t *o = json_object();
		json_object_set_new(o, "platform", json_string(r->platform->name));
		json_object_set_new(o, "ok", json_boolean(ak_verify_ok(r)));
		json_object_set_new(o, "outcome", json_string(ak_verify_outcome_name(r->outcome)));
		json_object_set_new(o, "entry", r->entry[0] ? json_string(r->entry) : json_null());
		json_object_set_new(o, "machine",
				    r->smoke.ran ? json_string(r->smoke.machine) : json_null());
		json_object_set_new(o, "exit_code",
				    r->smoke.ran && !r->smoke.signal ? json_integer(r->smoke.exit_code)
								     : json_null());
		json_object_set_new(o, "signal",
				    r->smoke.signal ? json_integer(r->smoke.signal) : json_null());
		json_object_set_new(o, "why", r->why[0] ? json_string(r->why) : json_null());
		json_array_append_new(jr, o);
	}
	json_t *doc = json_object();
	json_object_set_new(doc, "results", jr);
	json_object_set_new(doc, "ok", json_boolean(all_ok));
	return doc;
}

/* One ::error:: per platform that did not run, then a ::notice:: listing what did. */
static void print_smoke_github(const struct ak_verify_result *res, size_t n)
{
	size_t ran = 0;
	char how[128];
	for (size_t i = 0; i < n; i++) {
		const struct ak_verify_result *r = &res[i];
		if (ak_verify_ok(r)) {
			ran++;
			continue;
		}
		github_error_start(r->platform->name);
		cli_github_put(stdout, smoke_how(r, how), false);
		fputs(": ", stdout);
		cli_github_put(stdout, r->why, false);
		fputc('\n', stdout);
	}
	printf("::notice title=archkit verify::%zu of %zu platform%s ran", ran, n,
	       n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const struct ak_verify_result *r = &res[i];
		if (!ak_verify_ok(r))
			continue;
		fputs("%0A", stdout);
		cli_github_put(stdout, r->platform->name, false);
		fputs(": ", stdout);
		cli_github_put(stdout, smoke_how(r, how), false);
		fputs(" (uname ", stdout);
		cli_github_put(stdout, r->smoke.machine, false);
		fputc(')', stdout);
	}
	fputc('\n', stdout);
}

/* ---- the command ---- */

static int size_option(const char *name, const char *arg, uint64_t *out)
{
	int r = cli_parse_size(arg, out);
	if (r == -ERANGE)
		return cli_usage("verify", "--%s '%s' is too large (at most 2^64-1 bytes)", name,
				 arg);
	if (r < 0)
		return cli_usage("verify",
				 "invalid --%s '%s' (a positive number of bytes, with an optional "
				 "K, M or G suffix)",
				 name, arg);
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"mount-dir", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'J'},
		{"format", required_argument, NULL, 'F'},
		{"qemu-path", required_argument, NULL, 'q'},
		{"jobs", required_argument, NULL, 'j'},
		{"max-layer-bytes", required_argument, NULL, 'L'},
		{"max-unpack-bytes", required_argument, NULL, 'U'},
		{"help", no_argument, NULL, 'h'},
		CLI_REGISTRY_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	cleanup_free const struct ak_platform **plats = NULL;
	size_t np = 0;
	int timeout_ms = 0;
	const char *mount_dir = NULL, *image_only = NULL;
	enum format format = FMT_TEXT;
	bool all_platforms = false;
	struct ak_image_options io;
	ak_image_options_init(&io);
	struct ak_verify_image_options vopt = {.registry = &io.registry};
	/* everything after "--" is the command's, options included */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			vopt.cmd = &argv[i + 1];
			argc = i;
			break;
		}
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(verify_help, stdout);
			return 0;
		case 'p': {
			int r = cli_platforms_add("verify", optarg, &all_platforms, &plats, &np);
			if (r)
				return r;
			break;
		}
		case 't': {
			uint64_t v = 0;
			const char *end;
			if (cli_parse_u64(optarg, &v, &end) < 0 || *end || v < 1 || v > 3600)
				return cli_usage("verify",
						 "invalid --timeout '%s' (1 to 3600 seconds)",
						 optarg);
			timeout_ms = (int)v * 1000;
			break;
		}
		case 'm':
			mount_dir = optarg;
			break;
		case 'J':
			format = FMT_JSON;
			break;
		case 'F': {
			static const char *const names[] = {"text", "json", "github", NULL};
			int f;
			if (cli_choice("verify", "format", optarg, names, &f))
				return AK_EXIT_USAGE;
			format = (enum format)f;
			break;
		}
		case 'q':
			vopt.qemu_path = optarg;
			image_only = "--qemu-path";
			break;
		case 'j': {
			uint64_t v = 0;
			const char *end;
			if (cli_parse_u64(optarg, &v, &end) < 0 || *end || v < 1 || v > 64)
				return cli_usage("verify", "invalid --jobs '%s' (1 to 64)", optarg);
			vopt.jobs = (int)v;
			image_only = "--jobs";
			break;
		}
		case 'L':
			if (size_option("max-layer-bytes", optarg, &vopt.max_layer_bytes))
				return AK_EXIT_USAGE;
			image_only = "--max-layer-bytes";
			break;
		case 'U':
			if (size_option("max-unpack-bytes", optarg, &vopt.max_unpack_bytes))
				return AK_EXIT_USAGE;
			image_only = "--max-unpack-bytes";
			break;
		default: {
			int r = cli_registry_option("verify", c, optarg, &io.registry);
			if (r != 1)
				return r;
			image_only = c == CLI_OPT_CREDS	       ? "--creds"
				     : c == CLI_OPT_CREDS_FILE ? "--creds-file"
				     : c == CLI_OPT_CREDS_ENV  ? "--creds-env"
							       : "--tls-verify";
			break;
		}
		}
	}
	if (optind < argc) {
		if (optind + 1 < argc)
			return cli_usage("verify", "one image at a time ('%s' is a second)",
					 argv[optind + 1]);
		if (mount_dir)
			return cli_usage("verify", "--mount-dir is for smoke mode (no IMAGE)");
		if (all_platforms)
			return cli_usage("verify", "--platform all is for smoke mode: with IMAGE, "
						   "every variant is checked unless --platform names some");
		vopt.filter = plats;
		vopt.nfilter = np;
		vopt.timeout_ms = timeout_ms;
		if (vopt.cmd && !vopt.cmd[0])
			return cli_usage("verify", "no command after '--'");
		ak_tmpdirs_catch_signals(); /* ^C must not leave an unpacked image behind */
		return verify_image(argv[optind], &vopt, format);
	}
	if (vopt.cmd)
		return cli_usage("verify", "'-- CMD' needs an IMAGE to run it in");
	if (image_only)
		return cli_usage("verify", "%s needs an IMAGE", image_only);
	if (!mount_dir)
		mount_dir = AK_BINFMT_DEFAULT_DIR;
	if (timeout_ms == 0)
		timeout_ms = 10000;
	if (all_platforms) {
		/* every platform once, after the ones named beside 'all' */
		for (size_t i = 0; i < ak_platform_count; i++) {
			bool named = false;
			for (size_t k = 0; k < np && !named; k++)
				named = plats[k] == &ak_platforms[i];
			if (named)
				continue;
			ak_grow_one(&plats, np, sizeof(*plats));
			plats[np++] = &ak_platforms[i];
		}
	} else if (np == 0) {
		struct cli_targets ts = {0};
		cli_targets_add_all(&ts);
		for (size_t i = 0; i < ts.count; i++) {
			ak_grow_one(&plats, np, sizeof(*plats));
			plats[np++] = ts.items[i].platforms[0];
		}
	}
	/* the table only names the handler that ran a platform: verify works without it */
	struct ak_binfmt_instance inst;
	struct ak_binfmt_table table = {0};
	struct ak_error *err = NULL;
	bool have_table = ak_binfmt_open(mount_dir, false, &inst, &err) == 0 &&
			  ak_binfmt_table_read(inst.dirfd, &table, &err) == 0;
	ak_error_free(err);
	err = NULL;
	ak_binfmt_close(&inst);

	cleanup_free struct ak_verify_result *res = ak_xcalloc(np, sizeof(*res));
	int r = ak_verify_platforms(plats, np, have_table ? &table : NULL, timeout_ms, res, &err);
	ak_binfmt_table_clear(&table);
	if (r < 0)
		return cli_fail(err);
	bool all_ok = true;
	for (size_t i = 0; i < np; i++)
		all_ok &= ak_verify_ok(&res[i]);
	if (format == FMT_JSON)
		cli_json_print(smoke_json(res, np, all_ok));
	else if (format == FMT_GITHUB)
		print_smoke_github(res, np);
	else
		print_smoke_text(res, np);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_failf(AK_EXIT_ENV, "cannot write the report: %s", strerror(errno));
	return all_ok ? 0 : AK_EXIT_FAIL;
}
