/* avx2 flavour of the attn family: the vector API, then the shared bodies. */
#include "avx2_vec.h"
#include "../attn_simd.h"
