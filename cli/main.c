/* archkit: the command table (as crun's main does); each command lives in cmd-*.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef AK_VERSION
#define AK_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"binfmt", cmd_binfmt, "install, remove and show QEMU handlers in binfmt_misc"},
	{"probe", cmd_probe,
	 "check that each platform variant of an image targets its architecture"},
	{"verify", cmd_verify, "run a smoke binary for each platform under emulation"},
	{"sandbox", cmd_sandbox, "run a command with private QEMU handlers, no root needed"},
	{"doctor", cmd_doctor, "check that emulation on this runner is healthy, with fixes"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: archkit COMMAND [OPTIONS]\n\n"
		   "Make multi-platform container builds trustworthy.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'archkit COMMAND --help' for a command's options.\n"
		   "Exit status: 0 all good, 1 a check failed, 2 bad input or environment,\n"
		   "64 usage error.\n\nSee archkit(1).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("archkit %s\n", AK_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "archkit: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 64;
}
