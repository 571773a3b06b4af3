/* AVX-512 flavour of the bandwidth probe: the vector API, then the shared bodies. */
#include "avx512_vec.h"
#include "../probe_simd.h"
