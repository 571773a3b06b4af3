/* synth.h: seeded synthetic contents for decode states (a KV cache or a Mamba state standing in for
 * a context that was never run).  splitmix64 streams keyed by (seed, what, where), so the contents
 * do not depend on the order or the thread that writes them. */
#ifndef BMK_SYNTH_H
#define BMK_SYNTH_H
#include <stdint.h>

static inline uint64_t bmk_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* the start of the stream of (seed, a, b, c) */
static inline uint64_t bmk_synth_stream(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t s = seed;
    uint64_t k = bmk_splitmix64(&s) ^ a;
    k = bmk_splitmix64(&k) ^ b;
    k = bmk_splitmix64(&k) ^ c;
    return bmk_splitmix64(&k);
}

/* approximately N(0, 1): the sum of four 16-bit uniforms (Irwin-Hall, variance 4/12) rescaled;
 * bounded by +-2 sqrt(3), cheap enough to fill gigabytes */
static inline float bmk_synth_normal(uint64_t *s)
{
    const uint64_t r = bmk_splitmix64(s);
    const uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) +
                         (uint32_t)((r >> 32) & 0xffff) + (uint32_t)(r >> 48);
    return ((float)sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

#endif
