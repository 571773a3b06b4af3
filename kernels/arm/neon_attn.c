/* NEON flavour of the attn family (native on aarch64, SIMDe on x86): the vector API, then the
 * shared bodies. */
#include "neon_vec.h"
#include "../attn_simd.h"
