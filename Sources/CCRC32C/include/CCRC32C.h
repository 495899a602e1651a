// CRC-32C in C, where the CPU's crc32 instruction can be reached (Swift has
// no SSE4.2 intrinsics).
#ifndef BUSE_CCRC32C_H
#define BUSE_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to
// start). From 256 bytes, folds with VPCLMULQDQ on AVX-512 registers when
// the CPU has them (4 times the crc32 instruction); else the SSE4.2 crc32
// instruction (about 20 times faster than a table, which matters on the
// replicated write path); a table on CPUs with neither.
uint32_t buse_crc32c(uint32_t crc, const void *bytes, size_t length);

// The same without the folding path: what CPUs without VPCLMULQDQ compute,
// so tests on a CPU with it still check the crc32-instruction path.
uint32_t buse_crc32c_without_folding(uint32_t crc, const void *bytes, size_t length);

#endif
