#include "CCRC32C.h"

#include <pthread.h>
#include <string.h>

// CRC-32C: hardware instruction where present, a bytewise table otherwise.
static uint32_t crc32c_table[256];

static void crc32c_fill_table(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t value = index;
        for (int bit = 0; bit < 8; bit++) value = (value & 1) ? (value >> 1) ^ 0x82F63B78u : value >> 1;
        crc32c_table[index] = value;
    }
}

static uint32_t crc32c_software(uint32_t crc, const uint8_t *bytes, size_t length) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc32c_fill_table);
    for (size_t index = 0; index < length; index++) crc = crc32c_table[(crc ^ bytes[index]) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_one_stream(uint32_t crc, const uint8_t *bytes, size_t length) {
    uint64_t wide = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        length -= 8;
    }
    crc = (uint32_t)wide;
    while (length > 0) {
        crc = __builtin_ia32_crc32qi(crc, *bytes++);
        length--;
    }
    return crc;
}

// Three streams at once: the crc32 instruction takes 3 cycles but a new one
// can start every cycle, so one dependent chain uses a third of the unit.
// A block of 3 * STREAM bytes is split in three; each part's register runs
// on its own, and the parts are joined by "shifting" a register over STREAM
// zero bytes, which is linear over GF(2) and so a lookup in four tables of
// 256 entries (built once from the 32 unit vectors).
enum { STREAM = 4096 };
static uint32_t shift_tables[4][256];

__attribute__((target("sse4.2")))
static void fill_shift_tables(void) {
    static const uint8_t zeros[STREAM];
    uint32_t unit[32];
    for (int bit = 0; bit < 32; bit++) unit[bit] = crc32c_one_stream(1u << bit, zeros, STREAM);
    for (int part = 0; part < 4; part++) {
        for (uint32_t value = 0; value < 256; value++) {
            uint32_t shifted = 0;
            for (int bit = 0; bit < 8; bit++) {
                if (value & (1u << bit)) shifted ^= unit[part * 8 + bit];
            }
            shift_tables[part][value] = shifted;
        }
    }
}

static inline uint32_t shift_over_stream(uint32_t crc) {
    return shift_tables[0][crc & 0xFF] ^ shift_tables[1][(crc >> 8) & 0xFF]
        ^ shift_tables[2][(crc >> 16) & 0xFF] ^ shift_tables[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *bytes, size_t length) {
    if (length >= 3 * STREAM) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, fill_shift_tables);
        while (length >= 3 * STREAM) {
            uint64_t a = crc, b = 0, c = 0;
            for (size_t at = 0; at < STREAM; at += 8) {
                uint64_t wa, wb, wc;
                memcpy(&wa, bytes + at, 8);
                memcpy(&wb, bytes + STREAM + at, 8);
                memcpy(&wc, bytes + 2 * STREAM + at, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                c = __builtin_ia32_crc32di(c, wc);
            }
            crc = shift_over_stream(shift_over_stream((uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
            bytes += 3 * STREAM;
            length -= 3 * STREAM;
        }
    }
    return crc32c_one_stream(crc, bytes, length);
}
#endif

uint32_t buse_crc32c(uint32_t crc, const void *bytes, size_t length) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hardware(crc, bytes, length);
#endif
    return ~crc32c_software(crc, bytes, length);
}
