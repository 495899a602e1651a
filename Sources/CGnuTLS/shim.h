#include <gnutls/gnutls.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif

/// Whether the CPU has AES instructions (x86 AES-NI, Armv8 AES), with which
/// AES-GCM costs a fraction of ChaCha20-Poly1305 (measured here with
/// `gnutls-cli --benchmark-ciphers`: 4.7 GB/s against 0.51 GB/s).
static inline int buse_cpu_has_aes(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_AES) != 0;
#elif defined(__aarch64__)
    return (getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
    return 0;
#endif
}
