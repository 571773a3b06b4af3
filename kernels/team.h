/* team.h: OpenMP teams.  threads.c runs one kernel on a team (bmk_gemv, bmk_ssm_step, bmk_attn);
 * the decode engines (decode.c, transformer.c) keep one team, one parallel region, per token,
 * across all of the token's kernels: thread 0 does the serial parts (norms, conv, RoPE, prep,
 * residuals), every thread its share of each GEMV (bmk_gemv_slice) and of the shared attention or
 * state update, with a barrier between phases.  A fork/join per GEMV (49 per BitMamba-2 255M token,
 * ~113 per llama-1b token) costs more than a barrier.  A team of one runs the same code with no
 * region and no barrier. */
#ifndef BMK_TEAM_H
#define BMK_TEAM_H
#include "bmk.h"

#ifdef _OPENMP
#include <omp.h>
#define BMK_TEAM_ID() omp_get_thread_num()
#define BMK_TEAM_SIZE() omp_get_num_threads()
#else
#define BMK_TEAM_ID() 0
#define BMK_TEAM_SIZE() 1
#endif

/* a barrier of the token's team of nt threads */
#define BMK_TEAM_BARRIER(nt)                                                                        \
    do {                                                                                            \
        if ((nt) > 1) {                                                                             \
            _Pragma("omp barrier")                                                                  \
        }                                                                                           \
    } while (0)

/* The one split of items across a team: thread id of nt takes [n id / nt, n (id + 1) / nt),
 * contiguous, so each thread streams its own part of a matrix (or its own heads). */
static inline void bmk_team_share(int64_t n, int64_t id, int64_t nt, int64_t *lo, int64_t *hi)
{
    *lo = n * id / nt, *hi = n * (id + 1) / nt;
}

/* The tokens of a batch a thread owns for the per-token phases (norms, preps, residuals): blocks of
 * ceil(n / nt), so a batch of one token is thread 0's, the thread that runs the serial phases. */
static inline void bmk_team_tokens(int64_t n, int64_t id, int64_t nt, int64_t *lo, int64_t *hi)
{
    const int64_t per = (n + nt - 1) / nt;
    *lo = id * per < n ? id * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

/* body(args..., id, nt) on every thread of a team of `threads` (0: the default count) */
#define BMK_TEAM_RUN(threads, body, ...)                                                            \
    do {                                                                                            \
        const int team_n_ = (threads) > 0 ? (threads) : bmk_default_threads();                     \
        if (team_n_ <= 1) {                                                                         \
            body(__VA_ARGS__, 0, 1);                                                                \
        } else {                                                                                    \
            _Pragma("omp parallel num_threads(team_n_)")                                            \
            body(__VA_ARGS__, BMK_TEAM_ID(), BMK_TEAM_SIZE());                                      \
        }                                                                                           \
    } while (0)
#endif
