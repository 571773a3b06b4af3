/* tools/stream_read.c: an independent, plain C STREAM-style read check for `bmbench probe` (and for
 * its DRAM read bound: tests/test_probe.py runs both, interleaved, and wants them within 10%).
 *
 *   gcc -O3 -march=native -ffast-math -fopenmp tools/stream_read.c -o /tmp/stream_read
 *   OMP_NUM_THREADS=1 /tmp/stream_read [MiB] [trials]
 *
 * -ffast-math lets the compiler vectorise the sum with several accumulators; without it the loop is
 * bound by the add latency (one dependent add per element), not by memory.
 *
 * Sums a double array (default 512 MiB) with an OpenMP parallel loop, as STREAM's kernels do, and
 * prints the best and the median GB/s over the trials (8 bytes read per element). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 512;
    int trials = argc > 2 ? atoi(argv[2]) : 10;
    size_t n = mib * 1024 * 1024 / 8;
    /* 2 MiB-aligned and huge pages advised, as NumPy does for the large arrays bmbench's probe reads
     * (without them 4 KiB pages cost ~15% of one core's DRAM read bandwidth here in TLB misses) */
    double *a = aligned_alloc(2 << 20, (n * sizeof(double) + (2 << 20) - 1) / (2 << 20) * (2 << 20));
    double sum = 0, bw[100];
#ifdef MADV_HUGEPAGE
    if (a) madvise(a, n * sizeof *a, MADV_HUGEPAGE);
#endif
    if (!a || trials < 1 || trials > 100) return 1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = 1.0;
    for (int t = 0; t < trials; t++) {
        double s = 0, t0 = omp_get_wtime();
#pragma omp parallel for schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        bw[t] = n * 8.0 / (omp_get_wtime() - t0) / 1e9;
        sum += s;
    }
    qsort(bw, trials, sizeof bw[0], cmp);
    printf("threads %d  size %zu MiB  read GB/s: best %.2f  median %.2f  (checksum %.0f)\n",
           omp_get_max_threads(), mib, bw[trials - 1], bw[trials / 2], sum);
    free(a);
    return 0;
}
