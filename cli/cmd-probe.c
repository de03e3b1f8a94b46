/* archkit probe IMAGE: does each platform variant really target its architecture? */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/tmpdirs.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/decompress.h"
#include "image/image.h"
#include "probe/probe.h"

static const char probe_help[] =
	"Usage: archkit probe [OPTIONS] IMAGE\n"
	"\n"
	"Open a built image and check, from the ELF headers of every file in every layer,\n"
	"that each platform variant really targets its architecture: machine, class and\n"
	"endianness, ARM float ABI and CPU arch, x86-64 ISA level, PPC64 ELF ABI, the\n"
	"PT_INTERP loader in the variant's final filesystem, and that variants of different\n"
	"platforms are not byte-identical. Whiteouts are applied, so a file a later layer\n"
	"removed does not count.\n"
	"\n"
	"IMAGE: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, local:DIR\n"
	"(buildx type=local), tar:FILE (buildx or buildah type=tar, or any form in a\n"
	"tar), dir:DIR (skopeo), '-' (an archive on stdin), a bare path, recognised by\n"
	"its content, or docker://[HOST[:PORT]/]REPO[:TAG|@sha256:HEX] (a registry; Docker\n"
	"Hub when there is no HOST: docker://alpine is registry-1.docker.io/library/alpine).\n"
	"From a registry only the selected platforms' manifests, configs and layers are\n"
	"fetched, each layer once. Credentials: --creds, --creds-env, --creds-file, else\n"
	"$REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json and docker's\n"
	"config.json (with its credential helpers); anonymous when there are none.\n"
	"\n"
	"Options:\n"
	"  --platform P          only these variants (repeatable or comma-separated, as\n"
	"                        buildx takes them; aliases accepted); one the image\n"
	"                        lacks is a platform-missing error; for\n"
	"                        single-platform local or tar output, the platform it is\n"
	"  --ignore GLOB         files that may carry other code (repeatable): reported as\n"
	"                        info, never failing ('/usr/share/firmware/*')\n"
	"  --fail-on LEVEL       error (default), warning or info: the lowest severity that\n"
	"                        fails the probe\n"
	"  --json                the report as JSON (schema archkit.probe/v1, see README)\n"
	"  --format FORMAT       text (default), json, junit or github (workflow annotations)\n"
	"  --jobs N              layers read at once, each with a read-ahead thread\n"
	"                        (default: the CPUs archkit may use, as its affinity says)\n"
	"  --max-layer-bytes N   stop a layer that costs more than N bytes to read: what it\n"
	"                        inflates to, sparse holes and compressed bytes, all counted\n"
	"                        (K, M, G: powers of 1024; at most 2^64-1; default 8G)\n"
	CLI_REGISTRY_HELP
	"  -v, --verbose         also list wrong files that a later layer removed, and\n"
	"                        each registry request on stderr (without secrets)\n"
	"  --cache-dir DIR       the layer cache: each layer's entries and ELF facts, kept\n"
	"                        by digest, so a layer probed before is not read again\n"
	"                        (default $XDG_CACHE_HOME/archkit/layers, or\n"
	"                        ~/.cache/archkit/layers; at most 1 GiB, least recently\n"
	"                        used removed first)\n"
	"  --no-cache            neither read nor write the layer cache: every layer is\n"
	"                        read and its digest checked\n"
	"  -h, --help            this help\n"
	"\n"
	"Names from the image are printed escaped (\\x1b, \\n, \\xHH for bytes that are not\n"
	"UTF-8, \\\\ for a backslash), so they cannot forge report lines; see\n"
	"archkit-probe(1).\n"
	"\n"
	"Exit status: 0 clean; 1 findings at or above --fail-on; 2 unreadable, invalid or\n"
	"hostile input, or a registry that refuses (one line says why); 64 usage error.\n"
	"\nSee archkit-probe(1).\n";

enum format { FMT_TEXT, FMT_JSON, FMT_JUNIT, FMT_GITHUB }; /* in --format's order */

static bool failed(const struct ak_probe_variant *v, int fail_on)
{
	for (int s = AK_SEV_ERROR; s >= fail_on; s--)
		if (v->count[s])
			return true;
	return false;
}

/* Whether the variants come from more than one image (a multi-image docker save, an
 * OCI layout with several tags): then each is named by its reference too. */
static bool several_refs(const struct ak_probe_report *r)
{
	for (size_t i = 1; i < r->n; i++) {
		const char *a = r->variants[0].ref_name, *b = r->variants[i].ref_name;
		if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
			return true;
	}
	return false;
}

/* "linux/amd64", or "linux/amd64 (app:1)" when refs is set; raw, caller escapes. */
static char *variant_label(const struct ak_probe_variant *v, bool refs)
{
	return refs && v->ref_name ? ak_xasprintf("%s (%s)", v->name, v->ref_name)
				   : ak_xstrdup(v->name);
}

/* One indented "found:"/"expected:"/"layer:" line of a finding, when s is set. */
/* Where a finding is: its file, else "(layer)" for a finding about a layer as a whole,
 * else "(image)". */
static const char *finding_where(const struct ak_probe_finding *f)
{
	return f->path ? f->path : f->layer ? "(layer)" : "(image)";
}

static void print_detail(const char *label, const char *s)
{
	if (!s)
		return;
	printf("\n          %s", label);
	cli_put_text(stdout, s);
}

/* Every string that came from the image goes through cli_put_text/cli_text, so a file
 * name with escapes or newlines shows as \x1b, \n and cannot forge a row. */
static void print_text(const char *ref, const struct ak_probe_report *r, int fail_on, bool verbose)
{
	bool refs = several_refs(r);
	fputs("image: ", stdout);
	cli_put_text(stdout, ref);
	printf(" (%s), %zu variant%s", r->kind, r->n, r->n == 1 ? "" : "s");
	if (r->skipped_attestations)
		printf(", %zu attestation manifest%s skipped", r->skipped_attestations,
		       r->skipped_attestations == 1 ? "" : "s");
	printf("\n");
	for (size_t i = 0; i < r->nnotes; i++) {
		fputs("note: ", stdout);
		cli_put_text(stdout, r->notes[i]);
		fputc('\n', stdout);
	}
	char **labels = ak_xcalloc(r->n + 1, sizeof(*labels));
	int width = 16;
	for (size_t i = 0; i < r->n; i++) {
		cleanup_free char *raw = variant_label(&r->variants[i], refs);
		labels[i] = cli_text(raw);
		/* the column widens to fit; a label past 64 bytes is printed whole, unpadded */
		size_t len = strlen(labels[i]);
		if (len > (size_t)width && len <= 64)
			width = (int)len;
	}
	printf("\n%-*s %6s %7s %6s %7s %9s %5s  %s\n", width, "PLATFORM", "LAYERS", "FILES", "ELF",
	       "ERRORS", "WARNINGS", "INFO", "VERDICT");
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		printf("%-*s %6zu %7zu %6zu %7zu %9zu %5zu  %s\n", width, labels[i], v->nlayers,
		       v->files, v->elf_files, v->count[AK_SEV_ERROR], v->count[AK_SEV_WARNING],
		       v->count[AK_SEV_INFO], failed(v, fail_on) ? "FAIL" : "pass");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		if (!v->nfindings && !(verbose && v->nremoved))
			continue;
		printf("\n%s:\n", labels[i]);
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			printf("  %-7s %-20s ", ak_severity_name(f->f.sev), f->f.code);
			cli_put_text(stdout, finding_where(f));
			print_detail("found:    ", f->f.found);
			print_detail("expected: ", f->f.expected);
			print_detail("layer:    ", f->layer);
			fputc('\n', stdout);
		}
		for (size_t k = 0; verbose && k < v->nremoved; k++) {
			fputs("  removed ", stdout);
			cli_put_text(stdout, v->removed[k]);
			fputc('\n', stdout);
		}
	}
	for (size_t i = 0; i < r->n; i++)
		free(labels[i]);
	free(labels);
}

/* Strings from the image go through cli_json_*: a name that is not UTF-8 keeps its key
 * (escaped, with KEY_base64 holding the exact bytes) instead of vanishing. */
static json_t *report_json(const char *ref, const struct ak_probe_report *r, int fail_on)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "schema", json_string("archkit.probe/v1"));
	cli_json_set_string(doc, "image", ref);
	json_object_set_new(doc, "kind", json_string(r->kind));
	json_object_set_new(doc, "fail_on", json_string(ak_severity_name(fail_on)));
	json_object_set_new(doc, "skipped_attestations",
			    json_integer((json_int_t)r->skipped_attestations));
	json_t *notes = json_array();
	for (size_t i = 0; i < r->nnotes; i++)
		json_array_append_new(notes, cli_json_string(r->notes[i]));
	json_object_set_new(doc, "notes", notes);
	bool ok = true;
	json_t *vs = json_array();
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		json_t *o = json_object();
		cli_json_set_string(o, "platform", v->name);
		cli_json_set_string(o, "index_platform", v->index_platform);
		cli_json_set_string(o, "config_platform", v->config_platform);
		cli_json_set_string(o, "folder_platform", v->folder_platform);
		cli_json_set_string(o, "manifest", v->manifest_digest);
		cli_json_set_string(o, "ref_name", v->ref_name);
		json_object_set_new(o, "layers", json_integer((json_int_t)v->nlayers));
		json_object_set_new(o, "files", json_integer((json_int_t)v->files));
		json_object_set_new(o, "elf_files", json_integer((json_int_t)v->elf_files));
		json_t *c = json_object();
		json_object_set_new(c, "error", json_integer((json_int_t)v->count[AK_SEV_ERROR]));
		json_object_set_new(c, "warning",
				    json_integer((json_int_t)v->count[AK_SEV_WARNING]));
		json_object_set_new(c, "info", json_integer((json_int_t)v->count[AK_SEV_INFO]));
		json_object_set_new(o, "counts", c);
		bool fail = failed(v, fail_on);
		ok &= !fail;
		json_object_set_new(o, "verdict", json_string(fail ? "fail" : "pass"));
		json_t *fs = json_array();
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			json_t *jf = json_object();
			json_object_set_new(jf, "severity",
					    json_string(ak_severity_name(f->f.sev)));
			json_object_set_new(jf, "code", json_string(f->f.code));
			cli_json_set_string(jf, "path", f->path);
			cli_json_set_string(jf, "layer", f->layer);
			cli_json_set_string(jf, "found", f->f.found);
			cli_json_set_string(jf, "expected", f->f.expected);
			json_array_append_new(fs, jf);
		}
		json_object_set_new(o, "findings", fs);
		json_t *rm = json_array();
		for (size_t k = 0; k < v->nremoved; k++)
			json_array_append_new(rm, cli_json_string(v->removed[k]));
		json_object_set_new(o, "removed", rm);
		json_array_append_new(vs, o);
	}
	json_object_set_new(doc, "variants", vs);
	json_object_set_new(doc, "ok", json_boolean(ok));
	return doc;
}

/* XML 1.0 cannot carry most control characters even as character references, nor bytes
 * that are not UTF-8: the text escaping removes those first (a name's ESC shows as
 * \x1b), then the five XML specials become entities. */
static void xml_put(const char *s)
{
	cleanup_free char *e = cli_text(s);
	for (const char *p = e; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", stdout);
			break;
		case '>':
			fputs("&gt;", stdout);
			break;
		case '&':
			fputs("&amp;", stdout);
			break;
		case '"':
			fputs("&quot;", stdout);
			break;
		case '\'':
			fputs("&apos;", stdout);
			break;
		default:
			fputc(*p, stdout);
		}
	}
}

static void print_junit(const char *ref, const struct ak_probe_report *r, int fail_on)
{
	bool refs = several_refs(r);
	size_t failures = 0;
	for (size_t i = 0; i < r->n; i++)
		failures += failed(&r->variants[i], fail_on);
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	printf("<testsuites name=\"archkit probe\" tests=\"%zu\" failures=\"%zu\">\n", r->n,
	       failures);
	printf("  <testsuite name=\"");
	xml_put(ref);
	printf("\" tests=\"%zu\" failures=\"%zu\">\n", r->n, failures);
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		cleanup_free char *label = variant_label(v, refs);
		printf("    <testcase classname=\"archkit.probe\" name=\"");
		xml_put(label);
		printf("\">\n");
		bool fail = failed(v, fail_on);
		if (fail)
			printf("      <failure message=\"%zu error(s), %zu warning(s)\">",
			       v->count[AK_SEV_ERROR], v->count[AK_SEV_WARNING]);
		else if (v->nfindings)
			printf("      <system-out>");
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			printf("%s %s ", ak_severity_name(f->f.sev), f->f.code);
			xml_put(finding_where(f));
			printf(": found ");
			xml_put(f->f.found);
			printf("; expected ");
			xml_put(f->f.expected);
			printf("\n");
		}
		if (fail)
			printf("</failure>\n");
		else if (v->nfindings)
			printf("</system-out>\n");
		printf("    </testcase>\n");
	}
	printf("  </testsuite>\n</testsuites>\n");
}

static void print_github(const struct ak_probe_report *r)
{
	static const char *cmd[] = {"notice", "warning", "error"};
	bool refs = several_refs(r);
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		cleanup_free char *label = variant_label(v, refs);
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			printf("::%s title=", cmd[f->f.sev]);
			fputs("archkit probe ", stdout);
			cli_github_put(stdout, label, true);
			cli_github_put(stdout, ": ", true);
			cli_github_put(stdout, f->f.code, true);
			printf("::");
			cli_github_put(stdout, finding_where(f), false);
			printf(": found ");
			cli_github_put(stdout, f->f.found, false);
			printf(", expected ");
			cli_github_put(stdout, f->f.expected, false);
			printf("\n");
		}
	}
}

/* Append to a growing array: no option is ever dropped for want of room. */
static void push(void *arrayp, size_t *n, size_t size, const void *item)
{
	ak_grow_one(arrayp, *n, size);
	memcpy((char *)*(void **)arrayp + *n * size, item, size);
	(*n)++;
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, 'p'},
		{"ignore", required_argument, NULL, 'i'},
		{"fail-on", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'J'},
		{"format", required_argument, NULL, 'F'},
		{"jobs", required_argument, NULL, 'j'},
		{"max-layer-bytes", required_argument, NULL, 'm'},
		{"verbose", no_argument, NULL, 'v'},
		{"cache-dir", required_argument, NULL, 'C'},
		{"no-cache", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		CLI_REGISTRY_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	cleanup_free const struct ak_platform **filter = NULL;
	cleanup_free const char **ignore = NULL;
	struct ak_image_options io;
	ak_image_options_init(&io);
	struct ak_probe_options opt = {.registry = &io.registry};
	enum format format = FMT_TEXT;
	int fail_on = AK_SEV_ERROR;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(probe_help, stdout);
			return 0;
		case 'p': {
			int r = cli_platforms_add("probe", optarg, NULL, &filter, &opt.nfilter);
			if (r)
				return r;
			break;
		}
		case 'i':
			push(&ignore, &opt.nignore, sizeof(*ignore), &optarg);
			break;
		case 'f':
			if (!strcmp(optarg, "error"))
				fail_on = AK_SEV_ERROR;
			else if (!strcmp(optarg, "warning"))
				fail_on = AK_SEV_WARNING;
			else if (!strcmp(optarg, "info"))
				fail_on = AK_SEV_INFO;
			else
				return cli_usage("probe",
						 "unknown --fail-on '%s' (error, warning, info)",
						 optarg);
			break;
		case 'J':
			format = FMT_JSON;
			break;
		case 'F': {
			static const char *const names[] = {"text", "json", "junit", "github", NULL};
			int f;
			if (cli_choice("probe", "format", optarg, names, &f))
				return AK_EXIT_USAGE;
			format = (enum format)f;
			break;
		}
		case 'j': {
			uint64_t v = 0;
			const char *end;
			if (cli_parse_u64(optarg, &v, &end) < 0 || *end || v < 1 || v > 64)
				return cli_usage("probe", "invalid --jobs '%s' (1 to 64)", optarg);
			opt.jobs = (int)v;
			break;
		}
		case 'm': {
			int r = cli_parse_size(optarg, &opt.max_layer_bytes);
			if (r == -ERANGE)
				return cli_usage("probe",
						 "--max-layer-bytes '%s' is too large (at most "
						 "2^64-1 bytes)",
						 optarg);
			if (r < 0)
				return cli_usage(
					"probe",
					"invalid --max-layer-bytes '%s' (a positive number of "
					"bytes, with an optional K, M or G suffix)",
					optarg);
			break;
		}
		case 'v':
			opt.verbose = io.registry.verbose = true;
			break;
		case 'C':
			if (!optarg[0])
				return cli_usage("probe", "--cache-dir needs a directory");
			opt.cache_dir = optarg;
			break;
		case 'N':
			opt.no_cache = true;
			break;
		default: {
			int r = cli_registry_option("probe", c, optarg, &io.registry);
			if (r != 1)
				return r;
			break;
		}
		}
	}
	if (optind != argc - 1)
		return cli_usage("probe",
				 optind >= argc ? "no image given" : "one image at a time");
	const char *ref = argv[optind];
	struct ak_probe_report r;
	struct ak_error *err = NULL;
	opt.filter = filter;
	opt.ignore = ignore;
	ak_tmpdirs_catch_signals(); /* ^C must not leave an extracted archive in $TMPDIR */
	if (ak_probe_run(ref, &opt, &r, &err) < 0)
		return cli_fail_text(err);
	switch (format) {
	case FMT_TEXT:
		print_text(ref, &r, fail_on, opt.verbose);
		break;
	case FMT_JSON:
		cli_json_print(report_json(ref, &r, fail_on));
		break;
	case FMT_JUNIT:
		print_junit(ref, &r, fail_on);
		break;
	case FMT_GITHUB:
		print_github(&r);
		break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ak_probe_report_free(&r);
		return cli_failf(AK_EXIT_ENV, "cannot write the report: %s", strerror(errno));
	}
	int worst = ak_probe_worst(&r);
	ak_probe_report_free(&r);
	return worst >= fail_on ? AK_EXIT_FAIL : 0;
}
