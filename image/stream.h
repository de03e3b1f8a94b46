/* A pull stream of bytes: what a blob source hands to the layer walker, and what the
 * decompressors wrap. read() returns bytes read (0 at end) or -1 with *err set. A
 * verifying stream reports a digest or size mismatch as an error from the read that
 * reaches the end, so no consumer can finish on bad data. */
#ifndef AK_STREAM_H
#define AK_STREAM_H

#include <sys/types.h>

#include "common/error.h"

struct ak_stream {
	ssize_t (*read)(struct ak_stream *s, void *buf, size_t len, struct ak_error **err);
	void (*close)(struct ak_stream *s); /* frees s itself */
};

static inline ssize_t ak_stream_read(struct ak_stream *s, void *buf, size_t len,
				     struct ak_error **err)
{
	return s->read(s, buf, len, err);
}

static inline void ak_stream_close(struct ak_stream *s)
{
	if (s)
		s->close(s);
}

static inline void ak_stream_closep(struct ak_stream **s)
{
	ak_stream_close(*s);
}
#define cleanup_stream __attribute__((cleanup(ak_stream_closep)))

#endif
