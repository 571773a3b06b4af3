/* AVX-512 (F/BW/VL/DQ) flavour of the ssm family: the vector API, then the shared bodies. */
#include "avx512_vec.h"
#include "../ssm_simd.h"
