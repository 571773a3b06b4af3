/* formats.c: the one table of weight formats (ggml's type-traits idea).  Each entry says how a
 * format is laid out and which function prepares activations and computes a GEMV per flavour. */
#include <string.h>

#include "flavours.h"
#include "formats.h"

/* f32: plain row-major float rows; activations are the float vector itself. */
static size_t f32_data_bytes(int64_t rows, int64_t cols) { return (size_t)(rows * cols) * 4; }
static size_t f32_act_bytes(int64_t cols) { return BMK_ACT_OFFSET + (size_t)cols * 4; }
static void f32_prep(const float *x, int64_t cols, void *act)
{
    bmk_act_header *h = (bmk_act_header *)act;
    h->inv_scale = 1.0f;
    h->sum = 0;
    h->cols = cols;
    memcpy(BMK_ACT_DATA(act), x, (size_t)cols * 4);
}

const bmk_format bmk_formats[] = {
    {.name = "f32", .bpw = 32, .block = 1, .row_tile = 1, .exact = 0,
     .data_bytes = f32_data_bytes, .act_bytes = f32_act_bytes, .prep = f32_prep,
     .gemv = BMK_ALL_FLAVOURS(bmk_gemv_f32)},
};
const int bmk_n_formats = sizeof bmk_formats / sizeof bmk_formats[0];

int bmk_format_from_name(const char *name)
{
    for (int i = 0; i < bmk_n_formats; i++)
        if (strcmp(bmk_formats[i].name, name) == 0) return i;
    return -1;
}
