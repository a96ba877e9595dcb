"""The CUDA C of the CuPy kernels (:mod:`refpe.kernels.cupy`), one template for float32 and
float64: every product and sum spelled with the ``__fmul_rn``/``__dadd_rn`` intrinsics (never
contracted into a fused multiply-add), every loop a grid-stride loop."""

from __future__ import annotations

#: The CUDA C of every kernel, for ``$T`` (``float``/``double``) and suffix ``$S``.
SOURCE = r"""
extern "C" {

__global__ void rope_half_$S(const $T* x, $T* y, const $T* cs, const $T* sn,
                             long long rows, long long T, long long D, long long r) {
    const long long h = r / 2, w = D - h, n = rows * w;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < n;
         k += (long long)blockDim.x * gridDim.x) {
        const long long row = k / w, j = k - row * w, base = row * D;
        if (j < h) {
            const long long t = (row % T) * h + j;
            const $T a = x[base + j], b = x[base + h + j], c = cs[t], s = sn[t];
            y[base + j] = $SUB($MUL(a, c), $MUL(b, s));
            y[base + h + j] = $ADD($MUL(b, c), $MUL(a, s));
        } else {
            y[base + r + (j - h)] = x[base + r + (j - h)];
        }
    }
}

__global__ void rope_interleaved_$S(const $T* x, $T* y, const $T* cs, const $T* sn,
                                    long long rows, long long T, long long D, long long r) {
    const long long h = r / 2, w = D - h, n = rows * w;
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < n;
         k += (long long)blockDim.x * gridDim.x) {
        const long long row = k / w, j = k - row * w, base = row * D;
        if (j < h) {
            const long long t = (row % T) * h + j;
            const $T a = x[base + 2 * j], b = x[base + 2 * j + 1], c = cs[t], s = sn[t];
            y[base + 2 * j] = $SUB($MUL(a, c), $MUL(b, s));
            y[base + 2 * j + 1] = $ADD($MUL(b, c), $MUL(a, s));
        } else {
            y[base + r + (j - h)] = x[base + r + (j - h)];
        }
    }
}

__global__ void sinusoid_$S($T* y, const double* sa, const double* ca, const double* sb,
                            const double* cb, long long n, long long d, long long m,
                            int interleaved) {
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < n * d;
         k += (long long)blockDim.x * gridDim.x) {
        const long long p = k / d, j = k - p * d;
        const long long f = interleaved ? j / 2 : (j < m ? j : j - m);
        const int cosine = interleaved ? (int)(j & 1) : (j >= m);
        if (f >= m) {
            y[k] = ($T)0;
            continue;
        }
        const long long a = (p / 64) * m + f, b = (p % 64) * m + f;
        /* sin(a + b) + i cos(a + b) = (sin a + i cos a)(cos b - i sin b) */
        const double v = cosine ? __dsub_rn(__dmul_rn(ca[a], cb[b]), __dmul_rn(sa[a], sb[b]))
                                : __dadd_rn(__dmul_rn(sa[a], cb[b]), __dmul_rn(ca[a], sb[b]));
        y[k] = ($T)v;
    }
}

__global__ void lookup_$S(const long long* ids, const $T* table, $T* y, long long n,
                          long long d, $T scale, int scaled) {
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < n * d;
         k += (long long)blockDim.x * gridDim.x) {
        const long long s = k / d, j = k - s * d;
        const $T v = table[ids[s] * d + j];
        y[k] = scaled ? $MUL(v, scale) : v;
    }
}

__global__ void input_add_$S(const long long* ids, const $T* table, const $T* pe, $T* y,
                             long long n, long long T, long long d, long long start,
                             $T scale) {
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < n * d;
         k += (long long)blockDim.x * gridDim.x) {
        const long long s = k / d, j = k - s * d, t = s % T;
        y[k] = $ADD($MUL(table[ids[s] * d + j], scale), pe[(start + t) * d + j]);
    }
}

__global__ void segment_sums_$S(const long long* order, const long long* starts,
                                const long long* counts, const long long* rows_out,
                                const $T* g, $T* out, long long nseg, long long d, int mean) {
    for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < nseg * d;
         k += (long long)blockDim.x * gridDim.x) {
        const long long q = k / d, j = k - q * d, a = starts[q], b = starts[q] + counts[q];
        double acc = 0.0;
        for (long long i = a; i < b; ++i) {
            acc = __dadd_rn(acc, (double)g[order[i] * d + j]);
        }
        if (mean) {
            acc = __ddiv_rn(acc, (double)counts[q]);
        }
        out[rows_out[q] * d + j] = ($T)acc;
    }
}

}
"""

_TYPES = {
    "float32": ("float", "f32", "__fmul_rn", "__fadd_rn", "__fsub_rn"),
    "float64": ("double", "f64", "__dmul_rn", "__dadd_rn", "__dsub_rn"),
}


def source(dtype: str) -> str:
    """The CUDA C of every kernel for ``dtype`` (``"float32"`` or ``"float64"``)."""
    if dtype not in _TYPES:
        raise ValueError(f"dtype must be one of {', '.join(_TYPES)}, got {dtype!r}")
    t, s, mul, add, sub = _TYPES[dtype]
    code = SOURCE
    # $SUB before $S (a prefix of it)
    for key, value in (("$SUB", sub), ("$MUL", mul), ("$ADD", add), ("$T", t), ("$S", s)):
        code = code.replace(key, value)
    return code
