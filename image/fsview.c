/* fsview: a tree of nodes (for removing a whole subtree in one walk) indexed by a
 * keyed hash of the full path (so a hostile layer cannot pick colliding names). */
#include "image/fsview.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/hash.h"
#include "common/xalloc.h"

#define AK_PATH_MAX 4096

struct node {
	struct ak_fsview_entry e; /* first: entries handed out are nodes */
	uint32_t path_len;
	bool live;
	bool unpacked; /* an entry of e.layer made this path (containerd's unpackedPaths) */
	/* the layer in which an opaque sweep last left this subtree with nothing to remove
	 * (see opaque_sweep); -1 when none */
	int clean_layer;
	uint64_t hash;
	struct node *hnext;
	struct node *parent, *first_child, *last_child, *prev, *next;
};

struct ak_fsview {
	struct node **buckets;
	size_t nbuckets, live;
	struct ak_hash_key key; /* per view: crafted paths cannot be made to collide */
	struct node root;
	struct node **all; /* every node ever made, in creation order */
	size_t all_count, all_cap;
	struct ak_fsview_removed *removed;
	size_t removed_count, removed_cap;
	bool record_removed; /* off unless asked: a long list nobody reads costs gigabytes */
	struct ak_layer_arena *arena;
	/* paths the layer being applied unpacked and then removed: an opaque marker still
	 * keeps what is made there again, as containerd's unpackedPaths never forgets */
	struct gone **gone;
	size_t gone_nbuckets, gone_count;
	int gone_layer;
};

struct gone {
	struct gone *next;
	uint64_t hash;
	const char *path;
	uint32_t len;
};

static uint64_t path_hash(const struct ak_fsview *v, const char *s, size_t len)
{
	return ak_siphash13(&v->key, s, len);
}

/* ---- table ---- */

static struct node *find(const struct ak_fsview *v, const char *path, size_t len)
{
	if (len == 0)
		return (struct node *)&v->root;
	uint64_t h = path_hash(v, path, len);
	for (struct node *n = v->buckets[h & (v->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash == h && n->path_len == len && memcmp(n->e.path, path, len) == 0)
			return n;
	return NULL;
}

static void grow(struct ak_fsview *v)
{
	size_t nb = v->nbuckets * 2;
	struct node **b = ak_xcalloc(nb, sizeof(*b));
	for (size_t i = 0; i < v->nbuckets; i++)
		for (struct node *n = v->buckets[i], *next; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	free(v->buckets);
	v->buckets = b;
	v->nbuckets = nb;
}

static void unhash(struct ak_fsview *v, struct node *n)
{
	struct node **pp = &v->buckets[n->hash & (v->nbuckets - 1)];
	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
	n->hnext = NULL;
}

static void link_child(struct node *parent, struct node *n)
{
	n->parent = parent;
	n->next = NULL;
	n->prev = parent->last_child;
	if (parent->last_child)
		parent->last_child->next = n;
	else
		parent->first_child = n;
	parent->last_child = n;
}

/* Put n first among its parent's children. */
static void link_first(struct node *parent, struct node *n)
{
	n->parent = parent;
	n->prev = NULL;
	n->next = parent->first_child;
	if (parent->first_child)
		parent->first_child->prev = n;
	else
		parent->last_child = n;
	parent->first_child = n;
}

static void unlink_child(struct node *n)
{
	struct node *p = n->parent;
	if (n->prev)
		n->prev->next = n->next;
	else
		p->first_child = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		p->last_child = n->prev;
	n->prev = n->next = n->parent = NULL;
}

/* A new live node at path (a string that outlives the view) under parent. */
static struct node *add_node(struct ak_fsview *v, struct node *parent, const char *path, size_t len)
{
	if (v->live + 1 > v->nbuckets)
		grow(v);
	if (v->all_count == v->all_cap) {
		size_t cap = v->all_cap ? v->all_cap * 2 : 1024;
		v->all = ak_xrealloc(v->all, cap * sizeof(*v->all));
		v->all_cap = cap;
	}
	struct node *n = ak_layer_arena_alloc(v->arena, sizeof(*n));
	*n = (struct node){.path_len = (uint32_t)len, .live = true, .clean_layer = -1};
	n->e.path = path;
	n->hash = path_hash(v, path, len);
	size_t b = n->hash & (v->nbuckets - 1);
	n->hnext = v->buckets[b];
	v->buckets[b] = n;
	link_child(parent, n);
	v->all[v->all_count++] = n;
	v->live++;
	return n;
}

static bool gone_has(const struct ak_fsview *v, const struct node *n)
{
	if (!v->gone)
		return false;
	for (struct gone *g = v->gone[n->hash & (v->gone_nbuckets - 1)]; g; g = g->next)
		if (g->hash == n->hash && g->len == n->path_len &&
		    memcmp(g->path, n->e.path, g->len) == 0)
			return true;
	return false;
}

static void gone_add(struct ak_fsview *v, const struct node *n)
{
	if (gone_has(v, n))
		return;
	if (v->gone_count + 1 > v->gone_nbuckets) {
		size_t nb = v->gone_nbuckets ? v->gone_nbuckets * 2 : 64;
		struct gone **b = ak_xcalloc(nb, sizeof(*b));
		for (size_t i = 0; i < v->gone_nbuckets; i++)
			for (struct gone *g = v->gone[i], *next; g; g = next) {
				next = g->next;
				g->next = b[g->hash & (nb - 1)];
				b[g->hash & (nb - 1)] = g;
			}
		free(v->gone);
		v->gone = b;
		v->gone_nbuckets = nb;
	}
	struct gone *g = ak_layer_arena_alloc(v->arena, sizeof(*g));
	*g = (struct gone){.hash = n->hash, .path = n->e.path, .len = n->path_len};
	g->next = v->gone[g->hash & (v->gone_nbuckets - 1)];
	v->gone[g->hash & (v->gone_nbuckets - 1)] = g;
	v->gone_count++;
}

/* The set belongs to one layer: start afresh for the next. */
static void gone_reset(struct ak_fsview *v, int layer_no)
{
	if (v->gone_layer == layer_no)
		return;
	free(v->gone);
	v->gone = NULL;
	v->gone_nbuckets = v->gone_count = 0;
	v->gone_layer = layer_no;
}

static bool kept(const struct node *n, int layer_no)
{
	return n->e.layer == layer_no && n->unpacked;
}

static void record_removed(struct ak_fsview *v, const struct node *n, int by,
			   enum ak_fsview_removal how)
{
	if (!v->record_removed || n->e.implicit)
		return;
	if (v->removed_count == v->removed_cap) {
		size_t cap = v->removed_cap ? v->removed_cap * 2 : 64;
		v->removed = ak_xrealloc(v->removed, cap * sizeof(*v->removed));
		v->removed_cap = cap;
	}
	v->removed[v->removed_count++] = (struct ak_fsview_removed){
		.path = n->e.path,
		.type = n->e.type,
		.layer = n->e.layer,
		.removed_by = by,
		.how = how,
		.facts = n->e.facts,
	};
}

/* Remove every descendant of top (not top itself), recording each. */
static void remove_children(struct ak_fsview *v, struct node *top, int by,
			    enum ak_fsview_removal how)
{
	/* iterative post-order: go down to a leaf, remove it, repeat */
	struct node *n = top->first_child;
	while (n) {
		while (n->first_child)
			n = n->first_child;
		struct node *parent = n->parent;
		record_removed(v, n, by, how);
		if (kept(n, by))
			gone_add(v, n);
		unlink_child(n);
		unhash(v, n);
		n->live = false;
		v->live--;
		n = parent == top ? top->first_child : parent;
	}
}

static void remove_subtree(struct ak_fsview *v, struct node *n, int by, enum ak_fsview_removal how)
{
	remove_children(v, n, by, how);
	record_removed(v, n, by, how);
	if (kept(n, by))
		gone_add(v, n);
	unlink_child(n);
	unhash(v, n);
	n->live = false;
	v->live--;
}

/* ---- what an opaque marker keeps ----
 *
 * An opaque marker in layer L keeps the paths L's own entries created (containerd's
 * unpackedPaths: kept() above, with the gone set for paths removed and made again) and
 * removes everything else below its directory, the directories extraction made for L's
 * entries without naming them included. A node is clean in L
 * when its whole subtree is kept. To keep repeated markers linear, every directory
 * lists its children that are not clean before those that are: a sweep then stops at
 * its first clean child, and each node costs a sweep once per change of state. */

static bool is_clean(const struct node *n, int layer_no)
{
	return kept(n, layer_no) && (n->e.type != AK_ENTRY_DIR || n->clean_layer == layer_no);
}

static void move_last(struct node *n)
{
	struct node *p = n->parent;
	unlink_child(n);
	link_child(p, n);
}

/* n's subtree has something to remove now: so have its ancestors'. */
static void dirty_up(struct node *n, int layer_no)
{
	for (; n->parent && is_clean(n, layer_no); n = n->parent) {
		n->clean_layer = -1;
		struct node *p = n->parent;
		unlink_child(n);
		link_first(p, n);
	}
}

/* Remove what top's subtree holds that layer_no did not create (top itself stays). */
static void opaque_sweep(struct ak_fsview *v, struct node *top, int layer_no)
{
	struct node *cur = top;
	for (;;) {
		struct node *c = cur->first_child;
		if (c && !is_clean(c, layer_no)) {
			if (!kept(c, layer_no))
				remove_subtree(v, c, layer_no, AK_REMOVED_BY_OPAQUE);
			else
				cur = c; /* a kept directory: look inside */
			continue;
		}
		cur->clean_layer = layer_no;
		if (cur == top)
			break;
		struct node *p = cur->parent;
		move_last(cur);
		cur = p;
	}
	if (top->parent && is_clean(top, layer_no))
		move_last(top);
}

/* ---- life cycle ---- */

struct ak_fsview *ak_fsview_new(struct ak_error **err)
{
	struct ak_fsview *v = ak_xcalloc(1, sizeof(*v));
	v->nbuckets = 1024;
	v->buckets = ak_xcalloc(v->nbuckets, sizeof(*v->buckets));
	v->arena = ak_layer_arena_new();
	ak_hash_key_random(&v->key);
	v->root.e = (struct ak_fsview_entry){
		.path = "", .type = AK_ENTRY_DIR, .implicit = true, .mode = 0755, .layer = -1};
	v->root.live = true;
	v->root.clean_layer = -1;
	v->gone_layer = -1;
	return v;
}

void ak_fsview_free(struct ak_fsview *v)
{
	if (!v)
		return;
	free(v->buckets);
	free(v->all);
	free(v->removed);
	free(v->gone);
	ak_layer_arena_free(v->arena);
	free(v);
}

/* ---- resolution ---- */

/* Walk path from the root following symlinks (a final one too when follow_last).
 * Without create: 1 with *out at the entry, 0 when nothing is there. With create (for
 * an entry's parent directory, as containerd's mkparent): missing components become
 * implicit directories of layer_no, a non-directory in the way is an error (containerd
 * and moby fail to unpack such a layer); returns 1 with *out at that directory (the
 * root included) and its real path in real. */
static int walk(struct ak_fsview *v, const char *path, bool follow_last, bool create, int layer_no,
		struct node **out, char real[AK_PATH_MAX], struct ak_error **err)
{
	/* rest: what is left to walk; rewritten when a symlink is followed */
	char rest[2 * AK_PATH_MAX + 2];
	char cur_buf[AK_PATH_MAX];
	char *cur = real ? real : cur_buf;
	size_t cur_len = 0;
	size_t rest_len = strlen(path);
	if (rest_len >= sizeof(rest))
		return ak_error_set(err, AK_EXIT_ENV, "path too long");
	memcpy(rest, path, rest_len + 1);
	size_t pos = 0;
	int links = 0;
	struct node *node = &v->root;
	while (pos < rest_len) {
		while (pos < rest_len && rest[pos] == '/')
			pos++;
		size_t start = pos;
		while (pos < rest_len && rest[pos] != '/')
			pos++;
		size_t n = pos - start;
		if (n == 0 || (n == 1 && rest[start] == '.'))
			continue;
		if (n == 2 && rest[start] == '.' && rest[start + 1] == '.') {
			/* cur holds no symlinks, so its lexical parent is the real one */
			while (cur_len > 0 && cur[cur_len - 1] != '/')
				cur_len--;
			if (cur_len > 0)
				cur_len--;
			node = node->parent ? node->parent : &v->root;
			continue;
		}
		bool last = true;
		for (size_t i = pos; i < rest_len; i++)
			if (rest[i] != '/') {
				last = false;
				break;
			}
		if (cur_len + 1 + n >= AK_PATH_MAX)
			return ak_error_set(err, AK_EXIT_ENV, "path too long");
		size_t cand_len = cur_len;
		if (cand_len > 0)
			cur[cand_len++] = '/';
		memcpy(cur + cand_len, rest + start, n);
		cand_len += n;
		struct node *child = find(v, cur, cand_len);
		if (child && child->e.type == AK_ENTRY_SYMLINK && (!last || follow_last)) {
			if (++links > AK_FSVIEW_MAX_LINKS)
				return ak_error_set(err, AK_EXIT_ENV, "symlink loop at '%s'", path);
			const char *target = child->e.link ? child->e.link : "";
			size_t tl = strlen(target);
			size_t tail = rest_len - pos;
			if (tl + 1 + tail >= sizeof(rest))
				return ak_error_set(err, AK_EXIT_ENV, "path too long");
			memmove(rest + tl + 1, rest + pos, tail + 1);
			memcpy(rest, target, tl);
			rest[tl] = '/';
			rest_len = tl + 1 + tail;
			pos = 0;
			if (target[0] == '/') {
				cur_len = 0;
				node = &v->root;
			}
			continue;
		}
		if (!create) {
			if (!child)
				return 0;
			if (last) {
				/* callers join a name onto real: it must end here */
				cur[cand_len] = '\0';
				*out = child;
				return 1;
			}
			if (child->e.type != AK_ENTRY_DIR)
				return 0;
		} else if (child && child->e.type != AK_ENTRY_DIR) {
			return ak_error_set(err, AK_EXIT_ENV, "'%.*s' is not a directory",
					    (int)cand_len, cur);
		} else if (!child) {
			char *p = ak_layer_arena_strndup(v->arena, cur, cand_len);
			child = add_node(v, node, p, cand_len);
			child->e.type = AK_ENTRY_DIR;
			child->e.implicit = true;
			child->e.mode = 0755;
			child->e.layer = layer_no;
			child->unpacked = gone_has(v, child);
			/* an opaque marker above would remove it: not clean */
			unlink_child(child);
			link_first(node, child);
			dirty_up(node, layer_no);
		}
		cur_len = cand_len;
		node = child;
	}
	cur[cur_len] = '\0';
	if (!create && node == &v->root)
		return 0;
	*out = node;
	return 1;
}

const struct ak_fsview_entry *ak_fsview_lookup(const struct ak_fsview *view, const char *path)
{
	char norm[AK_PATH_MAX];
	if (ak_layer_path_normalise(path, norm, sizeof(norm)) < 0 || !norm[0])
		return NULL;
	struct node *n = find(view, norm, strlen(norm));
	return n ? &n->e : NULL;
}

int ak_fsview_resolve(const struct ak_fsview *view, const char *path,
		      const struct ak_fsview_entry **entry, struct ak_error **err)
{
	struct node *n = NULL;
	int r = walk((struct ak_fsview *)view, path, true, false, 0, &n, NULL, err);
	if (r == 1)
		*entry = &n->e;
	return r;
}

/* ---- applying a layer ---- */

/* Split a normalised path: dir gets everything before the last '/', *base the rest. */
static void split(const char *path, char dir[AK_PATH_MAX], const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) : 0;
	if (dl >= AK_PATH_MAX)
		dl = AK_PATH_MAX - 1;
	memcpy(dir, path, dl);
	dir[dl] = '\0';
	*base = slash ? slash + 1 : path;
}

/* Join real dir and base; reuses orig (a string that outlives the view) when equal. */
static const char *joined(struct ak_fsview *v, const char *real, const char *base, const char *orig,
			  size_t *len, struct ak_error **err)
{
	char buf[AK_PATH_MAX];
	int n = real[0] ? snprintf(buf, sizeof(buf), "%s/%s", real, base)
			: snprintf(buf, sizeof(buf), "%s", base);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		ak_error_set(err, AK_EXIT_ENV, "path too long");
		return NULL;
	}
	*len = (size_t)n;
	if (strcmp(buf, orig) == 0)
		return orig;
	return ak_layer_arena_strndup(v->arena, buf, (size_t)n);
}

/* A whiteout as containerd applies it when the tar reaches it: the parent resolves
 * inside the root and is made when missing (mkparent), then ".wh.NAME" removes whatever
 * NAME is now, this layer's own entries included, and an opaque marker removes what this
 * layer did not create below its directory. */
static int apply_whiteout(struct ak_fsview *v, const struct ak_layer_entry *e, int layer_no,
			  struct ak_error **err)
{
	char dir[AK_PATH_MAX], real[AK_PATH_MAX];
	const char *base = NULL;
	if (e->type == AK_ENTRY_OPAQUE)
		snprintf(dir, sizeof(dir), "%s", e->path);
	else
		split(e->path, dir, &base);
	struct node *d = &v->root;
	real[0] = '\0';
	if (dir[0] && walk(v, dir, true, true, layer_no, &d, real, err) < 0)
		return base ? ak_error_prefix(err, "entry '%s/.wh.%s'", dir, base)
			    : ak_error_prefix(err, "entry '%s/.wh..wh..opq'", dir);
	if (!base) {
		opaque_sweep(v, d, layer_no);
		return 0;
	}
	char target[AK_PATH_MAX];
	int n = real[0] ? snprintf(target, sizeof(target), "%s/%s", real, base)
			: snprintf(target, sizeof(target), "%s", base);
	if (n < 0 || (size_t)n >= sizeof(target))
		return 0; /* no path that long can be there */
	struct node *victim = find(v, target, (size_t)n);
	if (victim)
		remove_subtree(v, victim, layer_no, AK_REMOVED_BY_WHITEOUT);
	return 0;
}

static int apply_entry(struct ak_fsview *v, const struct ak_layer_entry *e, int layer_no,
		       struct ak_error **err)
{
	char dir[AK_PATH_MAX], real[AK_PATH_MAX];
	const char *base;
	split(e->path, dir, &base);
	if (!base[0])
		return 0;
	struct node *parent = &v->root;
	real[0] = '\0';
	if (dir[0] && walk(v, dir, true, true, layer_no, &parent, real, err) < 0)
		return ak_error_prefix(err, "entry '%s'", e->path);
	size_t len;
	const char *path = joined(v, real, base, e->path, &len, err);
	if (!path)
		return -1;
	struct node *existing = find(v, path, len);

	struct ak_fsview_entry fresh = {
		.path = path,
		.link = e->link,
		.size = e->size,
		.mode = e->mode,
		.type = e->type,
		.layer = layer_no,
		.facts = e->facts,
	};
	if (e->type == AK_ENTRY_HARDLINK) {
		struct node *target = find(v, e->link, strlen(e->link));
		if (!target) {
			struct node *t = NULL;
			if (walk(v, e->link, false, false, layer_no, &t, NULL, err) < 0)
				return ak_error_prefix(err, "entry '%s'", e->path);
			target = t;
		}
		if (target && target == existing)
			return 0; /* a link to itself changes nothing */
		fresh.hardlink = true;
		if (target && target->e.type != AK_ENTRY_DIR) {
			fresh.type = target->e.type;
			fresh.size = target->e.size;
			fresh.mode = target->e.mode;
			fresh.facts = target->e.facts;
			if (target->e.type == AK_ENTRY_SYMLINK)
				fresh.link = target->e.link;
		}
	}
	if (existing) {
		if (existing->e.type == AK_ENTRY_DIR && fresh.type == AK_ENTRY_DIR) {
			/* a directory again: its contents stay, its metadata is the new one */
			if (!kept(existing, layer_no))
				existing->clean_layer = -1; /* swept while not kept: stale */
			existing->e.mode = fresh.mode;
			existing->e.layer = layer_no;
			existing->e.implicit = false;
			existing->unpacked = true;
			return 0;
		}
		if (existing->e.type == AK_ENTRY_DIR)
			remove_children(v, existing, layer_no, AK_REMOVED_BY_REPLACEMENT);
		record_removed(v, existing, layer_no, AK_REMOVED_BY_REPLACEMENT);
		existing->e = fresh;
		existing->unpacked = true;
		existing->clean_layer = layer_no; /* new and empty: clean, so it goes last */
		move_last(existing);
		return 0;
	}
	struct node *n = add_node(v, parent, path, len);
	n->e = fresh;
	n->unpacked = true;
	n->clean_layer = layer_no;
	return 0;
}

int ak_fsview_apply_layer(struct ak_fsview *view, const struct ak_layer_index *idx, int layer_no,
			  struct ak_error **err)
{
	/* In tar order, as containerd's archive.Apply and moby's UnpackLayer do: a
	 * whiteout sees the filesystem as the entries before it left it. */
	gone_reset(view, layer_no);
	for (size_t i = 0; i < idx->count; i++) {
		const struct ak_layer_entry *e = &idx->entries[i];
		int r = e->type == AK_ENTRY_WHITEOUT || e->type == AK_ENTRY_OPAQUE
				? apply_whiteout(view, e, layer_no, err)
				: apply_entry(view, e, layer_no, err);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* ---- reading ---- */

size_t ak_fsview_count(const struct ak_fsview *view)
{
	return view->live;
}

static int cmp_entries(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
	return strcmp(x->e.path, y->e.path);
}

int ak_fsview_foreach(const struct ak_fsview *view, bool sorted,
		      int (*fn)(const struct ak_fsview_entry *entry, void *ctx), void *ctx,
		      struct ak_error **err)
{
	if (!sorted) {
		for (size_t i = 0; i < view->all_count; i++) {
			if (!view->all[i]->live)
				continue;
			int r = fn(&view->all[i]->e, ctx);
			if (r)
				return r;
		}
		return 0;
	}
	cleanup_free struct node **list = ak_xmalloc((view->live + 1) * sizeof(*list));
	size_t n = 0;
	for (size_t i = 0; i < view->all_count; i++)
		if (view->all[i]->live)
			list[n++] = view->all[i];
	qsort(list, n, sizeof(*list), cmp_entries);
	for (size_t i = 0; i < n; i++) {
		int r = fn(&list[i]->e, ctx);
		if (r)
			return r;
	}
	return 0;
}

void ak_fsview_set_record_removed(struct ak_fsview *view, bool on)
{
	view->record_removed = on;
}

const struct ak_fsview_removed *ak_fsview_removed(const struct ak_fsview *view, size_t *count)
{
	*count = view->removed_count;
	return view->removed;
}
