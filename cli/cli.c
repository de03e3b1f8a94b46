#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/escape.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "verify/smoke-run.h"

int cli_fail(struct ak_error *err)
{
	int status = err ? err->status : AK_EXIT_ENV;
	fprintf(stderr, "archkit: %s\n", err && err->msg ? err->msg : "unknown error");
	ak_error_free(err);
	return status ? status : AK_EXIT_ENV;
}

int cli_failf(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("archkit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("archkit: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("archkit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'archkit %s --help'.\n", cmd);
	va_end(ap);
	return AK_EXIT_USAGE;
}

int cli_choice(const char *cmd, const char *opt, const char *arg, const char *const *names,
	       int *out)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(arg, names[i])) {
			*out = i;
			return 0;
		}
	char list[256];
	size_t n = 0;
	for (int i = 0; names[i] && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
	return cli_usage(cmd, "unknown --%s '%s' (%s)", opt, arg, list);
}

int cli_registry_option(const char *cmd, int c, const char *arg, struct ak_registry_options *o)
{
	switch (c) {
	case CLI_OPT_CREDS:
		/* the value is a secret: the message never quotes it */
		if (!strchr(arg, ':') || arg[0] == ':')
			return cli_usage(cmd, "--creds takes USER:PASS");
		o->creds = arg;
		return 1;
	case CLI_OPT_CREDS_FILE:
		o->creds_file = arg;
		return 1;
	case CLI_OPT_CREDS_ENV:
		if (!*arg || strchr(arg, '='))
			return cli_usage(cmd, "--creds-env takes the name of a variable");
		o->creds_env = arg;
		return 1;
	case CLI_OPT_TLS_VERIFY:
		if (!arg || !strcmp(arg, "true"))
			o->tls_verify = true;
		else if (!strcmp(arg, "false"))
			o->tls_verify = false;
		else
			return cli_usage(cmd, "invalid --tls-verify '%s' (true or false)", arg);
		return 1;
	default:
		return cli_usage(cmd, "invalid option");
	}
}

void cli_json_print(json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(doc);
}

json_t *cli_json_string(const char *s)
{
	if (!s)
		return json_null();
	if (ak_utf8_valid(s))
		return json_string(s);
	char *e = ak_escape_dup(s, AK_ESCAPE_UTF8);
	json_t *j = json_string(e);
	free(e);
	return j;
}

void cli_json_set_string(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, cli_json_string(s));
	if (!s || ak_utf8_valid(s))
		return;
	char *b64 = ak_base64(s, strlen(s));
	char *k = ak_xasprintf("%s_base64", key);
	if (b64)
		json_object_set_new(o, k, json_string(b64));
	free(k);
	free(b64);
}

void cli_put_text(FILE *f, const char *s)
{
	if (s)
		ak_escape_fputs(s, AK_ESCAPE_TEXT, f);
}

void cli_oom(void)
{
	fputs("archkit: out of memory\n", stderr);
	exit(AK_EXIT_ENV);
}

char *cli_text(const char *s)
{
	return ak_escape_dup(s ? s : "", AK_ESCAPE_TEXT);
}

/* @actions/core's escapeData and escapeProperty. The text escaping comes first, so a
 * name's control characters show as \x1b in the annotation too. */
void cli_github_put(FILE *f, const char *s, bool property)
{
	cleanup_free char *e = cli_text(s);
	for (const char *p = e; *p; p++) {
		if (*p == '%')
			fputs("%25", f);
		else if (*p == '\r')
			fputs("%0D", f);
		else if (*p == '\n')
			fputs("%0A", f);
		else if (property && *p == ':')
			fputs("%3A", f);
		else if (property && *p == ',')
			fputs("%2C", f);
		else
			fputc(*p, f);
	}
}

void cli_github_output(const char *key, const char *value)
{
	const char *path = getenv("GITHUB_OUTPUT");
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "a");
	if (!f) {
		cli_warn("cannot append to $GITHUB_OUTPUT '%s'", path);
		return;
	}
	fprintf(f, "%s=%s\n", key, value);
	fclose(f);
}

static struct cli_target *target_slot(struct cli_targets *ts, const struct ak_qemu_target *t)
{
	for (size_t i = 0; i < ts->count; i++)
		if (ts->items[i].target == t)
			return &ts->items[i];
	if (ts->count >= sizeof(ts->items) / sizeof(ts->items[0]))
		return NULL;
	struct cli_target *ct = &ts->items[ts->count++];
	memset(ct, 0, sizeof(*ct));
	ct->target = t;
	return ct;
}

static void add_platform(struct cli_target *ct, const struct ak_platform *p)
{
	for (size_t i = 0; i < ct->nplatforms; i++)
		if (ct->platforms[i] == p)
			return;
	if (ct->nplatforms < sizeof(ct->platforms) / sizeof(ct->platforms[0]))
		ct->platforms[ct->nplatforms++] = p;
}

void cli_targets_add_all(struct cli_targets *ts)
{
	for (size_t i = 0; i < ak_platform_count; i++) {
		const struct ak_platform *p = &ak_platforms[i];
		const struct ak_qemu_target *t = ak_platform_qemu(p);
		size_t len;
		/* one platform per target: the baseline one (amd64, arm/v7, ...) */
		if (!ak_smoke_binary_for_target(t, &len) || !ak_smoke_binary(p, &len))
			continue;
		struct cli_target *ct = target_slot(ts, t);
		if (ct && ct->nplatforms == 0)
			add_platform(ct, p);
	}
}

static int target_add(struct cli_targets *ts, const char *arg, struct ak_error **err)
{
	if (strcmp(arg, "all") == 0) {
		cli_targets_add_all(ts);
		return 0;
	}
	struct ak_error *perr = NULL;
	const struct ak_platform *p = ak_platform_parse(arg, &perr);
	if (p) {
		struct cli_target *ct = target_slot(ts, ak_platform_qemu(p));
		if (ct)
			add_platform(ct, p);
		return 0;
	}
	const char *name = ak_str_has_prefix(arg, "qemu-") ? arg + 5 : arg;
	const struct ak_qemu_target *t = ak_qemu_target_find(name);
	if (t) {
		ak_error_free(perr);
		struct cli_target *ct = target_slot(ts, t);
		if (!ct)
			return ak_error_set(err, AK_EXIT_USAGE, "too many targets");
		for (size_t i = 0; i < ak_platform_count; i++)
			if (strcmp(ak_platforms[i].qemu, t->name) == 0) {
				add_platform(ct, &ak_platforms[i]);
				break;
			}
		return 0;
	}
	ak_error_free(perr);
	return ak_error_set(err, AK_EXIT_USAGE,
			    "unknown platform '%s' (known: %s, all, or a QEMU target such as "
			    "'sparc64')",
			    arg, ak_platform_known_list());
}

/* The items of a comma-separated list, empty ones skipped: a copy of arg cut in place,
 * with items[] pointing into it (free *copy); < 0 when there are more than max. */
static long list_items(const char *arg, char **copy, char **items, size_t max)
{
	*copy = ak_xstrdup(arg);
	char *save = NULL;
	size_t n = 0;
	for (char *t = strtok_r(*copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == max)
			return -1;
		items[n++] = t;
	}
	return (long)n;
}

int cli_targets_add(struct cli_targets *ts, const char *arg, struct ak_error **err)
{
	cleanup_free char *copy = NULL;
	char *items[64];
	long n = list_items(arg, &copy, items, 64);
	if (n < 0)
		return ak_error_set(err, AK_EXIT_USAGE, "too many platforms in '%s'", arg);
	if (n == 0)
		return ak_error_set(err, AK_EXIT_USAGE,
				    "no platform in '%s' (one, such as linux/arm64, or a "
				    "comma-separated list)",
				    arg);
	for (long i = 0; i < n; i++)
		if (target_add(ts, items[i], err) < 0)
			return -1;
	return 0;
}

int cli_platforms_add(const char *cmd, const char *arg, bool *all,
		      const struct ak_platform ***ps, size_t *n)
{
	cleanup_free char *copy = NULL;
	char *items[64];
	long k = list_items(arg, &copy, items, 64);
	if (k < 0)
		return cli_usage(cmd, "too many platforms in '%s'", arg);
	if (k == 0)
		return cli_usage(cmd,
				 "--platform takes a platform, such as linux/arm64, or a "
				 "comma-separated list");
	for (long i = 0; i < k; i++) {
		if (all && strcmp(items[i], "all") == 0) {
			*all = true;
			continue;
		}
		struct ak_error *err = NULL;
		const struct ak_platform *p = ak_platform_parse(items[i], &err);
		if (!p) {
			int r = cli_usage(cmd, "%s", err->msg);
			ak_error_free(err);
			return r;
		}
		bool seen = false;
		for (size_t j = 0; j < *n; j++)
			seen |= (*ps)[j] == p;
		if (seen)
			continue;
		ak_grow_one(ps, *n, sizeof(**ps));
		(*ps)[(*n)++] = p;
	}
	return 0;
}

/* A decimal number at s, digits only (no sign, no blanks, no silent wrap); *end is set
 * past it. -EINVAL without digits, -ERANGE when it does not fit in 64 bits. */
int cli_parse_u64(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (p == s)
		return -EINVAL;
	*out = v;
	*end = p;
	return 0;
}

/* N with an optional K, M or G suffix (powers of 1024), more than 0 and at most 2^64-1. */
int cli_parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mul = 1;
	const char *p;
	int r = cli_parse_u64(s, &v, &p);
	if (r < 0)
		return r;
	switch (*p) {
	case 'K':
	case 'k':
		mul = 1ULL << 10;
		p++;
		break;
	case 'M':
	case 'm':
		mul = 1ULL << 20;
		p++;
		break;
	case 'G':
	case 'g':
		mul = 1ULL << 30;
		p++;
		break;
	}
	if (*p || v == 0)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int cli_fail_text(struct ak_error *err)
{
	int status = err && err->status ? err->status : AK_EXIT_ENV;
	fputs("archkit: ", stderr);
	cli_put_text(stderr, err && err->msg ? err->msg : "unknown error");
	fputc('\n', stderr);
	ak_error_free(err);
	return status;
}
