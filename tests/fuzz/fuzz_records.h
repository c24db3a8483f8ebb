/*
 * fuzz_records.h - shared by the fuzz targets of the two start-up readers
 * of checksummed records (fuzz_spool, fuzz_journal): the abort on a broken
 * contract, and the little-endian words their harnesses read and patch.
 */
#ifndef VAKT_FUZZ_RECORDS_H
#define VAKT_FUZZ_RECORDS_H

#include <stdint.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif
