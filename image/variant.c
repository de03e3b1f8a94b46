/* The variant list: adding variants and notes, telling a repeated manifest from a new
 * one, and the platform each variant is judged against, filtered by --platform. */
#include "image/variant.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define NOTES_MAX 1024 /* a hostile index could ask for millions */

void ak_variant_list_note(struct ak_variant_list *l, const char *fmt, ...)
{
	if (l->n_notes >= NOTES_MAX)
		return;
	l->notes = ak_xrealloc(l->notes, (l->n_notes + 1) * sizeof(*l->notes));
	va_list ap;
	va_start(ap, fmt);
	l->notes[l->n_notes++] = ak_xvasprintf(fmt, ap);
	va_end(ap);
}

struct ak_variant *ak_variant_list_add(struct ak_variant_list *l)
{
	if (l->n >= AK_IMAGE_DOCS_MAX)
		return NULL;
	l->items = ak_xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
	struct ak_variant *v = &l->items[l->n++];
	*v = (struct ak_variant){.tree_fd = -1};
	return v;
}

void ak_variant_clear(struct ak_variant *v)
{
	free(v->index_platform);
	free(v->config_platform);
	free(v->folder_platform);
	free(v->ref_name);
	free(v->manifest_digest);
	ak_descriptor_clear(&v->config);
	for (size_t i = 0; i < v->nlayers; i++)
		ak_descriptor_clear(&v->layers[i]);
	free(v->layers);
	free(v->tree_path);
	ak_process_clear(&v->process);
	if (v->tree_fd >= 0)
		close(v->tree_fd);
	*v = (struct ak_variant){.tree_fd = -1};
}

void ak_variant_list_free(struct ak_variant_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		ak_variant_clear(&l->items[i]);
	free(l->items);
	for (size_t i = 0; i < l->n_notes; i++)
		free(l->notes[i]);
	free(l->notes);
	*l = (struct ak_variant_list){0};
}

void ak_variant_list_platforms(const struct ak_variant_list *l, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < l->n && used + 40 < len; i++) {
		const struct ak_platform *p = l->items[i].platform;
		bool again = false;
		for (size_t k = 0; k < i && !again; k++)
			again = l->items[k].platform == p;
		if (!again)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 p ? p->name : "unknown");
	}
}

char *ak_platform_string(const char *os, const char *arch, const char *variant)
{
	if (!os && !arch)
		return NULL;
	return ak_xasprintf("%s/%s%s%s", os ? os : "?", arch ? arch : "?",
			    variant && *variant ? "/" : "", variant && *variant ? variant : "");
}

/* --- repeated manifests --- */

struct ak_variant_seen {
	char *key; /* seen_key() */
	size_t len;
	uint64_t hash;
	size_t count;
	size_t note; /* 1 + its index in repeated[], 0 when not named */
};

void ak_variant_dedup_init(struct ak_variant_dedup *d)
{
	*d = (struct ak_variant_dedup){0};
	ak_hash_key_random(&d->key);
}

void ak_variant_dedup_free(struct ak_variant_dedup *d)
{
	for (size_t i = 0; i < d->cap; i++)
		free(d->slots[i].key);
	free(d->slots);
	for (size_t i = 0; i < AK_VARIANT_REPEATS_NAMED; i++)
		free(d->repeated[i]);
	*d = (struct ak_variant_dedup){0};
}

/* digest, os, arch, variant and name, each with a byte saying whether it is there */
static char *seen_key(const char *const parts[5], size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < 5; i++)
		n += 2 + (parts[i] ? strlen(parts[i]) : 0);
	char *k = ak_xmalloc(n), *p = k;
	for (size_t i = 0; i < 5; i++) {
		*p++ = parts[i] ? '+' : '-';
		size_t l = parts[i] ? strlen(parts[i]) : 0;
		memcpy(p, parts[i] ? parts[i] : "", l);
		p += l;
		*p++ = '\0';
	}
	*len = n;
	return k;
}

static void seen_grow(struct ak_variant_dedup *d)
{
	size_t cap = d->cap ? d->cap * 2 : 64;
	struct ak_variant_seen *t = ak_xcalloc(cap, sizeof(*t));
	for (size_t i = 0; i < d->cap; i++) {
		if (!d->slots[i].key)
			continue;
		size_t j = d->slots[i].hash & (cap - 1);
		while (t[j].key)
			j = (j + 1) & (cap - 1);
		t[j] = d->slots[i];
	}
	free(d->slots);
	d->slots = t;
	d->cap = cap;
}

/* Name a repeated variant in repeated[] while there is room. */
static void name_repeat(struct ak_variant_dedup *d, struct ak_variant_seen *e,
			const char *const parts[5])
{
	if (d->nrepeated++ >= AK_VARIANT_REPEATS_NAMED)
		return;
	char sb[32];
	cleanup_free char *p = ak_platform_string(parts[1], parts[2], parts[3]);
	const char *name = parts[4];
	d->repeated[d->nrepeated - 1] =
		ak_xasprintf("'%s' (%s%s%s)", ak_digest_short(parts[0], sb), p ? p : "no platform",
			     name ? ", " : "", name ? name : "");
	e->note = d->nrepeated;
}

bool ak_variant_dedup_check(struct ak_variant_dedup *d, const char *digest, const char *os,
			    const char *arch, const char *variant, const char *ref_name)
{
	const char *const parts[5] = {digest, os, arch, variant, ref_name};
	size_t len;
	char *key = seen_key(parts, &len);
	if ((d->n + 1) * 2 > d->cap)
		seen_grow(d);
	uint64_t h = ak_siphash13(&d->key, key, len);
	size_t i = h & (d->cap - 1);
	for (; d->slots[i].key; i = (i + 1) & (d->cap - 1)) {
		struct ak_variant_seen *e = &d->slots[i];
		if (e->hash == h && e->len == len && !memcmp(e->key, key, len)) {
			free(key);
			if (e->count++ == 1)
				name_repeat(d, e, parts);
			return true;
		}
	}
	d->slots[i] = (struct ak_variant_seen){.key = key, .len = len, .hash = h, .count = 1};
	d->n++;
	return false;
}

void ak_variant_dedup_notes(const struct ak_variant_dedup *d, struct ak_variant_list *out)
{
	for (size_t n = 1; n <= AK_VARIANT_REPEATS_NAMED && n <= d->nrepeated; n++)
		for (size_t i = 0; i < d->cap; i++)
			if (d->slots[i].note == n)
				ak_variant_list_note(out,
						     "manifest %s is listed %zu times: probed once",
						     d->repeated[n - 1], d->slots[i].count);
	if (d->nrepeated > AK_VARIANT_REPEATS_NAMED)
		ak_variant_list_note(
			out, "%zu more manifests are listed more than once: each probed once",
			d->nrepeated - AK_VARIANT_REPEATS_NAMED);
}

/* --- platforms --- */

static bool in_filter(const struct ak_platform *p, const struct ak_platform **filter,
		      size_t nfilter)
{
	for (size_t i = 0; i < nfilter; i++)
		if (p && p == filter[i])
			return true;
	return false;
}

static int no_match_error(const struct ak_variant_list *all, const struct ak_platform **filter,
			  size_t nfilter, const char *ref, struct ak_error **err)
{
	char has[1024] = "", want[512] = "";
	size_t n = 0;
	for (size_t i = 0; i < all->n && n + 40 < sizeof(has); i++) {
		const struct ak_variant *v = &all->items[i];
		const char *name = v->platform		? v->platform->name
				   : v->index_platform	? v->index_platform
				   : v->config_platform ? v->config_platform
							: "unknown";
		n += (size_t)snprintf(has + n, sizeof(has) - n, "%s%.32s", n ? ", " : "", name);
	}
	size_t m = 0;
	for (size_t i = 0; i < nfilter && m + 40 < sizeof(want); i++)
		m += (size_t)snprintf(want + m, sizeof(want) - m, "%s%s", m ? ", " : "",
				      filter[i]->name);
	return ak_error_set(err, AK_EXIT_ENV, "'%s' has no variant for %s (it has: %s)", ref, want,
			    n ? has : "none");
}

int ak_variant_list_select(struct ak_variant_list *all, const struct ak_platform **filter,
			   size_t nfilter, const char *ref, struct ak_variant_list *out,
			   struct ak_error **err)
{
	int r = 0;
	*out = (struct ak_variant_list){0};
	for (size_t i = 0; i < all->n; i++) {
		struct ak_variant *v = &all->items[i];
		v->platform = v->index_parsed	 ? v->index_parsed
			      : v->config_parsed ? v->config_parsed
						 : v->folder_parsed;
		/* an output that says nothing about its platform takes the one asked for */
		if (!v->platform && nfilter == 1 && !v->index_platform && !v->config_platform &&
		    !v->folder_platform)
			v->platform = filter[0];
	}
	if (all->n == 0) {
		r = ak_error_set(
			err, AK_EXIT_ENV,
			"'%s' holds no image manifests (%zu attestation manifests skipped%s)", ref,
			all->skipped_attestations, all->n_notes ? ", other media types too" : "");
		ak_variant_list_free(all);
		return r;
	}
	if (nfilter == 0) {
		*out = *all;
		*all = (struct ak_variant_list){0};
		return 0;
	}
	size_t kept = 0;
	for (size_t i = 0; i < all->n; i++)
		if (in_filter(all->items[i].platform, filter, nfilter))
			kept++;
	if (kept == 0) {
		r = no_match_error(all, filter, nfilter, ref, err);
		ak_variant_list_free(all);
		return r;
	}
	/* move the kept variants to the front, clear the rest */
	size_t j = 0;
	for (size_t i = 0; i < all->n; i++) {
		if (in_filter(all->items[i].platform, filter, nfilter)) {
			struct ak_variant tmp = all->items[j];
			all->items[j++] = all->items[i];
			all->items[i] = tmp;
		}
	}
	for (size_t i = j; i < all->n; i++)
		ak_variant_clear(&all->items[i]);
	all->n = j;
	*out = *all;
	*all = (struct ak_variant_list){0};
	return 0;
}
