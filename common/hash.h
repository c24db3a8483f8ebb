/*
 * hash.h - the one string hash of Vakt's in-memory tables (FNV-1a, 64 bit):
 * cheap, and good enough for keys made of names. Not for anything a peer
 * could choose to collide on purpose and gain from.
 */
#ifndef VAKT_HASH_H
#define VAKT_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t hash_fnv1a(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
