/* What doctor/docker.c reads from docker's output: `docker info --format '{{json .}}'`,
 * `docker buildx ls` and `docker buildx inspect NAME`. Pure parsing (no process runs), so
 * the fuzz targets reach it; the text is whatever the docker command printed. */
#ifndef AK_DOCTOR_DOCKER_PARSE_H
#define AK_DOCTOR_DOCKER_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/platform.h"

#define AK_DOCKER_CONTAINERD_SNAPSHOTTER "io.containerd.snapshotter.v1"

struct ak_docker_info {
	char *version;	    /* ServerVersion; NULL when missing or empty */
	char *server_error; /* the first of ServerErrors, or NULL */
	bool has_errors;    /* ServerErrors is not empty (its first may not be a string) */
	char *driver;	    /* Driver, NULL when missing or empty */
	bool rootless;	    /* SecurityOptions holds name=rootless */
	bool containerd;    /* DriverStatus' driver-type is the containerd snapshotter */
};

/* false when text is not a JSON object (info is then all empty). */
bool ak_docker_info_parse(const char *text, size_t len, struct ak_docker_info *info);
void ak_docker_info_clear(struct ak_docker_info *info);

struct ak_docker_builder {
	char *name;
	bool current;
	char *driver;
	char *error;  /* the builder's or a node's Error: line */
	bool running; /* some node is running */
	bool remote;  /* a node's endpoint is another machine */
	const struct ak_platform **platforms;
	size_t nplatforms;
	size_t unknown; /* listed platforms archkit has no name for (linux/amd64/v3 ...) */
};

void ak_docker_builder_clear(struct ak_docker_builder *b);
/* The builders `docker buildx ls` lists, at most max (names checked: they go on a
 * command line); text is cut up. */
size_t ak_docker_parse_ls(char *text, struct ak_docker_builder *out, size_t max);
/* Fill b from `docker buildx inspect`; text is cut up. */
void ak_docker_parse_inspect(char *text, struct ak_docker_builder *b);

#endif
