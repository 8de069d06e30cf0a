// ctorch_device.h — creating tensors and generators on a chosen device, converting in one step, and asking whether a
// device can be used. The conventions are ctorch.h's; `device` and `device_index` are the ct_device codes.
#ifndef CTORCH_DEVICE_H
#define CTORCH_DEVICE_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/// 0 when tensors can be created on the device; otherwise -1 with libtorch's explanation (on a build without CUDA
/// support loaded: "Cannot initialize CUDA without ATen_cuda library …").
int ct_device_check(int32_t device, int32_t device_index);
/// The number of CUDA devices libtorch sees (0 without CUDA support).
int64_t ct_cuda_device_count(void);

/// A generator for `device` seeded with `seed` (CPU: the Mersenne Twister; CUDA: Philox, from libtorch_cuda).
ct_generator ct_generator_new_on(uint64_t seed, int32_t device, int32_t device_index);
int32_t ct_generator_device_type(ct_generator g);
int32_t ct_generator_device_index(ct_generator g);

ct_tensor ct_arange_on(ct_scalar start, ct_scalar end, ct_scalar step, int32_t dtype, int32_t device,
                       int32_t device_index);
ct_tensor ct_linspace_on(double start, double end, int64_t steps, int32_t dtype, int32_t device, int32_t device_index);
ct_tensor ct_eye_on(int64_t n, int64_t m, int32_t dtype, int32_t device, int32_t device_index);
/// Random tensors on a device; `gen` (NULL: the device's default generator) must belong to the same device.
ct_tensor ct_rand_on(const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device, int32_t device_index,
                     ct_generator gen);
ct_tensor ct_randn_on(const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device, int32_t device_index,
                      ct_generator gen);
ct_tensor ct_randint_on(int64_t low, int64_t high, const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device,
                        int32_t device_index, ct_generator gen);
ct_tensor ct_randperm_on(int64_t n, int32_t device, int32_t device_index, ct_generator gen);

/// `t` converted to `dtype` on `device` by one copy (a new handle to the same tensor when it already matches).
ct_tensor ct_to_dtype_device(ct_tensor t, int32_t dtype, int32_t device, int32_t device_index);

#ifdef __cplusplus
}
#endif
#endif
