/* test_hooks.c: compiled only into test builds (meson -Dtest_hooks=true), never into a release:
 * known slowdowns for the regression gate's catch-rate evidence (benchmarks/gate_evidence.py).
 *
 *   BMBENCH_TEST_SLOWDOWN=kernel:FORMAT:FRACTION   every SIMD GEMV of format id FORMAT (the scalar
 *                                                   reference untouched) does FRACTION more work
 *   BMBENCH_TEST_SLOWDOWN=decode:FRACTION          every linear layer of the Mamba-2 decode loop
 *                                                   does FRACTION more work
 *
 * The extra work is real work of the same kind: whole row tiles of the same GEMV recomputed into a
 * scratch buffer, FRACTION of the matrix's rows per call on average (a fractional remainder carries
 * over to the next call), so a slowdown shows in time and in instruction counts alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bmk.h"

typedef struct { int site, format; double fraction, debt; } slowdown;
enum { SITE_NONE, SITE_KERNEL, SITE_DECODE };

static slowdown parse(void)
{
    slowdown s = {SITE_NONE, -1, 0.0, 0.0};
    const char *e = getenv("BMBENCH_TEST_SLOWDOWN");
    if (!e || !*e) return s;
    if (sscanf(e, "kernel:%d:%lf", &s.format, &s.fraction) == 2) s.site = SITE_KERNEL;
    else if (sscanf(e, "decode:%lf", &s.fraction) == 1) s.site = SITE_DECODE;
    else fprintf(stderr, "bmbench test build: ignoring BMBENCH_TEST_SLOWDOWN=%s\n", e);
    return s;
}

static slowdown *active(void)
{
    static slowdown s;
    static int parsed;
    if (!parsed) { s = parse(); parsed = 1; }
    return &s;
}

/* recompute fraction x rows of w (whole tiles, the remainder carried) into scratch, 1 thread */
static void redo_rows(slowdown *s, int format, int flavour, const bmk_tensor *w, const void *act)
{
    static float *scratch;
    static int64_t capacity;
    const bmk_format *f = &bmk_formats[format];
    const int64_t tile = f->row_tile, all = (w->rows + tile - 1) / tile;
    s->debt += s->fraction * (double)all;
    int64_t tiles = (int64_t)s->debt;
    s->debt -= (double)tiles;
    if (tiles > 0 && capacity < w->rows) {
        free(scratch);
        scratch = malloc((size_t)w->rows * sizeof *scratch);
        capacity = scratch ? w->rows : 0;
        if (!scratch) return;
    }
    for (; tiles > 0; tiles -= all < tiles ? all : tiles) {
        const int64_t n = all < tiles ? all : tiles, r1 = n * tile < w->rows ? n * tile : w->rows;
        f->gemv[flavour](w, act, scratch, 0, r1);
    }
}

void bmk_test_slowdown_kernel(int format, int flavour, const bmk_tensor *w, const void *act)
{
    slowdown *s = active();
    if (s->site == SITE_KERNEL && s->format == format && flavour != BMK_SCALAR)
        redo_rows(s, format, flavour, w, act);
}

void bmk_test_slowdown_decode(int format, int flavour, const bmk_tensor *w, const void *act)
{
    slowdown *s = active();
    if (s->site == SITE_DECODE) redo_rows(s, format, flavour, w, act);
}
