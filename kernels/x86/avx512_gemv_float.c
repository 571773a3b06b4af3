/* AVX-512 flavour of the float GEMVs (f32, f16): the vector API, then the shared bodies. */
#include "avx512_vec.h"
#include "../gemv_float_simd.h"
