// kernels.cpp — Proxima's own CPU kernels for the small networks of reinforcement learning (used through
// fast_kernels.h by the FastKernels target only):
//
// 1. A float32 tanh (and its derivative) on raw arrays: (e^{2|x|} − 1)/(e^{2|x|} + 1) with its own expm1, within 2.5
//    float32 ulps of the exact value (the worst case, 2.42 ulp, is near |x| = 0.0156; tested on a dense grid), in a
//    loop the compiler vectorises.
// 2. A whole multilayer perceptron (dense layers with tanh, ReLU or no activation) as one autograd node. The forward
//    pass is one product per layer plus the activation in place; the backward pass is two products and one fused
//    activation-derivative loop per layer. Compared with recording each linear and activation as its own node this
//    removes most of libtorch's per-operation cost, which dominates for the small shapes of RL policies.
//
// 3. Small float32 matrix products with widths a multiple of 16, by a register-tiled AVX2 kernel (x86 only).
//
// Loops are written once in portable C++. On x86-64 each is also compiled for AVX2/FMA and that copy is picked at
// run time when the CPU has it; defining PROXIMA_PORTABLE_KERNELS (or building for another CPU) compiles only the
// portable copies and sends every product to the BLAS, which is how the portable path is tested on x86 machines.
#include "fast_kernels.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <cmath>
#include <dlfcn.h>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && !defined(PROXIMA_PORTABLE_KERNELS)
#define FK_X86_COPIES 1
#include <immintrin.h>
#else
#define FK_X86_COPIES 0
#endif

namespace ctorch {
namespace {

// ---- float32 tanh ----------------------------------------------------------------------------------------------

// e^y − 1 for 0 ≤ y ≤ 40, accurate in relative terms also for tiny y: y = k·ln2 + r with |r| ≤ ln2/2,
// e^r − 1 = r + r²/2! + … + r⁷/7! (truncation below 1e-8 relative), then e^y − 1 = 2^k·(e^r − 1) + (2^k − 1), with
// 2^k put straight into the exponent bits (k is in [0, 58]; for a NaN argument the bits are garbage but r is NaN).
__attribute__((always_inline)) inline float expm1_nonnegative(float y) {
  const float k = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (y - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  const float em1_r = r + r * r * p;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return scale * em1_r + (scale - 1.0f);
}

// tanh|x| = (e^{2|x|} − 1) / (e^{2|x|} + 1), given x's sign at the end (which also keeps tanh(−0) = −0).
__attribute__((always_inline)) inline float tanh_one(float x) {
  // Above |x| = 20 tanh is 1 in float32; written so that a NaN input stays NaN.
  const float y = 2.0f * std::fabs(x);
  const float em1 = expm1_nonnegative(40.0f < y ? 40.0f : y);
  return std::copysign(em1 / (em1 + 2.0f), x);
}

// `in` and `out` are either the same array or do not overlap; the two cases are separate loops because a loop over
// possibly aliasing pointers is vectorised only behind a run-time overlap check that exact aliasing fails. Inlined
// into a plain and an AVX2/FMA function, so the compiler vectorises it once for each instruction set.
__attribute__((always_inline)) inline void tanh_loop(const float *in, float *out, int64_t n) {
  if (in == out) {
    for (int64_t i = 0; i < n; ++i) out[i] = tanh_one(out[i]);
  } else {
    const float *__restrict src = in;
    float *__restrict dst = out;
    for (int64_t i = 0; i < n; ++i) dst[i] = tanh_one(src[i]);
  }
}

void tanh_generic(const float *in, float *out, int64_t n) { tanh_loop(in, out, n); }

#if FK_X86_COPIES
__attribute__((target("avx2,fma"))) void tanh_avx2(const float *in, float *out, int64_t n) { tanh_loop(in, out, n); }
#endif

}  // namespace

bool has_avx2() {
#if FK_X86_COPIES
  static const bool value = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return value;
#else
  return false;
#endif
}

void tanh_f32(const float *in, float *out, int64_t n) {
#if FK_X86_COPIES
  if (has_avx2()) return tanh_avx2(in, out, n);
#endif
  tanh_generic(in, out, n);
}

// ---- the fused multilayer perceptron ---------------------------------------------------------------------------

// Raw-pointer building blocks, shared with the fused PPO step (ppo.cpp); declared in kernels.h.

template <typename T>
__attribute__((always_inline)) inline void bias_activate_body(T *rows, const T *shift, int64_t batch, int64_t width,
                                                              int32_t activation) {
  if (shift) {
    for (int64_t i = 0; i < batch; ++i)
      for (int64_t o = 0; o < width; ++o) rows[i * width + o] += shift[o];
  }
  if (activation == FK_MLP_RELU) {
    for (int64_t k = 0; k < batch * width; ++k) rows[k] = rows[k] > T(0) ? rows[k] : T(0);
  }
  if (activation == FK_MLP_TANH) {
    if constexpr (std::is_same_v<T, float>) {
      tanh_f32(rows, rows, batch * width);
    } else {
      for (int64_t k = 0; k < batch * width; ++k) rows[k] = std::tanh(rows[k]);
    }
  }
}


// Matrix products of dense row-major operands go straight to the BLAS inside libtorch, skipping at::mm's dispatch,
// checks and output allocation — a few microseconds per product, which adds up over the seven products of a small
// MLP's step. PyTorch's wheel links MKL statically and exports its Fortran entry points (`sgemm_`, `dgemm_`) but not
// the CBLAS ones, so the row-major product C = op(A)·op(B) is asked for as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ.
// Looked up once at run time; when absent (another libtorch build), `blas_available()` says so, the fused paths
// report that they did not run (fk_path_counts) and the composed ATen operations are used instead.
using fortran_sgemm = void (*)(const char *, const char *, const int *, const int *, const int *, const float *,
                               const float *, const int *, const float *, const int *, const float *, float *,
                               const int *);
using fortran_dgemm = void (*)(const char *, const char *, const int *, const int *, const int *, const double *,
                               const double *, const int *, const double *, const int *, const double *, double *,
                               const int *);

namespace {
struct Blas {
  fortran_sgemm sgemm = nullptr;
  fortran_dgemm dgemm = nullptr;
  int (*set_local_threads)(int) = nullptr;
  Blas() {
    sgemm = reinterpret_cast<fortran_sgemm>(dlsym(RTLD_DEFAULT, "sgemm_"));
    dgemm = reinterpret_cast<fortran_dgemm>(dlsym(RTLD_DEFAULT, "dgemm_"));
    set_local_threads = reinterpret_cast<int (*)(int)>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads_Local"));
  }
};

const Blas &blas() {
  static const Blas instance;
  return instance;
}

template <typename T, typename F>
void row_major_gemm(F f, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda,
                    const T *b, int64_t ldb, T beta, T *c, int64_t ldc) {
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  const int M = static_cast<int>(n), N = static_cast<int>(m), K = static_cast<int>(k);
  const int LDA = static_cast<int>(ldb), LDB = static_cast<int>(lda), LDC = static_cast<int>(ldc);
  const T one = 1;
  f(&ta, &tb, &M, &N, &K, &one, b, &LDA, a, &LDB, &beta, c, &LDC);
}
}  // namespace

bool blas_available() { return blas().sgemm && blas().dgemm; }

const char *blas_name() { return blas_available() ? "MKL (libtorch's, Fortran interface)" : "none found"; }

BlasThreadLimit::BlasThreadLimit(int threads) {
  if (blas().set_local_threads) {
    previous_ = blas().set_local_threads(threads);
    active_ = true;
  }
}

BlasThreadLimit::~BlasThreadLimit() {
  // MKL's thread-local setting: 0 returns this thread to the global count.
  if (active_) blas().set_local_threads(previous_);
}

// Small float32 products (the 256×64×64 shapes of RL policies) by our own AVX2 kernel: a tile of up to 6 rows by 16
// columns of C stays in twelve registers while k runs, one row of B (two vectors) and one broadcast element of A per
// row and step. It beats MKL's sgemm on these shapes because it skips the packing of both operands that a general
// BLAS does on every call (measured in docs/benchmarks.md). Element (i, p) of A is a[i·a_row + p·a_col], so Aᵀ
// needs no copy. Only in the x86 build; elsewhere (and with PROXIMA_PORTABLE_KERNELS) every product goes to the BLAS.
#if FK_X86_COPIES
namespace {

template <int R>
__attribute__((target("avx2,fma"), always_inline)) inline void product_tile(const float *a, int64_t a_row,
                                                                            int64_t a_col, const float *b, int64_t ldb,
                                                                            float *c, int64_t ldc, int64_t k,
                                                                            bool accumulate) {
  __m256 low[R], high[R];
  for (int r = 0; r < R; ++r) {
    low[r] = accumulate ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
    high[r] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < k; ++p) {
    const __m256 b_low = _mm256_loadu_ps(b + p * ldb), b_high = _mm256_loadu_ps(b + p * ldb + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(a + r * a_row + p * a_col);
      low[r] = _mm256_fmadd_ps(x, b_low, low[r]);
      high[r] = _mm256_fmadd_ps(x, b_high, high[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(c + r * ldc, low[r]);
    _mm256_storeu_ps(c + r * ldc + 8, high[r]);
  }
}

// c[m, n] (+)= A·b for n a multiple of 16, b row-major [k, n].
__attribute__((target("avx2,fma"))) void small_product(int64_t m, int64_t n, int64_t k, const float *a, int64_t a_row,
                                                       int64_t a_col, const float *b, int64_t ldb, float *c,
                                                       int64_t ldc, bool accumulate) {
  for (int64_t j = 0; j < n; j += 16) {
    int64_t i = 0;
    for (; i + 6 <= m; i += 6)
      product_tile<6>(a + i * a_row, a_row, a_col, b + j, ldb, c + i * ldc + j, ldc, k, accumulate);
    const float *ai = a + i * a_row;
    float *ci = c + i * ldc + j;
    switch (m - i) {
      case 5: product_tile<5>(ai, a_row, a_col, b + j, ldb, ci, ldc, k, accumulate); break;
      case 4: product_tile<4>(ai, a_row, a_col, b + j, ldb, ci, ldc, k, accumulate); break;
      case 3: product_tile<3>(ai, a_row, a_col, b + j, ldb, ci, ldc, k, accumulate); break;
      case 2: product_tile<2>(ai, a_row, a_col, b + j, ldb, ci, ldc, k, accumulate); break;
      case 1: product_tile<1>(ai, a_row, a_col, b + j, ldb, ci, ldc, k, accumulate); break;
      default: break;
    }
  }
}

// Operands up to this many multiply-adds stay in cache; larger products go to BLAS.
constexpr int64_t kSmallProduct = int64_t(1) << 23;

// Whether gemm<T> computes an [m, n] by k product with small_product.
template <typename T>
bool takes_small_product(int64_t m, int64_t n, int64_t k) {
  return std::is_same_v<T, float> && has_avx2() && n % 16 == 0 && m * n * k <= kSmallProduct;
}

}  // namespace
#else
namespace {
template <typename T>
bool takes_small_product(int64_t, int64_t, int64_t) { return false; }
void small_product(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, int64_t, float *, int64_t,
                   bool) {}
}  // namespace
#endif

template <>
bool gemm<float>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m == 0 || n == 0 || k == 0) return false;
  const bool own = takes_small_product<float>(m, n, k) && (beta == 0 || beta == 1);
  count_path(FK_PATH_SMALL_PRODUCT, own);
  if (own) {
    const int64_t a_row = trans_a ? 1 : lda, a_col = trans_a ? lda : 1;
    if (!trans_b) {
      small_product(m, n, k, a, a_row, a_col, b, ldb, c, ldc, beta == 1);
    } else {
      // bᵀ (b is [n, k]) copied once into row-major [k, n].
      thread_local std::vector<float> transposed;
      transposed.resize(static_cast<size_t>(k * n));
      for (int64_t j = 0; j < n; ++j)
        for (int64_t p = 0; p < k; ++p) transposed[p * n + j] = b[j * ldb + p];
      small_product(m, n, k, a, a_row, a_col, transposed.data(), n, c, ldc, beta == 1);
    }
    return true;
  }
  if (!blas().sgemm) return false;
  row_major_gemm(blas().sgemm, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
  return true;
}

template <>
bool gemm<double>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                  const double *b, int64_t ldb, double beta, double *c, int64_t ldc) {
  if (m == 0 || n == 0 || k == 0 || !blas().dgemm) return false;
  row_major_gemm(blas().dgemm, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
  return true;
}

// The backward products of layers with at most kThin outputs (a policy or value head) are computed with plain loops:
// a BLAS call spends more time setting such products up than on their arithmetic (measurements in
// docs/benchmarks.md).

template <typename T>
__attribute__((always_inline)) inline void thin_weight_gradient_body(const T *g, const T *h, T *dw, int64_t batch,
                                                                     int64_t outs, int64_t in) {
  std::fill(dw, dw + outs * in, T(0));
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t o = 0; o < outs; ++o) {
      const T scale = g[i * outs + o];
      const T *x = h + i * in;
      T *row = dw + o * in;
      for (int64_t k = 0; k < in; ++k) row[k] += scale * x[k];
    }
}

template <typename T>
__attribute__((always_inline)) inline void thin_input_gradient_body(const T *g, const T *w, T *gin, int64_t batch,
                                                                    int64_t outs, int64_t in) {
  for (int64_t i = 0; i < batch; ++i) {
    T *row = gin + i * in;
    std::fill(row, row + in, T(0));
    for (int64_t o = 0; o < outs; ++o) {
      const T scale = g[i * outs + o];
      const T *wr = w + o * in;
      for (int64_t k = 0; k < in; ++k) row[k] += scale * wr[k];
    }
  }
}


// g[B, W] ← g · activation'(y) in place, and db[W] = Σ over the batch of the result (db may be null): one pass over
// g instead of two.
template <typename T>
__attribute__((always_inline)) inline void activation_bias_backward_body(T *g, const T *y, T *db, int64_t batch,
                                                                         int64_t width, int32_t activation) {
  if (db) std::fill(db, db + width, T(0));
  for (int64_t i = 0; i < batch; ++i) {
    T *__restrict row = g + i * width;
    const T *__restrict out = y + i * width;
    if (activation == FK_MLP_TANH) {
      for (int64_t o = 0; o < width; ++o) row[o] *= T(1) - out[o] * out[o];
    } else if (activation == FK_MLP_RELU) {
      for (int64_t o = 0; o < width; ++o) row[o] = out[o] > T(0) ? row[o] : T(0);
    }
    if (db) {
      T *__restrict sum = db;
      for (int64_t o = 0; o < width; ++o) sum[o] += row[o];
    }
  }
}

// y[B, O] += x·Wᵀ for inputs of at most kThin features (a first layer on raw observations): a loop vectorised over
// the outputs beats a BLAS call on such a short reduction.
template <typename T>
__attribute__((always_inline)) inline void narrow_input_product_body(const T *x, const T *w, int64_t batch,
                                                                   int64_t in, int64_t out, T *y,
                                                                   std::vector<T> &transposed) {
  transposed.resize(static_cast<size_t>(in * out));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t k = 0; k < in; ++k) transposed[k * out + o] = w[o * in + k];
  for (int64_t i = 0; i < batch; ++i) {
    T *__restrict row = y + i * out;
    for (int64_t k = 0; k < in; ++k) {
      const T xk = x[i * in + k];
      const T *__restrict wt = transposed.data() + k * out;
      for (int64_t o = 0; o < out; ++o) row[o] += xk * wt[o];
    }
  }
}

// dw[O, I] = gᵀ·h for inputs of at most kThin features (a first layer's weight gradient): accumulated transposed,
// [I, O], so that the loop runs vectorised over the outputs, then transposed into place.
template <typename T>
__attribute__((always_inline)) inline void narrow_weight_gradient_body(const T *g, const T *h, T *dw, int64_t batch,
                                                                     int64_t outs, int64_t in,
                                                                     std::vector<T> &transposed) {
  transposed.assign(static_cast<size_t>(in * outs), T(0));
  for (int64_t i = 0; i < batch; ++i) {
    const T *__restrict gi = g + i * outs;
    for (int64_t k = 0; k < in; ++k) {
      const T hk = h[i * in + k];
      T *__restrict acc = transposed.data() + k * outs;
      for (int64_t o = 0; o < outs; ++o) acc[o] += hk * gi[o];
    }
  }
  for (int64_t o = 0; o < outs; ++o)
    for (int64_t k = 0; k < in; ++k) dw[o * in + k] = transposed[k * outs + o];
}

// y[B, O] += x·Wᵀ for layers of at most kThin outputs (a policy or value head): one dot product per output; a BLAS
// call costs more to set up than these few products. The dot product keeps 16 independent partial sums (what two
// AVX registers hold), so it vectorises without reassociating a single sum, and adds them in a fixed order.
template <typename T>
__attribute__((always_inline)) inline void thin_output_product_body(const T *x, const T *w, int64_t batch, int64_t in,
                                                                  int64_t out, T *y) {
  constexpr int64_t kLanes = 16;
  const int64_t whole = in - in % kLanes;
  for (int64_t i = 0; i < batch; ++i) {
    const T *__restrict xi = x + i * in;
    for (int64_t o = 0; o < out; ++o) {
      const T *__restrict wo = w + o * in;
      T lanes[kLanes] = {};
      for (int64_t k = 0; k < whole; k += kLanes)
        for (int64_t j = 0; j < kLanes; ++j) lanes[j] += xi[k + j] * wo[k + j];
      T sum = 0;
      for (int64_t j = 0; j < kLanes; ++j) sum += lanes[j];
      for (int64_t k = whole; k < in; ++k) sum += xi[k] * wo[k];
      y[i * out + o] += sum;
    }
  }
}

// The loops above are written once and compiled twice, for the baseline instruction set and for AVX2/FMA (twice the
// vector width); the copy is picked at run time, as for tanh.
#if FK_X86_COPIES
#define CTORCH_TWICE(name, params, args)                                                                              \
  template <typename T>                                                                                             \
  void name##_generic params { name##_body<T> args; }                                                               \
  template <typename T>                                                                                             \
  __attribute__((target("avx2,fma"))) void name##_avx2 params { name##_body<T> args; }                              \
  template <typename T>                                                                                             \
  void name params { (has_avx2() ? name##_avx2<T> : name##_generic<T>) args; }
#else
#define CTORCH_TWICE(name, params, args)                                                                              \
  template <typename T>                                                                                             \
  void name params { name##_body<T> args; }
#endif
CTORCH_TWICE(bias_activate, (T *rows, const T *shift, int64_t batch, int64_t width, int32_t activation),
             (rows, shift, batch, width, activation))
CTORCH_TWICE(thin_weight_gradient, (const T *g, const T *h, T *dw, int64_t batch, int64_t outs, int64_t in),
             (g, h, dw, batch, outs, in))
CTORCH_TWICE(thin_input_gradient, (const T *g, const T *w, T *gin, int64_t batch, int64_t outs, int64_t in),
             (g, w, gin, batch, outs, in))
CTORCH_TWICE(narrow_input_product,
             (const T *x, const T *w, int64_t batch, int64_t in, int64_t out, T *y, std::vector<T> &transposed),
             (x, w, batch, in, out, y, transposed))
CTORCH_TWICE(activation_bias_backward, (T *g, const T *y, T *db, int64_t batch, int64_t width, int32_t activation),
             (g, y, db, batch, width, activation))
CTORCH_TWICE(narrow_weight_gradient,
             (const T *g, const T *h, T *dw, int64_t batch, int64_t outs, int64_t in, std::vector<T> &transposed),
             (g, h, dw, batch, outs, in, transposed))
CTORCH_TWICE(thin_output_product, (const T *x, const T *w, int64_t batch, int64_t in, int64_t out, T *y),
             (x, w, batch, in, out, y))
#undef CTORCH_TWICE

// gᵀ·h, the gradient of a weight, summed over the batch in blocks: some BLAS libraries multiply these tall-and-thin
// operands (a long reduction over the batch, 64-256 features) at a fraction of their usual speed with one thread, so
// long batches are reduced block by block (a fixed blocking, so results stay deterministic). False when no BLAS was
// found.
template <typename T>
bool weight_gradient(const T *g, const T *below, T *dw, int64_t rows, int64_t outs, int64_t ins) {
  if (rows == 0) {
    std::fill(dw, dw + outs * ins, T(0));
    return true;
  }
  if (outs <= kThin) {
    thin_weight_gradient(g, below, dw, rows, outs, ins);
    return true;
  }
  if (ins <= kThin) {
    thread_local std::vector<T> transposed;
    narrow_weight_gradient(g, below, dw, rows, outs, ins, transposed);
    return true;
  }
  if (!blas_available()) return false;
  const int64_t block = (outs <= 64 && ins <= 64) ? 128 : 64;
  // Blocks of `block` rows; the last takes the rest when that is at most half a block more.
  for (int64_t start = 0; start < rows;) {
    const int64_t n = rows - start <= block + block / 2 ? rows - start : block;
    gemm<T>(true, false, outs, ins, n, g + start * outs, outs, below + start * ins, ins, start == 0 ? T(0) : T(1), dw,
            ins);
    start += n;
  }
  return true;
}

// The bias is written into y first and the product added to it (BLAS with β = 1): that replaces both the BLAS's
// zeroing pass over y (β = 0) and a separate pass adding the bias.
template <typename T>
bool dense_forward(const T *x, const T *w, const T *b, int64_t batch, int64_t in, int64_t out, int32_t activation,
                   T *y, std::vector<T> &scratch) {
  if (batch == 0) return true;
  if (!b) {
    std::fill(y, y + batch * out, T(0));
  } else {
    for (int64_t i = 0; i < batch; ++i) std::copy(b, b + out, y + i * out);
  }
  if (in <= kThin && !takes_small_product<T>(batch, out, in)) {
    narrow_input_product(x, w, batch, in, out, y, scratch);
  } else if (out <= kThin) {
    thin_output_product(x, w, batch, in, out, y);
  } else if (!gemm<T>(false, true, batch, out, in, x, in, w, in, T(1), y, out)) {
    return false;
  }
  bias_activate(y, static_cast<const T *>(nullptr), batch, out, activation);
  return true;
}

template <typename T>
bool mlp_forward(const std::vector<DenseArrays<T>> &layers, const T *x, int64_t batch, const std::vector<T *> &outputs,
                 std::vector<T> &scratch) {
  const T *h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    const DenseArrays<T> &l = layers[i];
    if (!dense_forward(h, l.w, l.b, batch, l.in, l.out, l.activation, outputs[i], scratch)) return false;
    h = outputs[i];
  }
  return true;
}

template <typename T>
bool mlp_backward(const std::vector<DenseArrays<T>> &layers, const T *x, const std::vector<const T *> &outputs,
                  int64_t batch, std::vector<T> &grad, std::vector<T> &grad_below, T *input_grad) {
  for (size_t i = layers.size(); i-- > 0;) {
    const DenseArrays<T> &l = layers[i];
    T *g = grad.data();
    activation_bias_backward(g, outputs[i], l.db, batch, l.out, l.activation);
    if (l.dw && !weight_gradient(g, i == 0 ? x : outputs[i - 1], l.dw, batch, l.out, l.in)) return false;
    if (i == 0 && !input_grad) break;
    grad_below.resize(static_cast<size_t>(batch * l.in));
    T *below = i == 0 ? input_grad : grad_below.data();
    if (l.out <= kThin) {
      thin_input_gradient(g, l.w, below, batch, l.out, l.in);
    } else if (batch > 0 && !gemm<T>(false, false, batch, l.in, l.out, g, l.out, l.w, l.in, T(0), below, l.in)) {
      return false;
    }
    if (i == 0) break;
    std::swap(grad, grad_below);
  }
  return true;
}

#define CTORCH_INSTANTIATE(T)                                                                                      \
  template void bias_activate<T>(T *, const T *, int64_t, int64_t, int32_t);                                        \
  template void thin_weight_gradient<T>(const T *, const T *, T *, int64_t, int64_t, int64_t);                     \
  template void thin_input_gradient<T>(const T *, const T *, T *, int64_t, int64_t, int64_t);                      \
  template void activation_bias_backward<T>(T *, const T *, T *, int64_t, int64_t, int32_t);                       \
  template bool weight_gradient<T>(const T *, const T *, T *, int64_t, int64_t, int64_t);                        \
  template bool dense_forward<T>(const T *, const T *, const T *, int64_t, int64_t, int64_t, int32_t, T *,           \
                                 std::vector<T> &);                                                                \
  template bool mlp_forward<T>(const std::vector<DenseArrays<T>> &, const T *, int64_t, const std::vector<T *> &,   \
                               std::vector<T> &);                                                                  \
  template bool mlp_backward<T>(const std::vector<DenseArrays<T>> &, const T *, const std::vector<const T *> &,     \
                                int64_t, std::vector<T> &, std::vector<T> &, T *);
CTORCH_INSTANTIATE(float)
CTORCH_INSTANTIATE(double)
#undef CTORCH_INSTANTIATE

namespace {

using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::variable_list;

struct MLPBackward : public Node {
  std::vector<int32_t> activations;
  std::vector<bool> has_bias;
  SavedVariable input;
  std::vector<SavedVariable> weights;
  std::vector<SavedVariable> outputs;  // each layer's output after its activation; the last is the node's output

  std::string name() const override { return "MLPBackward"; }

  void release_variables() override {
    input.reset_data();
    for (auto &w : weights) w.reset_data();
    for (auto &o : outputs) o.reset_data();
  }

  variable_list apply(variable_list &&grads) override {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "the fused MLP does not support higher-order gradients (create_graph); build the network with "
                "fusion turned off to differentiate twice");
    const size_t layers = activations.size();
    variable_list result(num_outputs());
    if (!grads[0].defined()) return result;

    // Edge order: the input, then each layer's weight and, when it has one, its bias.
    std::vector<size_t> weight_edge(layers), bias_edge(layers);
    size_t edge = 1;
    for (size_t i = 0; i < layers; ++i) {
      weight_edge[i] = edge++;
      bias_edge[i] = has_bias[i] ? edge++ : SIZE_MAX;
    }
    auto self = c10::intrusive_ptr<Node>::unsafe_reclaim_from_nonowning(this);
    const at::Tensor x = input.unpack();
    std::vector<at::Tensor> ws(layers), ys(layers);
    for (size_t i = 0; i < layers; ++i) {
      ws[i] = weights[i].unpack().contiguous();
      ys[i] = outputs[i].unpack(i + 1 == layers ? self : nullptr);
      if (task_should_compute_output(weight_edge[i])) result[weight_edge[i]] = at::empty(ws[i].sizes(), x.options());
      if (has_bias[i] && task_should_compute_output(bias_edge[i]))
        result[bias_edge[i]] = at::empty({ws[i].size(0)}, x.options());
    }
    if (task_should_compute_output(0)) result[0] = at::empty(x.sizes(), x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mlp_backward", [&] {
      std::vector<DenseArrays<scalar_t>> arrays;
      std::vector<const scalar_t *> out_ptrs;
      for (size_t i = 0; i < layers; ++i) {
        const at::Tensor &dw = result[weight_edge[i]];
        const bool bias_wanted = has_bias[i] && result[bias_edge[i]].defined();
        arrays.push_back({ws[i].data_ptr<scalar_t>(), nullptr, dw.defined() ? dw.data_ptr<scalar_t>() : nullptr,
                          bias_wanted ? result[bias_edge[i]].data_ptr<scalar_t>() : nullptr, ws[i].size(1),
                          ws[i].size(0), activations[i]});
        out_ptrs.push_back(ys[i].data_ptr<scalar_t>());
      }
      const at::Tensor g = grads[0].contiguous();
      std::vector<scalar_t> grad(g.data_ptr<scalar_t>(), g.data_ptr<scalar_t>() + g.numel()), below;
      const bool done = mlp_backward(arrays, x.data_ptr<scalar_t>(), out_ptrs, x.size(0), grad, below,
                                     result[0].defined() ? result[0].data_ptr<scalar_t>() : nullptr);
      TORCH_CHECK(done, "fused MLP backward: no BLAS library found");
    });
    return result;
  }
};

}  // namespace

bool fused_mlp_applies(const at::Tensor &x, const std::vector<at::Tensor> &weights,
                       const std::vector<at::Tensor> &biases) {
  const auto dtype = x.scalar_type();
  if (!blas_available() || !x.device().is_cpu() || x.dim() != 2 || (dtype != at::kFloat && dtype != at::kDouble))
    return false;
  int64_t width = x.size(1);
  for (size_t i = 0; i < weights.size(); ++i) {
    const at::Tensor &w = weights[i];
    if (!w.device().is_cpu() || w.scalar_type() != dtype || w.dim() != 2 || w.size(1) != width) return false;
    if (w.layout() != at::kStrided) return false;
    const at::Tensor &b = biases[i];
    if (b.defined() && (!b.device().is_cpu() || b.scalar_type() != dtype || b.dim() != 1 || b.size(0) != w.size(0)))
      return false;
    width = w.size(0);
  }
  return true;
}

at::Tensor composed_mlp(const at::Tensor &x, const std::vector<at::Tensor> &weights,
                        const std::vector<at::Tensor> &biases, const int32_t *activations) {
  at::Tensor h = x;
  for (size_t i = 0; i < weights.size(); ++i) {
    h = at::linear(h, weights[i], biases[i].defined() ? c10::optional<at::Tensor>(biases[i]) : c10::nullopt);
    if (activations[i] == FK_MLP_TANH) h = h.tanh();
    if (activations[i] == FK_MLP_RELU) h = h.relu();
  }
  return h;
}

at::Tensor fused_mlp(const at::Tensor &input, const std::vector<at::Tensor> &weights,
                     const std::vector<at::Tensor> &biases, const int32_t *activations) {
  TORCH_CHECK(!weights.empty(), "an MLP needs at least one layer");
  for (size_t i = 0; i < weights.size(); ++i)
    TORCH_CHECK(activations[i] == FK_MLP_IDENTITY || activations[i] == FK_MLP_TANH || activations[i] == FK_MLP_RELU,
                "unknown MLP activation code ", activations[i]);
  if (input.dim() != 2) {
    TORCH_CHECK(input.dim() >= 1, "an MLP's input needs at least one dimension");
    const at::Tensor flat = input.reshape({-1, input.size(-1)});
    const at::Tensor out = fused_mlp(flat, weights, biases, activations);
    std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end() - 1);
    shape.push_back(out.size(1));
    return out.reshape(shape);
  }
  if (!fused_mlp_applies(input, weights, biases)) return composed_mlp(input, weights, biases, activations);

  bool needs_grad = false;
  if (at::GradMode::is_enabled()) {
    needs_grad = input.requires_grad();
    for (size_t i = 0; i < weights.size(); ++i)
      needs_grad = needs_grad || weights[i].requires_grad() || (biases[i].defined() && biases[i].requires_grad());
  }

  const at::Tensor x = input.contiguous();
  std::vector<at::Tensor> ws, ys;
  for (size_t i = 0; i < weights.size(); ++i) {
    ws.push_back(weights[i].contiguous());
    ys.push_back(at::empty({x.size(0), weights[i].size(0)}, x.options()));
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "mlp_forward", [&] {
    std::vector<DenseArrays<scalar_t>> arrays;
    std::vector<scalar_t *> out_ptrs;
    std::vector<at::Tensor> bs;
    for (size_t i = 0; i < weights.size(); ++i) {
      bs.push_back(biases[i].defined() ? biases[i].contiguous() : biases[i]);
      arrays.push_back({ws[i].data_ptr<scalar_t>(), bs[i].defined() ? bs[i].data_ptr<scalar_t>() : nullptr, nullptr,
                        nullptr, ws[i].size(1), ws[i].size(0), activations[i]});
      out_ptrs.push_back(ys[i].data_ptr<scalar_t>());
    }
    thread_local std::vector<scalar_t> scratch;
    TORCH_CHECK(mlp_forward(arrays, x.data_ptr<scalar_t>(), x.size(0), out_ptrs, scratch),
                "fused MLP: no BLAS library found");
  });
  at::Tensor out = ys.back();
  if (!needs_grad) return out;

  auto node = c10::make_intrusive<MLPBackward>();
  torch::autograd::edge_list edges;
  edges.push_back(torch::autograd::impl::gradient_edge(x));
  for (size_t i = 0; i < weights.size(); ++i) {
    edges.push_back(torch::autograd::impl::gradient_edge(weights[i]));
    if (biases[i].defined()) edges.push_back(torch::autograd::impl::gradient_edge(biases[i]));
  }
  node->set_next_edges(std::move(edges));
  node->activations.assign(activations, activations + weights.size());
  for (size_t i = 0; i < weights.size(); ++i) node->has_bias.push_back(biases[i].defined());
  torch::autograd::set_history(out, node);
  node->input = SavedVariable(x, false);
  for (const auto &w : weights) node->weights.emplace_back(w, false);
  for (size_t i = 0; i < ys.size(); ++i) node->outputs.emplace_back(ys[i], i + 1 == ys.size());
  return out;
}

// ---- two tasks on two threads ------------------------------------------------------------------------------------

namespace {

// One helper thread, started on first use and kept. at::parallel_for cannot be used here: its OpenMP pragma lives in
// a header and does nothing unless this file is compiled with -fopenmp, which SwiftPM allows only as an unsafe flag.
// After a task the helper spins for a while before sleeping, so that a burst of calls (PPO's minibatches, a few
// hundred microseconds apart) hands over without the latency of waking a sleeping thread.
class Helper {
 public:
  static Helper &shared() {
    static Helper *instance = new Helper();  // never destroyed: the thread outlives static destruction
    return *instance;
  }

  void run(const std::function<void()> &task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      error_ = nullptr;
      state_.store(kPending, std::memory_order_release);
    }
    wake_.notify_one();
  }

  // Waits for the task given to run() and rethrows its exception, if any.
  void wait() {
    while (state_.load(std::memory_order_acquire) != kDone) {
    }
    if (error_) std::rethrow_exception(error_);
  }

 private:
  enum { kIdle, kPending, kDone };
  Helper() : state_(kDone), thread_([this] { loop(); }) { thread_.detach(); }

  void loop() {
    for (;;) {
      // Spin ~0.2 ms for the next task, then sleep until one arrives.
      bool pending = false;
      for (int i = 0; i < 20000 && !pending; ++i) pending = state_.load(std::memory_order_acquire) == kPending;
      if (!pending) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return state_.load(std::memory_order_acquire) == kPending; });
      }
      try {
        (*task_)();
      } catch (...) {
        error_ = std::current_exception();
      }
      state_.store(kDone, std::memory_order_release);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  const std::function<void()> *task_ = nullptr;
  std::exception_ptr error_;
  std::atomic<int> state_;
  std::thread thread_;
};

std::mutex pair_mutex;  // one pair at a time: the helper takes one task

}  // namespace

void run_pair(const std::function<void()> &first, const std::function<void()> &second) {
  std::lock_guard<std::mutex> lock(pair_mutex);
  Helper &helper = Helper::shared();
  helper.run(second);
  std::exception_ptr error;
  try {
    first();
  } catch (...) {
    error = std::current_exception();
  }
  helper.wait();  // also when `first` failed: `second` refers to the caller's frame
  if (error) std::rethrow_exception(error);
}

}  // namespace ctorch

