/* Parsing docker's output for doctor/docker.c (see docker-parse.h). */
#include "doctor/docker-parse.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"

/* jansson ships json_decrefp for json_auto_t */
#define cleanup_json __attribute__((cleanup(json_decrefp)))

static bool has_string(json_t *arr, const char *prefix_eq)
{
	size_t i, n = strlen(prefix_eq);
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);
		/* "name=rootless" alone or with options after a comma */
		if (s && !strncmp(s, prefix_eq, n) && (s[n] == '\0' || s[n] == ','))
			return true;
	}
	return false;
}

/* DriverStatus is a list of [key, value] pairs. */
static const char *driver_status(json_t *info, const char *key)
{
	size_t i;
	json_t *pair;
	json_array_foreach(json_object_get(info, "DriverStatus"), i, pair)
	{
		const char *k = json_string_value(json_array_get(pair, 0));
		if (k && !strcmp(k, key))
			return json_string_value(json_array_get(pair, 1));
	}
	return NULL;
}

bool ak_docker_info_parse(const char *text, size_t len, struct ak_docker_info *info)
{
	memset(info, 0, sizeof(*info));
	cleanup_json json_t *j = json_loadb(text, len, 0, NULL);
	if (!json_is_object(j))
		return false;
	const char *version = json_string_value(json_object_get(j, "ServerVersion"));
	if (version && *version)
		info->version = ak_xstrdup(version);
	json_t *errors = json_object_get(j, "ServerErrors");
	info->has_errors = json_array_size(errors) > 0;
	const char *first = json_string_value(json_array_get(errors, 0));
	if (first)
		info->server_error = ak_xstrdup(first);
	const char *driver = json_string_value(json_object_get(j, "Driver"));
	if (driver && *driver)
		info->driver = ak_xstrdup(driver);
	info->rootless = has_string(json_object_get(j, "SecurityOptions"), "name=rootless");
	const char *type = driver_status(j, "driver-type");
	info->containerd = type && !strcmp(type, AK_DOCKER_CONTAINERD_SNAPSHOTTER);
	return true;
}

void ak_docker_info_clear(struct ak_docker_info *info)
{
	free(info->version);
	free(info->server_error);
	free(info->driver);
	memset(info, 0, sizeof(*info));
}

void ak_docker_builder_clear(struct ak_docker_builder *b)
{
	free(b->name);
	free(b->driver);
	free(b->error);
	free(b->platforms);
	memset(b, 0, sizeof(*b));
}

static bool builder_name_ok(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* `docker buildx ls`: builder rows start in the first column, node rows are indented
 * (" \_ node" since buildx 0.13, "  node" before); the current builder is marked "name*"
 * (0.13+) or "name *". */
size_t ak_docker_parse_ls(char *text, struct ak_docker_builder *out, size_t max)
{
	size_t n = 0;
	bool header = true;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (header) {
			header = false;
			if (ak_str_has_prefix(line, "NAME/NODE"))
				continue;
		}
		if (isspace((unsigned char)line[0]) || n >= max)
			continue;
		size_t len = strcspn(line, " \t");
		bool current = len && line[len - 1] == '*';
		if (current)
			len--;
		const char *rest = line + len + current;
		rest += strspn(rest, " \t");
		if (*rest == '*' && (rest[1] == ' ' || rest[1] == '\t' || !rest[1]))
			current = true;
		cleanup_free char *name = ak_xstrndup(line, len);
		if (!builder_name_ok(name))
			continue;
		out[n++] = (struct ak_docker_builder){.name = steal_pointer(&name),
						      .current = current};
	}
	return n;
}

static void add_platform_name(struct ak_docker_builder *b, const char *s, size_t len)
{
	cleanup_free char *name = ak_xstrndup(s, len);
	size_t l = strlen(name);
	while (l && (name[l - 1] == '*' || isspace((unsigned char)name[l - 1])))
		name[--l] = '\0';
	if (!l)
		return;
	const struct ak_platform *p = ak_platform_parse(name, NULL);
	if (!p) {
		b->unknown++;
		return;
	}
	for (size_t i = 0; i < b->nplatforms; i++)
		if (b->platforms[i] == p)
			return;
	ak_grow_one(&b->platforms, b->nplatforms, sizeof(*b->platforms));
	b->platforms[b->nplatforms++] = p;
}

/* `docker buildx inspect NAME`: "Key: value" lines (tab-aligned), the builder's first,
 * then after "Nodes:" one block per node; indented lines are labels and the like. */
void ak_docker_parse_inspect(char *text, struct ak_docker_builder *b)
{
	bool nodes = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (isspace((unsigned char)line[0]))
			continue;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *key = line, *val = colon + 1;
		val += strspn(val, " \t");
		if (!strcmp(key, "Nodes") && !*val) {
			nodes = true;
		} else if (!strcmp(key, "Driver") && !nodes) {
			free(b->driver);
			b->driver = ak_xstrdup(val);
		} else if (!strcmp(key, "Error")) {
			if (!b->error)
				b->error = ak_xstrdup(val);
		} else if (nodes && !strcmp(key, "Status")) {
			b->running |= !strcmp(val, "running");
		} else if (nodes && !strcmp(key, "Endpoint")) {
			b->remote |= ak_str_has_prefix(val, "ssh://") ||
				     ak_str_has_prefix(val, "tcp://");
		} else if (nodes && !strcmp(key, "Platforms")) {
			while (*val) {
				size_t n = strcspn(val, ",");
				add_platform_name(b, val, n);
				val += n + (val[n] == ',');
				val += strspn(val, " ");
			}
		}
	}
}
