// internal.h — what the C++ files implementing ctorch.h share: the handle types, the thread-local error, handle
// wrapping and the conversions from the C codes, and the CT_GUARD macros that keep C++ exceptions from crossing the
// C boundary. Not part of the C API.
#pragma once

#include "include/ctorch.h"

#include <ATen/ATen.h>
#include <ATen/TensorIndexing.h>

#include <atomic>
#include <string>
#include <vector>

struct ct_tensor_s { at::Tensor t; };
struct ct_generator_s { at::Generator g; };

namespace ctorch::abi {



inline thread_local std::string last_error;
inline std::atomic<int64_t> live_handles{0};
inline thread_local int64_t thread_handle_balance = 0;

inline void set_error(const char *message) { last_error = message ? message : "unknown libtorch error"; }

inline ct_tensor wrap(at::Tensor t) {
  live_handles.fetch_add(1, std::memory_order_relaxed);
  ++thread_handle_balance;
  return new ct_tensor_s{std::move(t)};
}

inline void ct_free_handle(ct_tensor t) {
  live_handles.fetch_sub(1, std::memory_order_relaxed);
  --thread_handle_balance;
  delete t;
}

inline at::ScalarType to_scalar_type(int32_t code) {
  switch (code) {
    case CT_FLOAT32: return at::kFloat;
    case CT_FLOAT64: return at::kDouble;
    case CT_BFLOAT16: return at::kBFloat16;
    case CT_FLOAT16: return at::kHalf;
    case CT_INT64: return at::kLong;
    case CT_INT32: return at::kInt;
    case CT_INT16: return at::kShort;
    case CT_INT8: return at::kChar;
    case CT_UINT8: return at::kByte;
    case CT_BOOL: return at::kBool;
  }
  TORCH_CHECK(false, "unknown dtype code ", code);
}

inline int32_t from_scalar_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return CT_FLOAT32;
    case at::kDouble: return CT_FLOAT64;
    case at::kBFloat16: return CT_BFLOAT16;
    case at::kHalf: return CT_FLOAT16;
    case at::kLong: return CT_INT64;
    case at::kInt: return CT_INT32;
    case at::kShort: return CT_INT16;
    case at::kChar: return CT_INT8;
    case at::kByte: return CT_UINT8;
    case at::kBool: return CT_BOOL;
    default: return -1;
  }
}

inline at::Device to_device(int32_t device, int32_t index) {
  if (device == CT_CUDA) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  return at::Device(at::kCPU);
}

inline at::Scalar to_scalar(ct_scalar s) {
  switch (s.kind) {
    case 1: return at::Scalar(s.i);
    case 2: return at::Scalar(s.i != 0);
    default: return at::Scalar(s.f);
  }
}

inline c10::optional<at::Scalar> to_opt(ct_opt_scalar s) {
  if (!s.present) return c10::nullopt;
  return to_scalar(s.value);
}

inline c10::optional<at::Generator> gen_of(ct_generator g) {
  if (!g) return c10::nullopt;
  return g->g;
}

inline at::IntArrayRef dims_of(const int64_t *dims, int64_t ndim) { return at::IntArrayRef(dims, static_cast<size_t>(ndim)); }

inline std::vector<at::Tensor> tensors_of(const ct_tensor *ts, int64_t n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(ts[i]->t);
  return out;
}

inline c10::optional<at::Tensor> opt_tensor(ct_tensor t) {
  if (!t) return c10::nullopt;
  return t->t;
}

inline std::vector<at::indexing::TensorIndex> indices_of(const ct_index_item *items, int64_t n) {
  using namespace at::indexing;
  std::vector<TensorIndex> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const ct_index_item &it = items[i];
    switch (it.kind) {
      case 0: out.emplace_back(it.a); break;
      case 1:
        out.emplace_back(Slice(it.has_a ? c10::optional<int64_t>(it.a) : c10::nullopt,
                               it.has_b ? c10::optional<int64_t>(it.b) : c10::nullopt, it.c));
        break;
      case 2: out.emplace_back(Ellipsis); break;
      case 3: out.emplace_back(None); break;
      case 4: out.emplace_back(it.tensor->t); break;
      default: TORCH_CHECK(false, "unknown index kind ", it.kind);
    }
  }
  return out;
}

}  // namespace ctorch::abi

// The body is variadic so that commas inside braces (which the preprocessor does not treat as nesting) are allowed.
#define CT_GUARD(fail, ...)                                          \
  try {                                                              \
    __VA_ARGS__                                                      \
  } catch (const c10::Error &e) {                                    \
    ctorch::abi::set_error(e.what_without_backtrace());              \
  } catch (const std::exception &e) {                                \
    ctorch::abi::set_error(e.what());                                \
  } catch (...) {                                                    \
    ctorch::abi::set_error("unknown C++ exception in libtorch");     \
  }                                                                  \
  return fail;

#define CT_TENSOR(...) CT_GUARD(nullptr, return ctorch::abi::wrap(__VA_ARGS__);)
// For bodies that need statements: the block must `return` the result tensor.
#define CT_TENSOR_BLOCK(...) CT_GUARD(nullptr, return ctorch::abi::wrap([&]() -> at::Tensor __VA_ARGS__());)
#define CT_STATUS(...) CT_GUARD(-1, __VA_ARGS__; return 0;)

namespace ctorch {
#if defined(__x86_64__)
// Whether this CPU has AVX2 and FMA, which the hand-written kernels (skinny_linear.cpp, gelu_tanh.cpp) need.
inline bool cpu_has_avx2() {
  static const bool value = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return value;
}
#endif

// y = x·Wᵀ + b by the skinny-product kernel (skinny_linear.cpp) when it applies, else nullopt.
c10::optional<at::Tensor> skinny_linear(const at::Tensor &x, const at::Tensor &w, const c10::optional<at::Tensor> &b);
}  // namespace ctorch
