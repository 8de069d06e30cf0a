// gelu_tanh.cpp — GELU with the tanh formula (GPT-2's "gelu_new") that keeps its derivative for the backward pass.
//
// ATen's gelu(approximate="tanh") saves its input, and its backward pass evaluates tanh of the same argument a second
// time. When a gradient is recorded through a float32 CPU tensor, this kernel computes the value and the derivative
// in one pass (one tanh per element) and saves the derivative instead of the input (the same memory), so the backward
// pass is one multiplication. The arithmetic is ATen's own, operation for operation (Gelu.h and its backward kernel:
// the same constants, the same order and fused multiply-adds, SLEEF's tanh), so values and gradients are those of
// libtorch's AVX2 gelu to the bit (checked here), except in a tail of fewer than 16 elements, which ATen computes
// with scalar code and which may differ in the last bit. `ct_gelu_tanh_fused_calls` counts its uses;
// `ct_set_gelu_tanh_fused(0)` turns it off.
#include "ctorch_transformer.h"
#include "internal.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <cmath>

#if defined(__x86_64__) && !defined(PROXIMA_PORTABLE_KERNELS)
#include <immintrin.h>
#define CT_GELU_AVX2 1
// libtorch's SLEEF (the tanh that at::Vectorized<float> calls), exported by libtorch_cpu.
extern "C" __attribute__((target("avx2,fma"))) __m256 Sleef_tanhf8_u10(__m256);
#endif

namespace {
using namespace ctorch::abi;

std::atomic<int64_t> fused_calls{0};
std::atomic<bool> fused_enabled{true};

#ifdef CT_GELU_AVX2
using ctorch::cpu_has_avx2;

constexpr double kBeta = M_SQRT2 * M_2_SQRTPI * 0.5;
constexpr double kKappa = 0.044715;

// Eight elements: y as ATen's forward computes it, d as its backward does (d·dy is its gradient). libtorch's AVX2
// kernels are compiled with floating-point contraction, so a product that feeds a sum is one fused multiply-add there
// (read from their machine code); the same fusions here give the same roundings.
__attribute__((target("avx2,fma"), always_inline)) inline void gelu_lanes(__m256 x, __m256 &y, __m256 &d) {
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), three = _mm256_set1_ps(3.0f);
  const __m256 beta = _mm256_set1_ps(float(kBeta)), kappa = _mm256_set1_ps(float(kKappa));
  const __m256 square = _mm256_mul_ps(x, x);
  const __m256 cube = _mm256_mul_ps(square, x);
  // inner = β · (x + κ · x³)
  const __m256 inner = _mm256_mul_ps(_mm256_fmadd_ps(cube, kappa, x), beta);
  const __m256 t = Sleef_tanhf8_u10(inner);
  const __m256 left = _mm256_mul_ps(x, half);
  const __m256 right = _mm256_add_ps(t, one);
  // forward: 0.5 · x · (1 + tanh(inner))
  y = _mm256_mul_ps(left, right);
  // backward: 0.5 · (1 + t) + 0.5 · x · (1 − t²) · β · (1 + 3κ · x²)
  const __m256 tanh_derivative = _mm256_fnmadd_ps(t, t, one);
  const __m256 inner_derivative = _mm256_mul_ps(beta, _mm256_fmadd_ps(square, _mm256_mul_ps(kappa, three), one));
  const __m256 right_derivative = _mm256_mul_ps(_mm256_mul_ps(left, tanh_derivative), inner_derivative);
  d = _mm256_fmadd_ps(right, half, right_derivative);
}

__attribute__((target("avx2,fma"))) void gelu_block(const float *x, float *y, float *d, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    __m256 value, derivative;
    gelu_lanes(_mm256_loadu_ps(x + i), value, derivative);
    _mm256_storeu_ps(y + i, value);
    _mm256_storeu_ps(d + i, derivative);
  }
  if (i < end) {  // the tail, through the same lanes
    float in[8] = {0}, out[8], slope[8];
    for (int64_t k = i; k < end; ++k) in[k - i] = x[k];
    __m256 value, derivative;
    gelu_lanes(_mm256_loadu_ps(in), value, derivative);
    _mm256_storeu_ps(out, value);
    _mm256_storeu_ps(slope, derivative);
    for (int64_t k = i; k < end; ++k) {
      y[k] = out[k - i];
      d[k] = slope[k - i];
    }
  }
}
#endif

struct GeluTanhWithDerivative : public torch::autograd::Function<GeluTanhWithDerivative> {
  static at::Tensor forward(torch::autograd::AutogradContext *context, const at::Tensor &input) {
    at::Tensor x = input.contiguous();
    at::Tensor y = at::empty_like(x), d = at::empty_like(x);
#ifdef CT_GELU_AVX2
    const float *xp = x.const_data_ptr<float>();
    float *yp = y.mutable_data_ptr<float>(), *dp = d.mutable_data_ptr<float>();
    at::parallel_for(0, x.numel(), 32768, [&](int64_t begin, int64_t end) { gelu_block(xp, yp, dp, begin, end); });
#else
    TORCH_CHECK(false, "the fused GELU kernel is not in this build");
#endif
    context->save_for_backward({d});
    return y;
  }

  // First order only: the saved derivative carries no graph, so a gradient of this gradient would miss the second
  // derivative (no Proxima computation takes one through a GELU).
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *context,
                                                 torch::autograd::variable_list gradients) {
    const at::Tensor d = context->get_saved_variables()[0];
    if (!gradients[0].defined()) return {at::Tensor()};
    return {gradients[0] * d};
  }
};

bool fused_applies(const at::Tensor &x) {
#ifdef CT_GELU_AVX2
  return fused_enabled.load(std::memory_order_relaxed) && cpu_has_avx2() && x.scalar_type() == at::kFloat &&
         x.device().is_cpu() && x.layout() == at::kStrided && c10::GradMode::is_enabled() && x.requires_grad();
#else
  (void)x;
  return false;
#endif
}
}  // namespace

extern "C" {
ct_tensor ct_gelu_tanh(ct_tensor x) {
  CT_TENSOR_BLOCK({
    if (!fused_applies(x->t)) return at::gelu(x->t, "tanh");
    fused_calls.fetch_add(1, std::memory_order_relaxed);
    return GeluTanhWithDerivative::apply(x->t);
  })
}
int64_t ct_gelu_tanh_fused_calls(void) { return fused_calls.load(); }
void ct_set_gelu_tanh_fused(int32_t enabled) { fused_enabled.store(enabled != 0); }
int32_t ct_gelu_tanh_fused_enabled(void) { return fused_enabled.load() ? 1 : 0; }
}
