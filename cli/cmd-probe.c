/* archkit probe IMAGE: does each platform variant really target its architecture? */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "probe/decompress.h"
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
	"(buildx type=local), tar:FILE (buildx type=tar), dir:DIR (skopeo), '-' (an archive\n"
	"on stdin), or a bare path, recognised by its content.\n"
	"\n"
	"Options:\n"
	"  --platform P          only these variants (repeatable; aliases accepted); one the\n"
	"                        image lacks is a platform-missing error; for a\n"
	"                        single-platform local output, the platform it is\n"
	"  --ignore GLOB         files that may carry other code (repeatable): reported as\n"
	"                        info, never failing ('/usr/share/firmware/*')\n"
	"  --fail-on LEVEL       error (default), warning or info: the lowest severity that\n"
	"                        fails the probe\n"
	"  --json                the report as JSON (schema archkit.probe/v1, see README)\n"
	"  --format FORMAT       text (default), json, junit or github (workflow annotations)\n"
	"  --jobs N              layers read at once, each with a read-ahead thread\n"
	"                        (default: the CPU count)\n"
	"  --max-layer-bytes N   stop a layer that inflates past N bytes (K, M, G suffixes;\n"
	"                        default 8G): decompression bombs\n"
	"  -v, --verbose         also list wrong files that a later layer removed\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 clean; 1 findings at or above --fail-on; 2 unreadable, invalid or\n"
	"hostile input (one line says why); 64 usage error.\n"
	"\nSee archkit(1).\n";

enum format { FMT_TEXT, FMT_JSON, FMT_JUNIT, FMT_GITHUB };

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || s[0] == '-')
		return -1;
	uint64_t mul = 1;
	switch (*end) {
	case 'K':
	case 'k':
		mul = 1ULL << 10;
		end++;
		break;
	case 'M':
	case 'm':
		mul = 1ULL << 20;
		end++;
		break;
	case 'G':
	case 'g':
		mul = 1ULL << 30;
		end++;
		break;
	}
	if (*end || v == 0 || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static const char *verdict(const struct ak_probe_variant *v, int fail_on)
{
	for (int s = AK_SEV_ERROR; s >= fail_on; s--)
		if (v->count[s])
			return "fail";
	return "pass";
}

static void print_text(const char *ref, const struct ak_probe_report *r, int fail_on, bool verbose)
{
	printf("image: %s (%s), %zu variant%s", ref, r->kind, r->n, r->n == 1 ? "" : "s");
	if (r->skipped_attestations)
		printf(", %zu attestation manifest%s skipped", r->skipped_attestations,
		       r->skipped_attestations == 1 ? "" : "s");
	printf("\n");
	for (size_t i = 0; i < r->nnotes; i++)
		printf("note: %s\n", r->notes[i]);
	printf("\n%-16s %6s %7s %6s %7s %9s %5s  %s\n", "PLATFORM", "LAYERS", "FILES", "ELF",
	       "ERRORS", "WARNINGS", "INFO", "VERDICT");
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		printf("%-16s %6zu %7zu %6zu %7zu %9zu %5zu  %s\n", v->name, v->nlayers, v->files,
		       v->elf_files, v->count[AK_SEV_ERROR], v->count[AK_SEV_WARNING],
		       v->count[AK_SEV_INFO],
		       strcmp(verdict(v, fail_on), "fail") ? "pass" : "FAIL");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		if (!v->nfindings && !(verbose && v->nremoved))
			continue;
		printf("\n%s:\n", v->name);
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			printf("  %-7s %-20s %s\n", ak_severity_name(f->f.sev), f->f.code,
			       f->path ? f->path : "(image)");
			if (f->f.found)
				printf("          found:    %s\n", f->f.found);
			if (f->f.expected)
				printf("          expected: %s\n", f->f.expected);
			if (f->layer)
				printf("          layer:    %s\n", f->layer);
		}
		for (size_t k = 0; verbose && k < v->nremoved; k++)
			printf("  removed %s\n", v->removed[k]);
	}
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *report_json(const char *ref, const struct ak_probe_report *r, int fail_on)
{
	json_t *doc = json_object();
	json_object_set_new(doc, "schema", json_string("archkit.probe/v1"));
	json_object_set_new(doc, "image", json_string(ref));
	json_object_set_new(doc, "kind", json_string(r->kind));
	json_object_set_new(doc, "fail_on", json_string(ak_severity_name(fail_on)));
	json_object_set_new(doc, "skipped_attestations",
			    json_integer((json_int_t)r->skipped_attestations));
	json_t *notes = json_array();
	for (size_t i = 0; i < r->nnotes; i++)
		json_array_append_new(notes, json_string(r->notes[i]));
	json_object_set_new(doc, "notes", notes);
	bool ok = true;
	json_t *vs = json_array();
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		json_t *o = json_object();
		json_object_set_new(o, "platform", json_string(v->name));
		json_object_set_new(o, "index_platform", str_or_null(v->index_platform));
		json_object_set_new(o, "config_platform", str_or_null(v->config_platform));
		json_object_set_new(o, "folder_platform", str_or_null(v->folder_platform));
		json_object_set_new(o, "manifest", str_or_null(v->manifest_digest));
		json_object_set_new(o, "ref_name", str_or_null(v->ref_name));
		json_object_set_new(o, "layers", json_integer((json_int_t)v->nlayers));
		json_object_set_new(o, "files", json_integer((json_int_t)v->files));
		json_object_set_new(o, "elf_files", json_integer((json_int_t)v->elf_files));
		json_t *c = json_object();
		json_object_set_new(c, "error", json_integer((json_int_t)v->count[AK_SEV_ERROR]));
		json_object_set_new(c, "warning",
				    json_integer((json_int_t)v->count[AK_SEV_WARNING]));
		json_object_set_new(c, "info", json_integer((json_int_t)v->count[AK_SEV_INFO]));
		json_object_set_new(o, "counts", c);
		const char *vd = verdict(v, fail_on);
		ok &= strcmp(vd, "pass") == 0;
		json_object_set_new(o, "verdict", json_string(vd));
		json_t *fs = json_array();
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			json_t *jf = json_object();
			json_object_set_new(jf, "severity",
					    json_string(ak_severity_name(f->f.sev)));
			json_object_set_new(jf, "code", json_string(f->f.code));
			json_object_set_new(jf, "path", str_or_null(f->path));
			json_object_set_new(jf, "layer", str_or_null(f->layer));
			json_object_set_new(jf, "found", str_or_null(f->f.found));
			json_object_set_new(jf, "expected", str_or_null(f->f.expected));
			json_array_append_new(fs, jf);
		}
		json_object_set_new(o, "findings", fs);
		json_t *rm = json_array();
		for (size_t k = 0; k < v->nremoved; k++)
			json_array_append_new(rm, json_string(v->removed[k]));
		json_object_set_new(o, "removed", rm);
		json_array_append_new(vs, o);
	}
	json_object_set_new(doc, "variants", vs);
	json_object_set_new(doc, "ok", json_boolean(ok));
	return doc;
}

static void xml_escaped(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			/* control characters are not allowed in XML 1.0 */
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				fputc('?', f);
			else
				fputc(*s, f);
		}
	}
}

static void print_junit(const char *ref, const struct ak_probe_report *r, int fail_on)
{
	size_t failures = 0;
	for (size_t i = 0; i < r->n; i++)
		failures += strcmp(verdict(&r->variants[i], fail_on), "fail") == 0;
	printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	printf("<testsuites name=\"archkit probe\" tests=\"%zu\" failures=\"%zu\">\n", r->n,
	       failures);
	printf("  <testsuite name=\"");
	xml_escaped(stdout, ref);
	printf("\" tests=\"%zu\" failures=\"%zu\">\n", r->n, failures);
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		printf("    <testcase classname=\"archkit.probe\" name=\"");
		xml_escaped(stdout, v->name);
		printf("\">\n");
		bool fail = strcmp(verdict(v, fail_on), "fail") == 0;
		if (fail)
			printf("      <failure message=\"%zu error(s), %zu warning(s)\">",
			       v->count[AK_SEV_ERROR], v->count[AK_SEV_WARNING]);
		else if (v->nfindings)
			printf("      <system-out>");
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			printf("%s %s %s: found ", ak_severity_name(f->f.sev), f->f.code,
			       f->path ? f->path : "(image)");
			xml_escaped(stdout, f->f.found);
			printf("; expected ");
			xml_escaped(stdout, f->f.expected);
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

/* GitHub workflow commands: data must escape %, CR and LF; properties also : and , */
static void gh_escaped(const char *s, bool property)
{
	for (; s && *s; s++) {
		if (*s == '%')
			fputs("%25", stdout);
		else if (*s == '\r')
			fputs("%0D", stdout);
		else if (*s == '\n')
			fputs("%0A", stdout);
		else if (property && *s == ':')
			fputs("%3A", stdout);
		else if (property && *s == ',')
			fputs("%2C", stdout);
		else
			fputc(*s, stdout);
	}
}

static void print_github(const struct ak_probe_report *r)
{
	static const char *cmd[] = {"notice", "warning", "error"};
	for (size_t i = 0; i < r->n; i++) {
		const struct ak_probe_variant *v = &r->variants[i];
		for (size_t k = 0; k < v->nfindings; k++) {
			const struct ak_probe_finding *f = &v->findings[k];
			printf("::%s title=", cmd[f->f.sev]);
			char title[256];
			snprintf(title, sizeof(title), "archkit probe %s: %s", v->name, f->f.code);
			gh_escaped(title, true);
			printf("::");
			gh_escaped(f->path ? f->path : "(image)", false);
			printf(": found ");
			gh_escaped(f->f.found, false);
			printf(", expected ");
			gh_escaped(f->f.expected, false);
			printf("\n");
		}
	}
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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct ak_platform *filter[64];
	const char *ignore[64];
	struct ak_probe_options opt = {.filter = filter, .ignore = ignore};
	enum format format = FMT_TEXT;
	int fail_on = AK_SEV_ERROR;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		struct ak_error *err = NULL;
		char *end;
		switch (c) {
		case 'h':
			fputs(probe_help, stdout);
			return 0;
		case 'p': {
			const struct ak_platform *p = ak_platform_parse(optarg, &err);
			if (!p) {
				int r = cli_usage("probe", "%s", err->msg);
				ak_error_free(err);
				return r;
			}
			if (opt.nfilter < 64)
				filter[opt.nfilter++] = p;
			break;
		}
		case 'i':
			if (opt.nignore < 64)
				ignore[opt.nignore++] = optarg;
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
		case 'F':
			if (!strcmp(optarg, "text"))
				format = FMT_TEXT;
			else if (!strcmp(optarg, "json"))
				format = FMT_JSON;
			else if (!strcmp(optarg, "junit"))
				format = FMT_JUNIT;
			else if (!strcmp(optarg, "github"))
				format = FMT_GITHUB;
			else
				return cli_usage(
					"probe",
					"unknown --format '%s' (text, json, junit, github)",
					optarg);
			break;
		case 'j': {
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 64)
				return cli_usage("probe", "invalid --jobs '%s' (1 to 64)", optarg);
			opt.jobs = (int)v;
			break;
		}
		case 'm':
			if (parse_size(optarg, &opt.max_layer_bytes) < 0)
				return cli_usage("probe", "invalid --max-layer-bytes '%s'", optarg);
			break;
		case 'v':
			opt.verbose = true;
			break;
		default:
			return cli_usage("probe", "invalid option");
		}
	}
	if (optind != argc - 1)
		return cli_usage("probe",
				 optind >= argc ? "no image given" : "one image at a time");
	const char *ref = argv[optind];
	struct ak_probe_report r;
	struct ak_error *err = NULL;
	if (ak_probe_run(ref, &opt, &r, &err) < 0)
		return cli_fail(err);
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
	int worst = ak_probe_worst(&r);
	ak_probe_report_free(&r);
	return worst >= fail_on ? AK_EXIT_FAIL : 0;
}
