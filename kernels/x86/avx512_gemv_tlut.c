/* AVX-512 ternary-lut (layout: kernels/generic/gemv_tlut.c), by word lookups: vpermw (256-bit:
 * 16 int16 entries, 4-bit indices) looks a pair's int16 entries up directly, so no byte planes
 * are recombined.  A 32-byte step of a tile read as 16 words holds rows 2i (low byte) and 2i+1
 * (high byte) in word i; their four nibbles are the word's bits 0-3, 4-7, 8-11, 12-15, and vpermw
 * reads only bits 0-3 of an index, so a shift picks each nibble with no mask: even rows' pair a
 * (v), pair b (v >> 4), odd rows' (v >> 8, v >> 12).  The tables are turned into words (from the
 * plane layout every flavour shares) once per call, into a per-thread buffer.
 * Measured on Zen 4 (tools/kbench.py, 1b.in_proj in cache, 1 thread): 31.6-32.5 GB/s against 23-24
 * for AVX2; the tables turned per pass instead (4 shuffles per 16 lookups) 28; 512-bit vpermw over
 * tile pairs (index bit 4 then reads equal table copies) 24; a shift done by vpmulhuw no better.
 * Per 4 tile-steps (128 bytes) this loop takes 14.2 cycles from L2 (this file built alone, a 1024
 * x 2048 matrix); its 16 vpermw + 12 vpsrlw + 16 vpaddw, independent and in its order, take 11.8
 * (Zen 4 runs vpermw and the shifts 2 per cycle each, 3 per cycle together, the adds 4), and 13.1
 * with its loads, prefetches and add chains: what is left is its op count.  The odd rows' bytes
 * loaded one byte on (v1: odd rows are v1 and v1 >> 4, 8 shifts instead of 12) take 13.4, but the
 * last step's load reads a byte past the matrix; every such load masked (vmovdqu8) took the gain
 * back (14.0), and a tile's last step selected apart (v >> 8 there) 13.6 alone, but slower in the
 * extension (tools/kbench.py, 1b.in_proj, builds interleaved: 27.4-28.5 GB/s streaming against
 * 29.2-29.4). */
#include <immintrin.h>
#include <stdlib.h>

#include "../flavours.h"
#include "../formats.h"
#include "tlut_tables.h"

#define LUT_CHUNK 64 /* steps summed in int16: 64 x 2 x 254 = 32512 */
#define LUT_TILES 4

/* pair table at t (16 low parts, then 16 high parts) as 16 int16 words */
static inline __m256i word_table(const uint8_t *t)
{
    const __m256i il = _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
                                        0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    /* qwords lo 0-7, lo 8-15, hi 0-7, hi 8-15 -> lo 0-7, hi 0-7 | lo 8-15, hi 8-15, then
     * interleaved per lane */
    const __m256i w = _mm256_shuffle_epi8(_mm256_permute4x64_epi64(_mm256_loadu_si256((const __m256i *)t), 0xd8), il);
    /* w = low + 256 high, the entry low + 128 high */
    return _mm256_sub_epi16(w, _mm256_slli_epi16(_mm256_srai_epi16(w, 8), 7));
}

/* the call's tables as words, 2 x 32 bytes per step, in this thread's buffer (grown on demand to
 * 16 bytes per column, never freed: the team's threads live as long as the process); NULL when it
 * cannot grow */
static const __m256i *words_of(const uint8_t *tab, int64_t steps)
{
    static _Thread_local __m256i *buf;
    static _Thread_local int64_t cap;
    if (steps > cap) {
        free(buf);
        buf = aligned_alloc(64, (size_t)steps * 64);
        cap = buf ? steps : 0;
        if (!buf) return NULL;
    }
    for (int64_t k = 0; k < steps; k++) {
        buf[2 * k] = word_table(tab + 64 * k);
        buf[2 * k + 1] = word_table(tab + 64 * k + 32);
    }
    return buf;
}

static inline __attribute__((always_inline)) void tiles_dot(const uint8_t *tw, int64_t tile_bytes,
                                                            const __m256i *words, int64_t steps, int nt,
                                                            int32_t *dot)
{
    int32_t even[LUT_TILES][16] = {{0}}, odd[LUT_TILES][16] = {{0}};
    for (int64_t k0 = 0; k0 < steps; k0 += LUT_CHUNK) {
        const int64_t k1 = k0 + LUT_CHUNK < steps ? k0 + LUT_CHUNK : steps;
        __m256i se[LUT_TILES], so[LUT_TILES];
        for (int j = 0; j < nt; j++) se[j] = so[j] = _mm256_setzero_si256();
        for (int64_t k = k0; k < k1; k++) {
            const __m256i ta = words[2 * k], tb = words[2 * k + 1];
            /* the next pass's span linearly, into L2 (see avx2_gemv_tlut.c) */
            for (int o = 0; o < 32 * nt; o += 64)
                _mm_prefetch((const char *)(tw + nt * tile_bytes + 32 * nt * k + o), _MM_HINT_T1);
            for (int j = 0; j < nt; j++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(tw + j * tile_bytes + 32 * k));
                const __m256i ea = _mm256_permutexvar_epi16(v, ta);
                const __m256i eb = _mm256_permutexvar_epi16(_mm256_srli_epi16(v, 4), tb);
                const __m256i oa = _mm256_permutexvar_epi16(_mm256_srli_epi16(v, 8), ta);
                const __m256i ob = _mm256_permutexvar_epi16(_mm256_srli_epi16(v, 12), tb);
                se[j] = _mm256_add_epi16(se[j], _mm256_add_epi16(ea, eb));
                so[j] = _mm256_add_epi16(so[j], _mm256_add_epi16(oa, ob));
            }
        }
        for (int j = 0; j < nt; j++) {
            _mm512_storeu_si512(even[j], _mm512_add_epi32(_mm512_loadu_si512(even[j]), _mm512_cvtepi16_epi32(se[j])));
            _mm512_storeu_si512(odd[j], _mm512_add_epi32(_mm512_loadu_si512(odd[j]), _mm512_cvtepi16_epi32(so[j])));
        }
    }
    for (int j = 0; j < nt; j++)
        for (int i = 0; i < 16; i++) {
            dot[j * BMK_TLUT_ROWS + 2 * i] = even[j][i];
            dot[j * BMK_TLUT_ROWS + 2 * i + 1] = odd[j][i];
        }
}

void bmk_gemv_tlut_avx512(const bmk_tensor *w, const void *act, float *y, int64_t r0, int64_t r1)
{
    const bmk_act_header *h = (const bmk_act_header *)act;
    const uint8_t *tab = (const uint8_t *)BMK_ACT_CDATA(act);
    const int64_t steps = bmk_round_up(w->cols, BMK_TLUT_COLS) / 4, tile_bytes = 32 * steps;
    const __m256i *words = words_of(tab, steps);
    if (!words) { /* out of memory for a few hundred KiB: the reference gives the same bits */
        bmk_gemv_tlut_generic(w, act, y, r0, r1);
        return;
    }
    int32_t dot[LUT_TILES * BMK_TLUT_ROWS];
    for (int64_t t0 = r0; t0 < r1; t0 += LUT_TILES * BMK_TLUT_ROWS) {
        const uint8_t *tw = w->data + t0 * steps;
        const int64_t left = (r1 - t0 + BMK_TLUT_ROWS - 1) / BMK_TLUT_ROWS; /* tiles left in the slice */
        switch (left >= LUT_TILES ? LUT_TILES : left) {
        case 4: tiles_dot(tw, tile_bytes, words, steps, 4, dot); break;
        case 3: tiles_dot(tw, tile_bytes, words, steps, 3, dot); break;
        case 2: tiles_dot(tw, tile_bytes, words, steps, 2, dot); break;
        default: tiles_dot(tw, tile_bytes, words, steps, 1, dot); break;
        }
        const int64_t n = r1 - t0 < LUT_TILES * BMK_TLUT_ROWS ? r1 - t0 : LUT_TILES * BMK_TLUT_ROWS;
        for (int64_t i = 0; i < n; i++) y[t0 - r0 + i] = bmk_int_out(dot[i], w->scale, h);
    }
}

BMK_TLUT_PREP_X86(avx512)
