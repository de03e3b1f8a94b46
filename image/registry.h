/* Images read straight from a registry (docker://HOST[:PORT]/REPO[:TAG|@sha256:…]):
 * the OCI distribution API over image/http.h, with anonymous, Basic and Bearer-token
 * auth, as one more source behind image/source.h's ops table. */
#ifndef AK_REGISTRY_H
#define AK_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define AK_REGISTRY_MANIFEST_MAX (4u << 20)
#define AK_REGISTRY_TOKEN_MAX (1u << 20)

/* A docker:// reference, normalised as docker does: "alpine" ->
 * registry-1.docker.io/library/alpine:latest; docker.io and index.docker.io likewise. */
struct ak_registry_ref {
	char *host;   /* "registry-1.docker.io", "127.0.0.1:5000" */
	char *repo;   /* "library/alpine" */
	char *tag;    /* NULL when digest is set */
	char *digest; /* "sha256:…" or NULL */
	char *auth_key; /* where credentials are looked up: host, or https://index.docker.io/v1/ */
};
int ak_registry_ref_parse(const char *s, struct ak_registry_ref *out, struct ak_error **err);
void ak_registry_ref_clear(struct ak_registry_ref *r);

/* What the CLI passes (--creds, --creds-file, --creds-env, --tls-verify, --verbose). */
struct ak_registry_options {
	const char *creds;	/* "USER:PASS" */
	const char *creds_file; /* an auth.json / config.json */
	const char *creds_env;	/* a variable holding PASS or USER:PASS (GITHUB_TOKEN) */
	bool tls_verify;	/* false: no certificate check, and http:// allowed */
	bool verbose;
	int retries; /* < 0: the default */
	int connect_timeout_ms, stall_timeout_ms; /* 0: the defaults */
};

/* --- auth (image/registry-auth.c): pure parsing and lookup, no network --- */

/* One challenge of a WWW-Authenticate header (RFC 7235 auth-params, quoted strings). */
struct ak_www_auth {
	char *scheme; /* "Bearer", "Basic" (as sent) */
	char *realm, *service, *scope, *error;
};
/* Parse the first Bearer or Basic challenge of a header value; -1 with *err (naming no
 * secret) when malformed. */
int ak_www_auth_parse(const char *value, struct ak_www_auth *out, struct ak_error **err);
void ak_www_auth_clear(struct ak_www_auth *a);

struct ak_creds {
	char *user, *pass;	/* Basic (also sent to a token realm) */
	char *identity_token;	/* auths.*.identitytoken: an OAuth refresh token */
	char *source;		/* where they came from, for messages: "--creds", a path,
				   "docker-credential-NAME" */
};
void ak_creds_clear(struct ak_creds *c); /* wipes the secrets before freeing */

/* Find credentials for auth_key (see ak_registry_ref): --creds, then creds_env (only
 * when given), then --creds-file alone (as skopeo's --authfile), else the first of
 * $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, $DOCKER_CONFIG/config.json
 * or ~/.docker/config.json that has them (auths.*.auth, identitytoken, credHelpers /
 * credsStore by running docker-credential-NAME get). 1 with *out set, 0 when there are
 * none (anonymous); *looked_in (NULL when none was read) lists the files read, for a 401
 * message. -1 on a malformed file or a failing helper. */
int ak_creds_lookup(const char *auth_key, const struct ak_registry_options *opt,
		    struct ak_creds *out, char **looked_in, struct ak_error **err);
/* Parse one auth file's bytes for auth_key (what fuzz_auth_file feeds); same returns. A
 * credHelpers/credsStore entry (docker's order: credHelpers[host], credsStore, auths)
 * returns 1 with *helper (the NAME) set instead of *out. */
int ak_auth_file_parse(const char *buf, size_t len, const char *what, const char *auth_key,
		       struct ak_creds *out, char **helper, struct ak_error **err);

/* --- the source (image/source-registry.c) --- */
struct ak_source;
int ak_source_registry_new(const char *ref, const struct ak_registry_options *opt,
			   struct ak_source **out, struct ak_error **err);

#endif
