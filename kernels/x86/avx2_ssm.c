/* AVX2 + FMA + F16C flavour of the ssm family: the vector API, then the shared bodies. */
#include "avx2_vec.h"
#include "../ssm_simd.h"
