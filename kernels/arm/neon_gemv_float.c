/* NEON flavour of the float GEMVs (f32, f16; native on aarch64, SIMDe on x86): the vector API, then
 * the shared bodies. */
#include "neon_vec.h"
#include "../gemv_float_simd.h"
