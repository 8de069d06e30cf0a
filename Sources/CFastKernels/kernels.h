// kernels.h — Proxima's own CPU kernels (kernels.cpp), used by fast_kernels.cpp and ppo.cpp. Not part of the C API.
#pragma once

#include <ATen/ATen.h>

#include "fast_kernels.h"

#include <functional>
#include <vector>

namespace ctorch {

/// Whether the CPU runs the AVX2/FMA copies of the loops (false in a portable build).
bool has_avx2();
/// The threads the fused kernels may use: fk_set_threads's value, else libtorch's intra-op count.
int kernel_threads();
/// Counts one call of fast path `path` (an fk_path) on the calling thread: taken when `ran`, else declined.
void count_path(int32_t path, bool ran);
/// tanh of `n` float32 values (`in` and `out` the same array or disjoint).
void tanh_f32(const float *in, float *out, int64_t n);

// Raw-pointer pieces of the fused MLP, for row-major arrays; instantiated for float and double. Activation codes are
// fk_mlp's (FK_MLP_IDENTITY, FK_MLP_TANH, FK_MLP_RELU).

/// Layers with at most this many outputs (policy and value heads) have their backward products done by loops.
constexpr int64_t kThin = 8;
/// Whether MKL's sgemm_ and dgemm_ were found in the loaded libraries (libtorch_cpu exports them).
bool blas_available();
/// The BLAS the fused kernels call, in words.
const char *blas_name();
/// Limits MKL to `threads` threads on the calling thread while alive.
class BlasThreadLimit {
 public:
  explicit BlasThreadLimit(int threads);
  ~BlasThreadLimit();
  BlasThreadLimit(const BlasThreadLimit &) = delete;
  BlasThreadLimit &operator=(const BlasThreadLimit &) = delete;

 private:
  int previous_ = 0;
  bool active_ = false;
};
/// c[m, n] = op(a)·op(b) + beta·c through the loaded BLAS; false (nothing done) when there is none or it is empty.
template <typename T>
bool gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T *a, int64_t lda, const T *b,
          int64_t ldb, T beta, T *c, int64_t ldc);
/// rows[B, W] ← activation(rows + shift) (shift may be null).
template <typename T>
void bias_activate(T *rows, const T *shift, int64_t batch, int64_t width, int32_t activation);
/// g[B, W] ← g · activation'(y) in place and db[W] = Σ over the batch of the result (db may be null), in one pass.
template <typename T>
void activation_bias_backward(T *g, const T *y, T *db, int64_t batch, int64_t width, int32_t activation);
/// dw[O, I] = gᵀ·h by loops (for O ≤ kThin).
template <typename T>
void thin_weight_gradient(const T *g, const T *h, T *dw, int64_t batch, int64_t outs, int64_t in);
/// gin[B, I] = g·W by loops (for O ≤ kThin).
template <typename T>
void thin_input_gradient(const T *g, const T *w, T *gin, int64_t batch, int64_t outs, int64_t in);
/// One dense layer forward: y[B, O] = activation(x·Wᵀ + b) (b may be null), by a loop for inputs of at most kThin
/// features and by BLAS otherwise; false (y unspecified) when BLAS was needed and none exists. `scratch` is reused.
template <typename T>
bool dense_forward(const T *x, const T *w, const T *b, int64_t batch, int64_t in, int64_t out, int32_t activation,
                   T *y, std::vector<T> &scratch);
/// dw[O, I] = gᵀ·below, reduced over the batch in fixed blocks; false when a BLAS product was needed and none exists.
template <typename T>
bool weight_gradient(const T *g, const T *below, T *dw, int64_t rows, int64_t outs, int64_t ins);

/// Whether the fused node takes these 2-D inputs (CPU float32/float64 of one dtype, matching widths, a BLAS found).
bool fused_mlp_applies(const at::Tensor &x, const std::vector<at::Tensor> &weights,
                       const std::vector<at::Tensor> &biases);
/// The same network as separate ATen operations (what runs when the fused node does not apply).
at::Tensor composed_mlp(const at::Tensor &x, const std::vector<at::Tensor> &weights,
                        const std::vector<at::Tensor> &biases, const int32_t *activations);
/// The multilayer perceptron of fk_mlp; `biases[i]` is undefined for a layer without bias.
at::Tensor fused_mlp(const at::Tensor &input, const std::vector<at::Tensor> &weights,
                     const std::vector<at::Tensor> &biases, const int32_t *activations);

/// One dense layer of an MLP on raw row-major arrays: weight [out, in], bias [out] or null, and where its gradients go
/// (null: not wanted).
template <typename T>
struct DenseArrays {
  const T *w, *b;
  T *dw, *db;
  int64_t in, out;
  int32_t activation;
};
/// Forward pass of an MLP: outputs[i] (room for [B, out_i]) receives layer i's output after its activation. False when
/// a BLAS product was needed and none exists.
template <typename T>
bool mlp_forward(const std::vector<DenseArrays<T>> &layers, const T *x, int64_t batch, const std::vector<T *> &outputs,
                 std::vector<T> &scratch);
/// Backward pass of the same MLP from `grad` (the gradient of the last output, [B, out]; consumed): writes each
/// layer's dw and db where wanted (overwriting) and, when input_grad is not null, the gradient of x [B, in].
template <typename T>
bool mlp_backward(const std::vector<DenseArrays<T>> &layers, const T *x, const std::vector<const T *> &outputs,
                  int64_t batch, std::vector<T> &grad, std::vector<T> &grad_below, T *input_grad);

/// Runs `first` on the calling thread and `second` on a helper thread at the same time; returns when both are done,
/// rethrowing the first exception either raised.
void run_pair(const std::function<void()> &first, const std::function<void()> &second);

}  // namespace ctorch
