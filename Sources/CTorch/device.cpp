// device.cpp — the implementation of ctorch_device.h. CUDA is reached only through ATen's hooks, so this file builds
// and links against the CPU libraries alone; with libtorch_cuda loaded the same calls reach the GPU.
#include "ctorch_device.h"
#include "internal.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>

namespace {
using namespace ctorch::abi;

at::TensorOptions options(int32_t dtype, int32_t device, int32_t index) {
  return at::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(device, index));
}

void check_device(int32_t device, int32_t index) {
  if (device != CT_CUDA) return;
  const auto &hooks = at::detail::getCUDAHooks();
  // Without libtorch_cuda these are ATen's stubs, whose init() throws the message that says so.
  hooks.init();
  const int64_t count = hooks.deviceCount();
  TORCH_CHECK(index < count, "cuda:", index, " requested, but libtorch sees ", count, " CUDA device(s)");
}

at::Generator new_generator(uint64_t seed, int32_t device, int32_t index) {
  if (device == CT_CUDA) {
    at::Generator g = at::detail::getCUDAHooks().getNewGenerator(static_cast<c10::DeviceIndex>(index));
    g.set_current_seed(seed);
    return g;
  }
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}
}  // namespace

extern "C" {

int ct_device_check(int32_t device, int32_t device_index) { CT_STATUS(check_device(device, device_index)) }

int64_t ct_cuda_device_count(void) {
  CT_GUARD(0, return at::detail::getCUDAHooks().deviceCount();)
}

ct_generator ct_generator_new_on(uint64_t seed, int32_t device, int32_t device_index) {
  CT_GUARD(nullptr, return new ct_generator_s{new_generator(seed, device, device_index)};)
}

int32_t ct_generator_device_type(ct_generator g) { return g->g.device().is_cuda() ? CT_CUDA : CT_CPU; }

int32_t ct_generator_device_index(ct_generator g) { return g->g.device().index(); }

ct_tensor ct_arange_on(ct_scalar start, ct_scalar end, ct_scalar step, int32_t dtype, int32_t device,
                       int32_t device_index) {
  CT_TENSOR(at::arange(to_scalar(start), to_scalar(end), to_scalar(step), options(dtype, device, device_index)))
}

ct_tensor ct_linspace_on(double start, double end, int64_t steps, int32_t dtype, int32_t device, int32_t device_index) {
  CT_TENSOR(at::linspace(start, end, steps, options(dtype, device, device_index)))
}

ct_tensor ct_eye_on(int64_t n, int64_t m, int32_t dtype, int32_t device, int32_t device_index) {
  CT_TENSOR(at::eye(n, m, options(dtype, device, device_index)))
}

ct_tensor ct_rand_on(const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device, int32_t device_index,
                     ct_generator gen) {
  CT_TENSOR(at::rand(dims_of(dims, ndim), gen_of(gen), options(dtype, device, device_index)))
}

ct_tensor ct_randn_on(const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device, int32_t device_index,
                      ct_generator gen) {
  CT_TENSOR(at::randn(dims_of(dims, ndim), gen_of(gen), options(dtype, device, device_index)))
}

ct_tensor ct_randint_on(int64_t low, int64_t high, const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device,
                        int32_t device_index, ct_generator gen) {
  CT_TENSOR(at::randint(low, high, dims_of(dims, ndim), gen_of(gen), options(dtype, device, device_index)))
}

ct_tensor ct_randperm_on(int64_t n, int32_t device, int32_t device_index, ct_generator gen) {
  CT_TENSOR(at::randperm(n, gen_of(gen), options(CT_INT64, device, device_index)))
}

ct_tensor ct_to_dtype_device(ct_tensor t, int32_t dtype, int32_t device, int32_t device_index) {
  CT_TENSOR(t->t.to(to_device(device, device_index), to_scalar_type(dtype)))
}

}  // extern "C"
