/* archkit sandbox: a command with private QEMU handlers, in a user + mount namespace. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binfmt/instance.h"
#include "binfmt/registrar.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "verify/verify.h"

static const char sandbox_help[] =
	"Usage: archkit sandbox [OPTIONS] -- COMMAND [ARGS...]\n"
	"\n"
	"Run COMMAND in a new user + mount namespace with its own binfmt_misc (Linux 6.7+),\n"
	"where QEMU handlers are registered for the requested platforms. No root needed, and\n"
	"nothing on the host changes: the host's handlers and mounts stay as they are.\n"
	"Inside, COMMAND runs as root of the namespace (your own user outside), and\n"
	"/proc/sys/fs/binfmt_misc is the private instance, so 'archkit binfmt' works there.\n"
	"A COMMAND that stops itself (SIGSTOP, SIGTSTP) is continued, with a note on stderr:\n"
	"nothing else would continue it, and a stopped command would hang CI. Ctrl-Z still\n"
	"suspends the whole sandbox, and a stop for terminal input or output (SIGTTIN,\n"
	"SIGTTOU) suspends archkit with it, for the shell's job control.\n"
	"\n"
	"Options:\n"
	"  --platform P       register a handler for P (repeatable or comma-separated;\n"
	"                     default: every platform whose interpreter is found);\n"
	"                     'none' registers nothing\n"
	"  --qemu-path DIR    take interpreters from DIR\n"
	"  --flags FLAGS      handler flags (default F)\n"
	"  -v, --verbose      say what was registered\n"
	"  -h, --help         this help\n"
	"\n"
	"Exit status: COMMAND's own, or 128+N when a signal N killed it; 2 when the sandbox\n"
	"cannot be made (the message names the kernel or policy that forbids it) or a\n"
	"requested handler cannot be registered; 64 usage error; 126/127 COMMAND cannot run.\n"
	"\nSee archkit-sandbox(1).\n";

static void note_continued(const char *argv0, int sig, void *ctx)
{
	(void)ctx;
	const char *name = sigabbrev_np(sig);
	if (name)
		fprintf(stderr, "archkit: sandbox: '%s' stopped (SIG%s); continuing it\n", argv0,
			name);
	else
		fprintf(stderr, "archkit: sandbox: '%s' stopped (signal %d); continuing it\n",
			argv0, sig);
}

int cmd_sandbox(int argc, char **argv)
{
	static const struct option opts[] = {
		{"platform", required_argument, NULL, 'p'},
		{"qemu-path", required_argument, NULL, 'q'},
		{"flags", required_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_targets targets = {0};
	const char *qemu_path = NULL;
	char flags[8] = "F";
	bool verbose = false, none = false, explicit = false;
	int c;
	optind = 1;
	/* '+': stop at the first non-option, COMMAND's own options are its own */
	while ((c = getopt_long(argc, argv, "+hv", opts, NULL)) != -1) {
		struct ak_error *err = NULL;
		switch (c) {
		case 'h':
			fputs(sandbox_help, stdout);
			return 0;
		case 'p':
			if (!strcmp(optarg, "none")) {
				none = true;
				break;
			}
			explicit = true;
			if (cli_targets_add(&targets, optarg, &err) < 0) {
				int r = cli_usage("sandbox", "%s", err->msg);
				ak_error_free(err);
				return r;
			}
			break;
		case 'q':
			qemu_path = optarg;
			break;
		case 'f':
			if (ak_binfmt_flags_check(optarg, flags, &err) < 0) {
				int r = cli_usage("sandbox", "%s", err->msg);
				ak_error_free(err);
				return r;
			}
			break;
		case 'v':
			verbose = true;
			break;
		default:
			return cli_usage("sandbox", "invalid option");
		}
	}
	if (optind >= argc)
		return cli_usage("sandbox",
				 "no command given (archkit sandbox [OPTIONS] -- COMMAND)");
	if (!explicit && !none)
		cli_targets_add_all(&targets);

	struct ak_error *err = NULL;
	if (ak_sandbox_enter(NULL, &err) < 0)
		return cli_fail(err);
	if (!none) {
		struct ak_binfmt_instance inst;
		struct ak_binfmt_table table = {0};
		if (ak_binfmt_open(AK_BINFMT_DEFAULT_DIR, false, &inst, &err) < 0 ||
		    ak_binfmt_table_read(inst.dirfd, &table, &err) < 0) {
			ak_binfmt_close(&inst);
			return cli_fail(err);
		}
		const struct ak_qemu_target *ts[64];
		for (size_t i = 0; i < targets.count; i++)
			ts[i] = targets.items[i].target;
		struct ak_native_probe np;
		ak_native_probe_init(&np, &table);
		struct ak_binfmt_options opt = {.qemu_path = qemu_path,
						.flags = flags,
						.replace = AK_REPLACE_DRIFTED,
						.is_native = ak_native_target,
						.native_ctx = &np};
		struct ak_binfmt_plan plan = {0};
		int r = 0;
		if (ak_binfmt_plan_build(&table, ts, targets.count, &opt, &plan, &err) < 0 ||
		    ak_binfmt_plan_apply(&inst, &plan, &err) < 0)
			r = cli_fail(err);
		for (size_t i = 0; !r && i < plan.count; i++) {
			struct ak_handler *h = &plan.handlers[i];
			if (h->error && explicit) {
				r = cli_failf(AK_EXIT_ENV, "qemu-%s: %s", h->target->name,
					      h->error->msg);
			} else if (h->error && verbose) {
				cli_warn("qemu-%s: %s", h->target->name, h->error->msg);
			} else if (verbose) {
				fprintf(stderr, "archkit: sandbox: qemu-%s %s\n", h->target->name,
					h->written ? "registered"
						   : ak_handler_state_name(h->state));
			}
		}
		ak_binfmt_plan_clear(&plan);
		ak_binfmt_table_clear(&table);
		ak_binfmt_close(&inst);
		if (r)
			return r;
	}
	struct ak_sandbox_hooks hooks = {.continued = note_continued};
	int status = ak_sandbox_run(argv + optind, &hooks, &err);
	if (status < 0) {
		int s = err && err->status ? err->status : 127;
		cli_fail(err);
		return s;
	}
	return status;
}
