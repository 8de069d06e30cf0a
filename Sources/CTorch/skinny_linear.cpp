// skinny_linear.cpp — y = x·Wᵀ + b for inputs of at most 16 rows (decoding a few sequences), reading each weight once.
//
// For such products MKL's sgemm packs (copies) the weight matrix on every call, so a decoding step reads the weights
// twice and spends most of its time copying: 2.5 GB/s of weights at 8 rows where the memory gives ~11. This kernel
// streams W row by row instead: two output rows at a time, each row's 8-float chunks multiplied with the same chunk
// of up to four input rows held in registers (the row stays in L1 for the next four). Used by ct_linear for float32
// CPU tensors when no gradient is recorded through the product; `ct_skinny_linear_calls` counts its uses and
// `ct_set_skinny_linear` turns it off (the tests compare both paths).
#include "include/ctorch.h"
#include "internal.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <atomic>

#if defined(__x86_64__) && !defined(PROXIMA_PORTABLE_KERNELS)
#include <immintrin.h>
#define CT_SKINNY_AVX2 1
#endif

namespace {

std::atomic<int64_t> skinny_calls{0};
std::atomic<bool> skinny_enabled{true};
constexpr int64_t kMaxRows = 16;

#ifdef CT_SKINNY_AVX2
using ctorch::cpu_has_avx2;

__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v) {
  __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(low, high);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// Two output rows (o, o + 1; w1 == w0 for a last single row) for R input rows starting at x: R·2 accumulators held in
// registers, so R is a template parameter (a runtime count would index the accumulators through memory).
template <int R>
__attribute__((target("avx2,fma"), always_inline)) inline void skinny_rows(const float *x, const float *w0,
                                                                          const float *w1, int64_t in,
                                                                          int64_t vector_end, float *s0, float *s1) {
  __m256 a0[R], a1[R];
  for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < vector_end; k += 8) {
    // The next pair of weight rows, fetched while this one is multiplied: without it the loads wait on memory and
    // the products on the loads (measured: 8 rows read the weights at 5.1 GB/s without, 6.9 with).
    _mm_prefetch(reinterpret_cast<const char *>(w0 + k + 2 * in), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char *>(w1 + k + 2 * in), _MM_HINT_T0);
    const __m256 v0 = _mm256_loadu_ps(w0 + k), v1 = _mm256_loadu_ps(w1 + k);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * in + k);
      a0[r] = _mm256_fmadd_ps(v0, xv, a0[r]);
      a1[r] = _mm256_fmadd_ps(v1, xv, a1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float t0 = horizontal_sum(a0[r]), t1 = horizontal_sum(a1[r]);
    const float *xr = x + r * in;
    for (int64_t k = vector_end; k < in; ++k) {
      t0 += w0[k] * xr[k];
      t1 += w1[k] * xr[k];
    }
    s0[r] = t0;
    s1[r] = t1;
  }
}

// Output rows [o0, o1) of y [rows, out] = x [rows, in] · w [out, in]ᵀ (+ bias).
__attribute__((target("avx2,fma"))) void skinny_block(const float *x, const float *w, const float *bias, float *y,
                                                      int64_t rows, int64_t in, int64_t out, int64_t o0, int64_t o1) {
  const int64_t vector_end = in - in % 8;
  float s0[4], s1[4];
  for (int64_t o = o0; o < o1; o += 2) {
    const bool pair = o + 1 < o1;
    const float *w0 = w + o * in, *w1 = pair ? w0 + in : w0;
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
      const int64_t count = std::min<int64_t>(4, rows - r0);
      const float *xr = x + r0 * in;
      switch (count) {
        case 4: skinny_rows<4>(xr, w0, w1, in, vector_end, s0, s1); break;
        case 3: skinny_rows<3>(xr, w0, w1, in, vector_end, s0, s1); break;
        case 2: skinny_rows<2>(xr, w0, w1, in, vector_end, s0, s1); break;
        default: skinny_rows<1>(xr, w0, w1, in, vector_end, s0, s1); break;
      }
      for (int64_t r = 0; r < count; ++r) {
        float *yr = y + (r0 + r) * out;
        yr[o] = s0[r] + (bias ? bias[o] : 0.0f);
        if (pair) yr[o + 1] = s1[r] + (bias ? bias[o + 1] : 0.0f);
      }
    }
  }
}
#endif

}  // namespace

namespace ctorch {

// The product when the skinny kernel applies (see the file comment), else nullopt.
c10::optional<at::Tensor> skinny_linear(const at::Tensor &x, const at::Tensor &w, const c10::optional<at::Tensor> &b) {
#ifdef CT_SKINNY_AVX2
  if (!skinny_enabled.load(std::memory_order_relaxed) || !cpu_has_avx2()) return c10::nullopt;
  if (x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat || !x.device().is_cpu() || !w.device().is_cpu()) return c10::nullopt;
  if (w.dim() != 2 || x.dim() < 1 || x.size(-1) != w.size(1) || !x.is_contiguous() || !w.is_contiguous()) return c10::nullopt;
  if (b && (b->scalar_type() != at::kFloat || !b->is_contiguous() || b->dim() != 1 || b->size(0) != w.size(0))) return c10::nullopt;
  if (c10::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b && b->requires_grad()))) return c10::nullopt;
  const int64_t in = w.size(1), out = w.size(0);
  if (in == 0 || out == 0) return c10::nullopt;
  const int64_t rows = x.numel() / in;
  if (rows < 1 || rows > kMaxRows) return c10::nullopt;
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out;
  at::Tensor y = at::empty(shape, x.options());
  const float *xp = x.const_data_ptr<float>(), *wp = w.const_data_ptr<float>();
  const float *bp = b ? b->const_data_ptr<float>() : nullptr;
  float *yp = y.mutable_data_ptr<float>();
  // Chunks of output rows (an even number, so pairs stay whole) spread over libtorch's intra-op threads.
  at::parallel_for(0, (out + 1) / 2, 64, [&](int64_t begin, int64_t end) {
    skinny_block(xp, wp, bp, yp, rows, in, out, 2 * begin, std::min(out, 2 * end));
  });
  skinny_calls.fetch_add(1, std::memory_order_relaxed);
  return y;
#else
  (void)x; (void)w; (void)b;
  return c10::nullopt;
#endif
}

#ifdef CT_SKINNY_AVX2
namespace {
__attribute__((target("avx2,fma"))) float dot_avx2(const float *a, const float *b, int64_t n) {
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) sum = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), sum);
  float total = horizontal_sum(sum);
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

__attribute__((target("avx2,fma"))) void axpy_avx2(float *y, float a, const float *x, int64_t n) {
  const __m256 scale = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(scale, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}
}  // namespace
#endif

float dot(const float *a, const float *b, int64_t n) {
#ifdef CT_SKINNY_AVX2
  if (cpu_has_avx2()) return dot_avx2(a, b, n);
#endif
  float total = 0;
  for (int64_t i = 0; i < n; ++i) total += a[i] * b[i];
  return total;
}

void axpy(float *y, float a, const float *x, int64_t n) {
#ifdef CT_SKINNY_AVX2
  if (cpu_has_avx2()) return axpy_avx2(y, a, x, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

bool skinny_product(const float *x, const float *w, const float *bias, float *y, int64_t rows, int64_t in, int64_t out) {
#ifdef CT_SKINNY_AVX2
  if (cpu_has_avx2()) {
    at::parallel_for(0, (out + 1) / 2, 64, [&](int64_t begin, int64_t end) {
      skinny_block(x, w, bias, y, rows, in, out, 2 * begin, std::min(out, 2 * end));
    });
    return true;
  }
#endif
  // Portable loops (no AVX2): the same products, one dot product per output.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      float sum = 0;
      for (int64_t k = 0; k < in; ++k) sum += x[r * in + k] * w[o * in + k];
      y[r * out + o] = sum + (bias ? bias[o] : 0.0f);
    }
  }
  return true;
}

}  // namespace ctorch

extern "C" {
int64_t ct_skinny_linear_calls(void) { return skinny_calls.load(); }
void ct_set_skinny_linear(int32_t enabled) { skinny_enabled.store(enabled != 0); }
int32_t ct_skinny_linear_enabled(void) { return skinny_enabled.load() ? 1 : 0; }
int32_t ct_skinny_linear_available(void) {
#ifdef CT_SKINNY_AVX2
  return cpu_has_avx2() ? 1 : 0;
#else
  return 0;
#endif
}
}
