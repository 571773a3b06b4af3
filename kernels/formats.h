/* formats.h: helpers shared by the format entries and their kernels. */
#ifndef BMK_FORMATS_H
#define BMK_FORMATS_H
#include "bmk.h"

/* Every activation buffer starts with a bmk_act_header; the format's data follows at a 64-byte
 * offset so SIMD loads of it are aligned when the buffer is. */
#define BMK_ACT_OFFSET 64
#define BMK_ACT_DATA(act) ((void *)((uint8_t *)(act) + BMK_ACT_OFFSET))
#define BMK_ACT_CDATA(act) ((const void *)((const uint8_t *)(act) + BMK_ACT_OFFSET))

static inline int64_t bmk_round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
#endif
