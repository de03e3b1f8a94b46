/* A keyed hash for tables whose keys come from an image (paths, digests): SipHash-1-3
 * with a random key per table, so crafted names cannot be made to collide. */
#ifndef AK_HASH_H
#define AK_HASH_H

#include <stddef.h>
#include <stdint.h>

struct ak_hash_key {
	uint64_t k0, k1;
};

/* A fresh key from getrandom(); a fixed one when the kernel has no entropy yet. */
void ak_hash_key_random(struct ak_hash_key *key);
uint64_t ak_siphash13(const struct ak_hash_key *key, const void *data, size_t len);

#endif
