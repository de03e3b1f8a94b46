/* archkit verify: does code for each platform really run here? */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfmt/instance.h"
#include "cli/cli.h"
#include "verify/verify.h"

static const char verify_help[] =
	"Usage: archkit verify [OPTIONS]\n"
	"\n"
	"Run archkit's built-in smoke binary for each platform through the kernel (a real\n"
	"execve, as a container's process would be started) and check that it ran, exited 0\n"
	"and reported a machine of that platform from uname. Each platform is: native,\n"
	"emulated by a named binfmt_misc entry, failed (why), or has no handler.\n"
	"\n"
	"Options:\n"
	"  --platform P       check P (repeatable; default: one platform per architecture:\n"
	"                     amd64, 386, arm64, arm/v7, ppc64le, ppc64, s390x, riscv64,\n"
	"                     mips64le, mips64, loong64)\n"
	"  --timeout SECONDS  per smoke run (default 10)\n"
	"  --mount-dir DIR    the binfmt_misc instance to name handlers from\n"
	"  --json             machine-readable output\n"
	"  -h, --help         this help\n"
	"\n"
	"Exit status: 0 every requested platform ran; 1 some did not; 2 environment; 64 usage.\n"
	"\nSee archkit(1).\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, 'p'},
		{"timeout", required_argument, NULL, 't'},
		{"mount-dir", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const struct ak_platform *plats[64];
	size_t np = 0;
	int timeout_ms = 10000;
	const char *mount_dir = AK_BINFMT_DEFAULT_DIR;
	bool json = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		struct ak_error *err = NULL;
		char *end;
		switch (c) {
		case 'h':
			fputs(verify_help, stdout);
			return 0;
		case 'p': {
			const struct ak_platform *p = ak_platform_parse(optarg, &err);
			if (!p) {
				int r = cli_usage("verify", "%s", err->msg);
				ak_error_free(err);
				return r;
			}
			if (np < 64)
				plats[np++] = p;
			break;
		}
		case 't': {
			long v = strtol(optarg, &end, 10);
			if (*end || v <= 0 || v > 3600)
				return cli_usage("verify",
						 "invalid --timeout '%s' (1 to 3600 seconds)",
						 optarg);
			timeout_ms = (int)v * 1000;
			break;
		}
		case 'm':
			mount_dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		default:
			return cli_usage("verify", "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage("verify", "unexpected argument '%s'", argv[optind]);
	if (np == 0) {
		struct cli_targets ts = {0};
		cli_targets_add_all(&ts);
		for (size_t i = 0; i < ts.count; i++)
			plats[np++] = ts.items[i].platforms[0];
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

	bool all_ok = true;
	int status = 0;
	json_t *jr = json_array();
	if (!json)
		printf("%-16s %-8s %-30s %s\n", "PLATFORM", "RESULT", "HOW", "DETAIL");
	for (size_t i = 0; i < np; i++) {
		struct ak_verify_result r;
		if (ak_verify_platform(plats[i], have_table ? &table : NULL, timeout_ms, &r, &err) <
		    0) {
			status = cli_fail(err);
			err = NULL;
			all_ok = false;
			continue;
		}
		bool ok = ak_verify_ok(&r);
		all_ok &= ok;
		if (!json) {
			char how[128];
			snprintf(how, sizeof(how), "%s%s%s", ak_verify_outcome_name(r.outcome),
				 r.entry[0] ? " by " : "", r.entry);
			printf("%-16s %-8s %-30s %s%s\n", r.platform->name, ok ? "ok" : "FAILED",
			       how, ok ? "uname: " : "", ok ? r.smoke.machine : r.why);
		}
		json_t *o = json_object();
		json_object_set_new(o, "platform", json_string(r.platform->name));
		json_object_set_new(o, "ok", json_boolean(ok));
		json_object_set_new(o, "outcome", json_string(ak_verify_outcome_name(r.outcome)));
		json_object_set_new(o, "entry", r.entry[0] ? json_string(r.entry) : json_null());
		json_object_set_new(o, "machine",
				    r.smoke.ran ? json_string(r.smoke.machine) : json_null());
		json_object_set_new(o, "exit_code",
				    r.smoke.ran && !r.smoke.signal ? json_integer(r.smoke.exit_code)
								   : json_null());
		json_object_set_new(o, "signal",
				    r.smoke.signal ? json_integer(r.smoke.signal) : json_null());
		json_object_set_new(o, "why", r.why[0] ? json_string(r.why) : json_null());
		json_array_append_new(jr, o);
	}
	if (json) {
		json_t *doc = json_object();
		json_object_set_new(doc, "results", jr);
		json_object_set_new(doc, "ok", json_boolean(all_ok));
		cli_json_print(doc);
	} else {
		json_decref(jr);
	}
	ak_binfmt_table_clear(&table);
	if (status)
		return status;
	return all_ok ? 0 : 1;
}
