/* The archkit executable loads the libraries that only image work needs (libarchive,
 * libcrypto, libzstd, libisal, libcurl: 43 shared objects with their dependencies) on
 * first use rather than at start. Linked normally they cost about 4.5 ms of relocation
 * before main() on every run, five times what binfmt, verify and doctor need for
 * everything else; a CI step that installs handlers and verifies them pays it twice.
 *
 * Each function image/ calls is defined here under its own name, so image/ is written
 * against the real headers and the compiler checks every prototype below against them;
 * the definition resolves the real function with dlopen + dlsym on its first call.
 * Only the executable links this file: the unit tests and fuzz targets link the
 * libraries directly. The sonames come from the libraries found at build time
 * (gen/image-libs.h, made by the Makefile). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define CURL_DISABLE_TYPECHECK /* curl.h's setopt macros would rename the definitions */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <isa-l.h>
#include <openssl/evp.h>
#include <zstd.h>

#include "common/error.h"
#include "image-libs.h"

struct lazy_lib {
	const char *soname;
	const char *needed_for;
	pthread_once_t once;
	void *handle;
};

enum { LIB_ARCHIVE, LIB_CRYPTO, LIB_ZSTD, LIB_ISAL, LIB_CURL };

static struct lazy_lib libs[] = {
	[LIB_ARCHIVE] = {AK_SONAME_ARCHIVE, "reading layers and archives", PTHREAD_ONCE_INIT, NULL},
	[LIB_CRYPTO] = {AK_SONAME_CRYPTO, "checking digests", PTHREAD_ONCE_INIT, NULL},
	[LIB_ZSTD] = {AK_SONAME_ZSTD, "reading zstd layers", PTHREAD_ONCE_INIT, NULL},
	[LIB_ISAL] = {AK_SONAME_ISAL, "reading gzip layers", PTHREAD_ONCE_INIT, NULL},
	[LIB_CURL] = {AK_SONAME_CURL, "reading registries", PTHREAD_ONCE_INIT, NULL},
};

/* pthread_once cannot pass an argument: one opener per library */
#define OPENER(id)                                                                             \
	static void open_##id(void)                                                            \
	{                                                                                      \
		libs[id].handle = dlopen(libs[id].soname, RTLD_NOW | RTLD_LOCAL);              \
	}
OPENER(LIB_ARCHIVE)
OPENER(LIB_CRYPTO)
OPENER(LIB_ZSTD)
OPENER(LIB_ISAL)
OPENER(LIB_CURL)
#undef OPENER

static void (*const openers[])(void) = {
	[LIB_ARCHIVE] = open_LIB_ARCHIVE, [LIB_CRYPTO] = open_LIB_CRYPTO,
	[LIB_ZSTD] = open_LIB_ZSTD,	  [LIB_ISAL] = open_LIB_ISAL,
	[LIB_CURL] = open_LIB_CURL,
};

/* A missing library is a broken installation, not bad input; no caller could go on
 * without it, so it ends the run with the environment's exit status. */
static __attribute__((noreturn)) void lazy_fail(int id, const char *sym, const char *why)
{
	fprintf(stderr, "archkit: cannot load %s from %s, which %s needs: %s\n", sym,
		libs[id].soname, libs[id].needed_for, why ? why : "unknown error");
	exit(AK_EXIT_ENV);
}

/* The real function: opened and looked up on the first call, then read from *slot. */
static void *lazy_sym(int id, const char *sym, void *_Atomic *slot)
{
	void *p = atomic_load_explicit(slot, memory_order_acquire);
	if (p)
		return p;
	pthread_once(&libs[id].once, openers[id]);
	if (!libs[id].handle)
		lazy_fail(id, sym, dlerror());
	p = dlsym(libs[id].handle, sym);
	if (!p)
		lazy_fail(id, sym, dlerror());
	atomic_store_explicit(slot, p, memory_order_release);
	return p;
}

#define REAL(id, name)                                                                         \
	({                                                                                     \
		static void *_Atomic slot;                                                     \
		(__typeof__(&name))lazy_sym(id, #name, &slot);                                 \
	})
#define FN(id, ret, name, params, args)                                                        \
	ret name params                                                                        \
	{                                                                                      \
		return REAL(id, name) args;                                                    \
	}
#define VOID_FN(id, name, params, args)                                                        \
	void name params                                                                       \
	{                                                                                      \
		REAL(id, name) args;                                                           \
	}

/* libarchive */
FN(LIB_ARCHIVE, struct archive *, archive_read_new, (void), ())
FN(LIB_ARCHIVE, int, archive_read_free, (struct archive * a), (a))
FN(LIB_ARCHIVE, int, archive_read_support_filter_all, (struct archive * a), (a))
FN(LIB_ARCHIVE, int, archive_read_support_format_empty, (struct archive * a), (a))
FN(LIB_ARCHIVE, int, archive_read_support_format_gnutar, (struct archive * a), (a))
FN(LIB_ARCHIVE, int, archive_read_support_format_tar, (struct archive * a), (a))
FN(LIB_ARCHIVE, int, archive_read_open,
   (struct archive * a, void *data, archive_open_callback *o, archive_read_callback *r,
    archive_close_callback *c),
   (a, data, o, r, c))
FN(LIB_ARCHIVE, int, archive_read_open_fd, (struct archive * a, int fd, size_t block),
   (a, fd, block))
FN(LIB_ARCHIVE, int, archive_read_open_filename,
   (struct archive * a, const char *name, size_t block), (a, name, block))
FN(LIB_ARCHIVE, int, archive_read_next_header, (struct archive * a, struct archive_entry **e),
   (a, e))
FN(LIB_ARCHIVE, int, archive_read_data_block,
   (struct archive * a, const void **buf, size_t *size, la_int64_t *offset),
   (a, buf, size, offset))
FN(LIB_ARCHIVE, int, archive_read_data_skip, (struct archive * a), (a))
FN(LIB_ARCHIVE, la_int64_t, archive_filter_bytes, (struct archive * a, int n), (a, n))
FN(LIB_ARCHIVE, int, archive_errno, (struct archive * a), (a))
FN(LIB_ARCHIVE, const char *, archive_error_string, (struct archive * a), (a))

/* archive_set_error is printf-like: the message is formatted here and passed as "%s" */
void archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	REAL(LIB_ARCHIVE, archive_set_error)(a, err, "%s", msg);
}

FN(LIB_ARCHIVE, mode_t, archive_entry_filetype, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, mode_t, archive_entry_mode, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, mode_t, archive_entry_perm, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, const char *, archive_entry_pathname, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, const char *, archive_entry_pathname_utf8, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, const char *, archive_entry_hardlink, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, const char *, archive_entry_hardlink_utf8, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, const char *, archive_entry_symlink, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, const char *, archive_entry_symlink_utf8, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, la_int64_t, archive_entry_size, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, int, archive_entry_size_is_set, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, int, archive_entry_sparse_count, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, int, archive_entry_sparse_reset, (struct archive_entry * e), (e))
FN(LIB_ARCHIVE, int, archive_entry_sparse_next,
   (struct archive_entry * e, la_int64_t * offset, la_int64_t * length), (e, offset, length))

/* libcrypto */
FN(LIB_CRYPTO, const EVP_MD *, EVP_sha256, (void), ())
FN(LIB_CRYPTO, const EVP_MD *, EVP_sha512, (void), ())
FN(LIB_CRYPTO, EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
VOID_FN(LIB_CRYPTO, EVP_MD_CTX_free, (EVP_MD_CTX * ctx), (ctx))
FN(LIB_CRYPTO, int, EVP_DigestInit_ex, (EVP_MD_CTX * ctx, const EVP_MD *type, ENGINE *impl),
   (ctx, type, impl))
FN(LIB_CRYPTO, int, EVP_DigestUpdate, (EVP_MD_CTX * ctx, const void *d, size_t cnt),
   (ctx, d, cnt))
FN(LIB_CRYPTO, int, EVP_DigestFinal_ex, (EVP_MD_CTX * ctx, unsigned char *md, unsigned int *s),
   (ctx, md, s))
FN(LIB_CRYPTO, int, EVP_Digest,
   (const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type,
    ENGINE *impl),
   (data, count, md, size, type, impl))

/* libzstd */
FN(LIB_ZSTD, ZSTD_DStream *, ZSTD_createDStream, (void), ())
FN(LIB_ZSTD, size_t, ZSTD_freeDStream, (ZSTD_DStream * zds), (zds))
FN(LIB_ZSTD, size_t, ZSTD_initDStream, (ZSTD_DStream * zds), (zds))
FN(LIB_ZSTD, size_t, ZSTD_decompressStream,
   (ZSTD_DStream * zds, ZSTD_outBuffer *output, ZSTD_inBuffer *input), (zds, output, input))
FN(LIB_ZSTD, unsigned, ZSTD_isError, (size_t code), (code))
FN(LIB_ZSTD, const char *, ZSTD_getErrorName, (size_t code), (code))

/* libisal */
VOID_FN(LIB_ISAL, isal_inflate_init, (struct inflate_state * state), (state))
VOID_FN(LIB_ISAL, isal_inflate_reset, (struct inflate_state * state), (state))
FN(LIB_ISAL, int, isal_inflate, (struct inflate_state * state), (state))

/* libcurl */
FN(LIB_CURL, CURLcode, curl_global_init, (long flags), (flags))
FN(LIB_CURL, CURL *, curl_easy_init, (void), ())
VOID_FN(LIB_CURL, curl_easy_cleanup, (CURL * h), (h))
VOID_FN(LIB_CURL, curl_easy_reset, (CURL * h), (h))
FN(LIB_CURL, CURLcode, curl_easy_pause, (CURL * h, int bitmask), (h, bitmask))
FN(LIB_CURL, const char *, curl_easy_strerror, (CURLcode c), (c))
VOID_FN(LIB_CURL, curl_free, (void *p), (p))
FN(LIB_CURL, time_t, curl_getdate, (const char *p, const time_t *unused), (p, unused))
FN(LIB_CURL, CURLM *, curl_multi_init, (void), ())
FN(LIB_CURL, CURLMcode, curl_multi_cleanup, (CURLM * m), (m))
FN(LIB_CURL, CURLMcode, curl_multi_add_handle, (CURLM * m, CURL *h), (m, h))
FN(LIB_CURL, CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL *h), (m, h))
FN(LIB_CURL, CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running))
FN(LIB_CURL, CURLMcode, curl_multi_poll,
   (CURLM * m, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms,
    int *ret),
   (m, extra_fds, extra_nfds, timeout_ms, ret))
FN(LIB_CURL, CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left))
FN(LIB_CURL, CURLSH *, curl_share_init, (void), ())
FN(LIB_CURL, CURLSHcode, curl_share_cleanup, (CURLSH * s), (s))
FN(LIB_CURL, struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s),
   (l, s))
VOID_FN(LIB_CURL, curl_slist_free_all, (struct curl_slist * l), (l))
FN(LIB_CURL, CURLU *, curl_url, (void), ())
VOID_FN(LIB_CURL, curl_url_cleanup, (CURLU * u), (u))
FN(LIB_CURL, CURLUcode, curl_url_get,
   (CURLU * u, CURLUPart what, char **part, unsigned int flags), (u, what, part, flags))
FN(LIB_CURL, CURLUcode, curl_url_set,
   (CURLU * u, CURLUPart what, const char *part, unsigned int flags), (u, what, part, flags))

/* The setopt calls take one argument whose type the option number encodes (curl.h's
 * CURLOPTTYPE_* ranges); it is read with that type and passed on as such. */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	__typeof__(&curl_easy_setopt) real = REAL(LIB_CURL, curl_easy_setopt);
	va_list ap;
	CURLcode r;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		r = real(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		r = real(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		r = real(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		r = real(h, opt, va_arg(ap, curl_off_t));
	else
		r = real(h, opt, va_arg(ap, void *));
	va_end(ap);
	return r;
}

CURLSHcode curl_share_setopt(CURLSH *s, CURLSHoption opt, ...)
{
	__typeof__(&curl_share_setopt) real = REAL(LIB_CURL, curl_share_setopt);
	va_list ap;
	CURLSHcode r;
	va_start(ap, opt);
	switch (opt) {
	case CURLSHOPT_SHARE:
	case CURLSHOPT_UNSHARE:
		r = real(s, opt, va_arg(ap, long));
		break;
	case CURLSHOPT_LOCKFUNC:
	case CURLSHOPT_UNLOCKFUNC:
		r = real(s, opt, va_arg(ap, void (*)(void)));
		break;
	default:
		r = real(s, opt, va_arg(ap, void *));
		break;
	}
	va_end(ap);
	return r;
}
