// kernels.h — Proxima's own CPU kernels (kernels.cpp), used by ctorch.cpp. Not part of the C API.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace ctorch {

/// Whether `fast_tanh` may replace at::tanh for `x`: a contiguous CPU float32 tensor that autograd does not track.
bool fast_tanh_applies(const at::Tensor &x);
at::Tensor fast_tanh(const at::Tensor &x);

/// The multilayer perceptron of ct_mlp; `biases[i]` is undefined for a layer without bias.
at::Tensor fused_mlp(const at::Tensor &input, const std::vector<at::Tensor> &weights,
                     const std::vector<at::Tensor> &biases, const int32_t *activations);

struct AdamSettings {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  int64_t step;
};

/// One Adam step in place; false (nothing changed) when the tensors are not dense CPU float32/float64 of one dtype
/// and size, or β1 ≥ ½. `max_exp_avg_sq` is undefined without AMSGrad.
bool adam_step(const at::Tensor &param, const at::Tensor &grad, const at::Tensor &exp_avg, const at::Tensor &exp_avg_sq,
               const at::Tensor &max_exp_avg_sq, const AdamSettings &settings);

}  // namespace ctorch
