/* avx512 flavour of the attn family: the vector API, then the shared bodies. */
#include "avx512_vec.h"
#include "../attn_simd.h"
