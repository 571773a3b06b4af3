/* NEON flavour of the bandwidth probe (native on aarch64, SIMDe on x86): the vector API, then the
 * shared bodies. */
#include "neon_vec.h"
#include "../probe_simd.h"
