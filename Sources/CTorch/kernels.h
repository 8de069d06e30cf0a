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

}  // namespace ctorch
