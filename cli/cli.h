/* What the cmd-*.c front ends share: printing errors, platform/target arguments, JSON. */
#ifndef AK_CLI_H
#define AK_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/platform.h"
#include "image/registry.h"

/* Print "archkit: MSG" to stderr and return the error's exit status. */
int cli_fail(struct ak_error *err);
/* cli_fail for errors that may quote a name from an image: printed escaped, on one line. */
int cli_fail_text(struct ak_error *err);
/* A decimal number at s, digits only (no sign, no blanks, no silent wrap); *end is set
 * past it. -EINVAL without digits, -ERANGE when it does not fit in 64 bits. */
int cli_parse_u64(const char *s, uint64_t *out, const char **end);
/* N with an optional K, M or G suffix (powers of 1024), more than 0 and at most 2^64-1;
 * -EINVAL or -ERANGE. */
int cli_parse_size(const char *s, uint64_t *out);
/* Print "archkit: FMT" to stderr and return status. */
int cli_failf(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "archkit: warning: FMT" to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: message, a hint to --help, exit 64. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set *out to the index of arg in names (NULL-terminated) and return 0; else a usage
 * error "unknown --OPT 'ARG' (a, b, c)" (64). */
int cli_choice(const char *cmd, const char *opt, const char *arg, const char *const *names,
	       int *out);
/* Print a JSON document to stdout (sorted keys, indented) and free it. */
void cli_json_print(json_t *doc);
/* A JSON string for s, which may come from an image: s itself when it is UTF-8, else
 * its AK_ESCAPE_UTF8 form (jansson refuses what is not UTF-8); null when s is NULL. */
json_t *cli_json_string(const char *s);
/* Set o's key to cli_json_string(s); when s is not UTF-8, also set "KEY_base64" to
 * its exact bytes, so that nothing is lost and the key is never dropped. */
void cli_json_set_string(json_t *o, const char *key, const char *s);
/* Write s to f with AK_ESCAPE_TEXT: what came from an image cannot forge output. */
void cli_put_text(FILE *f, const char *s);
/* Print "archkit: out of memory" and exit 2: for a renderer that cannot go on (the
 * ak_x* allocators of common/xalloc.h do this themselves, and are preferred). */
_Noreturn void cli_oom(void);
/* The AK_ESCAPE_TEXT form of s, never NULL (exits 2 when memory runs out). */
char *cli_text(const char *s);
/* Write s (escaped as cli_text does) into a GitHub workflow command: '%', CR and LF as
 * %25, %0D, %0A; in a property value (title=) also ':' and ','. A line break of the
 * message itself is written as "%0A" by the caller. */
void cli_github_put(FILE *f, const char *s, bool property);
/* Append "key=value" to the file named by $GITHUB_OUTPUT, when it is set. */
void cli_github_output(const char *key, const char *value);

/* A requested QEMU target and the OCI platforms the user asked for through it. */
struct cli_target {
	const struct ak_qemu_target *target;
	const struct ak_platform *platforms[16];
	size_t nplatforms;
};
struct cli_targets {
	struct cli_target items[64];
	size_t count;
};
/* Add an argument: "all", an OCI platform or alias, or a QEMU target name
 * ("sparc64", "qemu-sparc64"), or a comma-separated list of them. Usage error (64) when
 * one is unknown or the list is empty. */
int cli_targets_add(struct cli_targets *ts, const char *arg, struct ak_error **err);
/* The platforms of one --platform argument: a platform or alias, or a comma-separated
 * list of them as docker buildx takes (linux/amd64,linux/arm64). "all" sets *all, where
 * all is not NULL (else it is unknown). Each is appended to *ps (n of them, grown as
 * needed) unless it is there already. 0, or a usage error of cmd printed. */
int cli_platforms_add(const char *cmd, const char *arg, bool *all,
		      const struct ak_platform ***ps, size_t *n);
/* Add every OCI platform's target for which archkit has a smoke binary. */
void cli_targets_add_all(struct cli_targets *ts);

/* The registry flags of probe and verify IMAGE: getopt entries (option values from
 * CLI_OPT_CREDS up), their help lines, and their parsing. */
enum {
	CLI_OPT_CREDS = 0x1000,
	CLI_OPT_CREDS_FILE,
	CLI_OPT_CREDS_ENV,
	CLI_OPT_TLS_VERIFY,
};
/* clang-format off */
#define CLI_REGISTRY_OPTIONS                                                                \
	{"creds", required_argument, NULL, CLI_OPT_CREDS},                                  \
	{"creds-file", required_argument, NULL, CLI_OPT_CREDS_FILE},                        \
	{"creds-env", required_argument, NULL, CLI_OPT_CREDS_ENV},                          \
	{"tls-verify", optional_argument, NULL, CLI_OPT_TLS_VERIFY}
#define CLI_REGISTRY_HELP                                                                   \
	"  --creds USER:PASS     registry credentials (others can see them in ps: prefer\n" \
	"                        --creds-env or a file); never printed\n"                   \
	"  --creds-file FILE     read them from FILE (an auth.json, docker's config.json)\n" \
	"  --creds-env VAR       $VAR holds PASS (user 'archkit') or USER:PASS, such as\n"  \
	"                        GITHUB_TOKEN\n"                                            \
	"  --tls-verify[=BOOL]   check registry certificates (default true); false also\n"  \
	"                        allows a plain http:// registry\n"
/* clang-format on */
/* Store registry option c (with its argument) in o and return 1; for a bad value, or a c
 * that is no option at all (getopt's '?'), print a usage error and return
 * AK_EXIT_USAGE. */
int cli_registry_option(const char *cmd, int c, const char *arg, struct ak_registry_options *o);

/* Subcommands. */
int cmd_binfmt(int argc, char **argv);
int cmd_sandbox(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
