#include "CCRC32C.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
// A block of 3 * stream bytes is split in three; each part's register runs
// on its own, and the parts are joined by "shifting" a register over
// `stream` zero bytes, which is linear over GF(2) and so a lookup in four
// tables of 256 entries (built once from the 32 unit vectors).
//
// Two stream lengths: 4 KiB for long buffers, and 1360 bytes so that a 4 KiB
// payload (3 * 1360 = 4080, a replicated 4K write, checksummed on the
// primary and again on the replica) is one block and a 16-byte tail rather
// than one chain: 445-499 ns -> 192-194 ns per 4 KiB here (best of 5).
struct shift_tables {
    size_t stream;
    uint32_t table[4][256];
    pthread_once_t once;
};
static struct shift_tables long_streams = {.stream = 4096, .once = PTHREAD_ONCE_INIT};
static struct shift_tables short_streams = {.stream = 1360, .once = PTHREAD_ONCE_INIT};

__attribute__((target("sse4.2")))
static void fill(struct shift_tables *tables) {
    static const uint8_t zeros[4096];
    uint32_t unit[32];
    for (int bit = 0; bit < 32; bit++) unit[bit] = crc32c_one_stream(1u << bit, zeros, tables->stream);
    for (int part = 0; part < 4; part++) {
        for (uint32_t value = 0; value < 256; value++) {
            uint32_t shifted = 0;
            for (int bit = 0; bit < 8; bit++) {
                if (value & (1u << bit)) shifted ^= unit[part * 8 + bit];
            }
            tables->table[part][value] = shifted;
        }
    }
}
static void fill_long(void) { fill(&long_streams); }
static void fill_short(void) { fill(&short_streams); }

static inline uint32_t shift_over_stream(const struct shift_tables *tables, uint32_t crc) {
    return tables->table[0][crc & 0xFF] ^ tables->table[1][(crc >> 8) & 0xFF]
        ^ tables->table[2][(crc >> 16) & 0xFF] ^ tables->table[3][crc >> 24];
}

// Consumes as many blocks of 3 * tables->stream bytes as `*length` holds.
__attribute__((target("sse4.2")))
static uint32_t crc32c_blocks(const struct shift_tables *tables, uint32_t crc, const uint8_t **bytes, size_t *length) {
    const size_t stream = tables->stream;
    while (*length >= 3 * stream) {
        const uint8_t *at = *bytes;
        uint64_t a = crc, b = 0, c = 0;
        for (size_t offset = 0; offset < stream; offset += 8) {
            uint64_t wa, wb, wc;
            memcpy(&wa, at + offset, 8);
            memcpy(&wb, at + stream + offset, 8);
            memcpy(&wc, at + 2 * stream + offset, 8);
            a = __builtin_ia32_crc32di(a, wa);
            b = __builtin_ia32_crc32di(b, wb);
            c = __builtin_ia32_crc32di(c, wc);
        }
        crc = shift_over_stream(tables, shift_over_stream(tables, (uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
        *bytes += 3 * stream;
        *length -= 3 * stream;
    }
    return crc;
}

// Folding with carry-less multiplication (VPCLMULQDQ on 512-bit registers),
// for CPUs that have it: four 128-bit lanes per instruction, so about 32
// bytes a cycle against the crc32 instruction's 8 (three streams) here.
// The message is a polynomial over GF(2) and the CRC its remainder modulo
// P, so any 128 bits A followed, D bits later, by 128 bits B may be
// replaced by A * x^D mod P added into B without changing the remainder.
// With the bit order reflected, A's first 64 bits LO and last 64 bits HI
// give A * x^D = LO * x^(D+64) + HI * x^D, and a carry-less product of
// reflected values comes out one degree short, hence the constants
// x^(D+63) mod P and x^(D-1) mod P, reflected (checked against a bitwise
// CRC in JournalTests for every length around the block edges). Four
// accumulators of 64 bytes fold 256 bytes ahead; then each folds into the
// next (64 bytes ahead), and the last 64 bytes of state, being congruent to
// everything before them, go through the crc32 instruction with the tail.
#define FOLD_CONSTANTS(d_plus_63, d_minus_1) \
    _mm512_broadcast_i32x4(_mm_set_epi64x((long long)(d_minus_1), (long long)(d_plus_63)))

__attribute__((target("avx512f,vpclmulqdq")))
static inline __m512i fold(__m512i state, __m512i constants, __m512i next) {
    __m512i low = _mm512_clmulepi64_epi128(state, constants, 0x00);
    __m512i high = _mm512_clmulepi64_epi128(state, constants, 0x11);
    return _mm512_ternarylogic_epi64(low, high, next, 0x96);  // low ^ high ^ next
}

// Needs length >= 256.
__attribute__((target("avx512f,vpclmulqdq,sse4.2")))
static uint32_t crc32c_folding(uint32_t crc, const uint8_t *bytes, size_t length) {
    const __m512i ahead256 = FOLD_CONSTANTS(0xe9a5d8be00000000ull, 0x1426a81500000000ull);
    const __m512i ahead64 = FOLD_CONSTANTS(0x1c19243b00000000ull, 0x75bba45b00000000ull);
    __m512i a = _mm512_xor_si512(_mm512_loadu_si512(bytes), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
    __m512i b = _mm512_loadu_si512(bytes + 64);
    __m512i c = _mm512_loadu_si512(bytes + 128);
    __m512i d = _mm512_loadu_si512(bytes + 192);
    bytes += 256;
    length -= 256;
    while (length >= 256) {
        a = fold(a, ahead256, _mm512_loadu_si512(bytes));
        b = fold(b, ahead256, _mm512_loadu_si512(bytes + 64));
        c = fold(c, ahead256, _mm512_loadu_si512(bytes + 128));
        d = fold(d, ahead256, _mm512_loadu_si512(bytes + 192));
        bytes += 256;
        length -= 256;
    }
    d = fold(fold(fold(a, ahead64, b), ahead64, c), ahead64, d);
    while (length >= 64) {
        d = fold(d, ahead64, _mm512_loadu_si512(bytes));
        bytes += 64;
        length -= 64;
    }
    uint8_t state[64];
    _mm512_storeu_si512(state, d);
    return crc32c_one_stream(crc32c_one_stream(0, state, 64), bytes, length);
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const uint8_t *bytes, size_t length) {
    if (length >= 3 * long_streams.stream) {
        pthread_once(&long_streams.once, fill_long);
        crc = crc32c_blocks(&long_streams, crc, &bytes, &length);
    }
    if (length >= 3 * short_streams.stream) {
        pthread_once(&short_streams.once, fill_short);
        crc = crc32c_blocks(&short_streams, crc, &bytes, &length);
    }
    return crc32c_one_stream(crc, bytes, length);
}
#endif

uint32_t buse_crc32c_without_folding(uint32_t crc, const void *bytes, size_t length) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hardware(crc, bytes, length);
#endif
    return ~crc32c_software(crc, bytes, length);
}

uint32_t buse_crc32c(uint32_t crc, const void *bytes, size_t length) {
#if defined(__x86_64__)
    if (length >= 256 && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("avx512f")
        && __builtin_cpu_supports("sse4.2")) {
        return ~crc32c_folding(~crc, bytes, length);
    }
#endif
    return buse_crc32c_without_folding(crc, bytes, length);
}
