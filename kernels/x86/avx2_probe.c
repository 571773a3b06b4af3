/* AVX2 + FMA + F16C flavour of the bandwidth probe: the vector API, then the shared bodies. */
#include "avx2_vec.h"
#include "../probe_simd.h"
