/* docker:// references, normalised as docker does (distribution/reference's
 * ParseNormalizedNamed): the first component is a registry host only when it has a '.'
 * or a ':', is "localhost", or has an upper-case letter (which no repository may have);
 * otherwise the image is on Docker Hub, where one-component names are "library/". */
#include "image/registry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "image/blob.h"

#define HUB_HOST "registry-1.docker.io"
#define HUB_AUTH_KEY "https://index.docker.io/v1/"
#define NAME_MAX_LEN 255 /* distribution/reference's NameTotalLengthMax */
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static const char *path_component_error(const char *s, size_t n)
{
	size_t i = 0;
	if (!n)
		return "an empty path component";
	for (;;) {
		size_t run = 0;
		while (i < n && is_lower_alnum(s[i]))
			i++, run++;
		if (!run) {
			for (size_t k = 0; k < n; k++)
				if (s[k] >= 'A' && s[k] <= 'Z')
					return "upper-case letters (repository names are "
					       "lower-case)";
			return "a path component that does not start and end with a lower-case "
			       "letter or digit, or separators ('.', '_', '__', '-') side by side";
		}
		if (i == n)
			return NULL;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else if (s[i] >= 'A' && s[i] <= 'Z')
			return "upper-case letters (repository names are lower-case)";
		else
			return "a character a repository name cannot hold (a-z, 0-9, and '.', '_', "
			       "'__' or '-' between them)";
	}
}

static const char *repo_error(const char *repo)
{
	for (const char *p = repo;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		const char *e = path_component_error(p, n);
		if (e)
			return e;
		if (!slash)
			return NULL;
		p = slash + 1;
	}
}

/* domain: label ('.' label)* [':' port], label [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?,
 * or an IPv6 address in brackets ("[::1]:5000"). */
static const char *host_error(const char *h)
{
	const char *p = h;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (!end || end == p + 1 ||
		    strspn(p + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - p - 1))
			return "a malformed IPv6 address";
		p = end + 1;
	} else {
		for (;;) {
			size_t n = 0;
			while (isalnum((unsigned char)p[n]) || p[n] == '-')
				n++;
			if (!n || p[0] == '-' || p[n - 1] == '-')
				return "a malformed host name";
			p += n;
			if (*p != '.')
				break;
			p++;
		}
	}
	if (*p == ':') {
		size_t n = strspn(p + 1, "0123456789");
		if (!n || n > 5 || p[1 + n] || atoi(p + 1) > 65535)
			return "a malformed port";
		return NULL;
	}
	return *p ? "a malformed host name" : NULL;
}

/* tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool tag_ok(const char *t)
{
	size_t n = strlen(t);
	if (!n || n > TAG_MAX_LEN || t[0] == '.' || t[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
			return false;
	return true;
}

static bool is_host(const char *first, size_t n)
{
	if (n == 9 && !strncmp(first, "localhost", 9))
		return true;
	for (size_t i = 0; i < n; i++)
		if (first[i] == '.' || first[i] == ':' || (first[i] >= 'A' && first[i] <= 'Z'))
			return true;
	return false;
}

static int bad(struct ak_error **err, const char *s, const char *why)
{
	return ak_error_set(err, AK_EXIT_ENV,
			    "invalid registry reference 'docker://%.300s': %s (the form is "
			    "docker://[HOST[:PORT]/]REPO[:TAG|@sha256:DIGEST])",
			    s, why);
}

static int parse(const char *s, struct ak_registry_ref *out, struct ak_error **err)
{
	if (!*s)
		return bad(err, s, "no repository");
	if (strlen(s) > 4096)
		return bad(err, s, "too long");
	cleanup_free char *name = ak_xstrdup(s);
	char *at = strchr(name, '@');
	if (at) {
		*at = '\0';
		const char *d = at + 1;
		if (!ak_str_has_prefix(d, "sha256:") || ak_digest_validate(d, NULL) < 0)
			return bad(err, s, "a digest is sha256: and 64 lower-case hex digits");
		out->digest = ak_xstrdup(d);
	}
	/* a ':' after the last '/' starts the tag ("host:5000/repo" has none) */
	char *slash = strrchr(name, '/'), *colon = strrchr(slash ? slash : name, ':');
	const char *tag = NULL;
	if (colon) {
		*colon = '\0';
		tag = colon + 1;
		if (!tag_ok(tag))
			return bad(err, s,
				   "a tag is up to 128 letters, digits, '_', '.' and '-', not "
				   "starting with '.' or '-'");
	}
	const char *first_slash = strchr(name, '/');
	const char *host = NULL, *repo = name;
	cleanup_free char *host_buf = NULL;
	if (first_slash && is_host(name, (size_t)(first_slash - name))) {
		host_buf = ak_xstrndup(name, (size_t)(first_slash - name));
		host = host_buf;
		repo = first_slash + 1;
		const char *e = host_error(host);
		if (e)
			return bad(err, s, e);
	}
	bool hub = !host || !strcmp(host, "docker.io") || !strcmp(host, "index.docker.io") ||
		   !strcmp(host, HUB_HOST);
	const char *e = repo_error(repo);
	if (e)
		return bad(err, s, !*repo ? "no repository" : e);
	out->repo = hub && !strchr(repo, '/') ? ak_xasprintf("library/%s", repo) : ak_xstrdup(repo);
	out->host = ak_xstrdup(hub ? HUB_HOST : host);
	out->auth_key = ak_xstrdup(hub ? HUB_AUTH_KEY : host);
	if (!out->digest)
		out->tag = ak_xstrdup(tag ? tag : "latest");
	if (strlen(out->host) + 1 + strlen(out->repo) > NAME_MAX_LEN)
		return bad(err, s, "the name is longer than 255 characters");
	return 0;
}

int ak_registry_ref_parse(const char *s, struct ak_registry_ref *out, struct ak_error **err)
{
	*out = (struct ak_registry_ref){0};
	if (ak_str_has_prefix(s, "docker://"))
		s += strlen("docker://");
	if (parse(s, out, err) < 0) {
		ak_registry_ref_clear(out);
		return -1;
	}
	return 0;
}

void ak_registry_ref_clear(struct ak_registry_ref *r)
{
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	free(r->auth_key);
	*r = (struct ak_registry_ref){0};
}
