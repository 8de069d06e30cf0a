// ctorch.cpp — the implementation of ctorch.h. Every entry point runs its body inside CT_GUARD, which turns any C++
// exception into a thread-local message and a failure return value; nothing here holds logic beyond calling ATen.
#include "ctorch.h"
#include "internal.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIndexing.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/version.h>
#include <ATen/native/DispatchStub.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <vector>


namespace {
using namespace ctorch::abi;

// The node behind ct_attach_backward: hands the incoming gradients to a callback (Swift code) and passes what it
// returns on to the inputs.
struct CallbackBackward : public torch::autograd::Node {
  ct_backward_fn backward = nullptr;
  ct_release_fn release = nullptr;
  void *context = nullptr;
  std::string label;

  ~CallbackBackward() override { release_variables(); }
  std::string name() const override { return label; }
  void release_variables() override {
    if (release && context) release(context);
    context = nullptr;
  }

  torch::autograd::variable_list apply(torch::autograd::variable_list &&grads) override {
    TORCH_CHECK(context, label, ": trying to backward through the graph a second time (its saved values were freed); "
                "pass retainGraph: true to the first backward");
    std::vector<ct_tensor> incoming(grads.size(), nullptr);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (grads[i].defined()) incoming[i] = wrap(grads[i]);
    }
    std::vector<ct_tensor> outgoing(num_outputs(), nullptr);
    const int32_t status = backward(context, incoming.data(), static_cast<int64_t>(incoming.size()), outgoing.data(),
                                    static_cast<int64_t>(outgoing.size()));
    torch::autograd::variable_list result(outgoing.size());
    for (size_t i = 0; i < outgoing.size(); ++i) {
      if (outgoing[i]) {
        result[i] = outgoing[i]->t;
        ct_free_handle(outgoing[i]);
      }
    }
    TORCH_CHECK(status == 0, label, " backward: ", last_error);
    return result;
  }
};

}  // namespace



namespace {
at::Tensor binary(int32_t op, const at::Tensor &a, const at::Tensor &b) {
  switch (op) {
    case CT_ADD: return at::add(a, b);
    case CT_SUB: return at::sub(a, b);
    case CT_MUL: return at::mul(a, b);
    case CT_DIV: return at::div(a, b);
    case CT_POW: return at::pow(a, b);
    case CT_EQ: return at::eq(a, b);
    case CT_NE: return at::ne(a, b);
    case CT_LT: return at::lt(a, b);
    case CT_LE: return at::le(a, b);
    case CT_GT: return at::gt(a, b);
    case CT_GE: return at::ge(a, b);
    case CT_MINIMUM: return at::minimum(a, b);
    case CT_MAXIMUM: return at::maximum(a, b);
    case CT_LOGICAL_AND: return at::logical_and(a, b);
    case CT_LOGICAL_OR: return at::logical_or(a, b);
    case CT_REMAINDER: return at::remainder(a, b);
    case CT_FLOOR_DIVIDE: return at::floor_divide(a, b);
    case CT_ATAN2: return at::atan2(a, b);
    case CT_LOGICAL_XOR: return at::logical_xor(a, b);
  }
  TORCH_CHECK(false, "unknown binary op ", op);
}

}  // namespace

extern "C" {

// ---- errors and lifetime ---------------------------------------------------------------------------------------
const char *ct_last_error(void) { return last_error.c_str(); }

void ct_free(ct_tensor t) {
  if (t) ct_free_handle(t);
}

int64_t ct_live_handles(void) { return live_handles.load(); }
int64_t ct_thread_handle_balance(void) { return thread_handle_balance; }

// ---- facts -----------------------------------------------------------------------------------------------------
int64_t ct_dim(ct_tensor t) { return t->t.dim(); }

int64_t ct_sizes(ct_tensor t, int64_t *out, int64_t cap) {
  auto s = t->t.sizes();
  for (int64_t i = 0; i < cap && i < static_cast<int64_t>(s.size()); ++i) out[i] = s[i];
  return static_cast<int64_t>(s.size());
}

int64_t ct_strides(ct_tensor t, int64_t *out, int64_t cap) {
  auto s = t->t.strides();
  for (int64_t i = 0; i < cap && i < static_cast<int64_t>(s.size()); ++i) out[i] = s[i];
  return static_cast<int64_t>(s.size());
}

int64_t ct_numel(ct_tensor t) { return t->t.numel(); }
int32_t ct_dtype(ct_tensor t) { return from_scalar_type(t->t.scalar_type()); }
int32_t ct_device_type(ct_tensor t) { return t->t.device().is_cuda() ? CT_CUDA : CT_CPU; }
int32_t ct_device_index(ct_tensor t) { return t->t.device().index(); }
int32_t ct_is_contiguous(ct_tensor t) { return t->t.is_contiguous() ? 1 : 0; }
int32_t ct_cuda_is_available(void) { return at::hasCUDA() ? 1 : 0; }

int ct_copy_out(ct_tensor t, int32_t dtype, void *out, size_t nbytes) {
  CT_STATUS({
    at::Tensor src = t->t.detach().to(at::kCPU).to(to_scalar_type(dtype)).contiguous();
    size_t need = static_cast<size_t>(src.numel()) * src.element_size();
    TORCH_CHECK(need == nbytes, "copy_out: buffer holds ", nbytes, " bytes, tensor needs ", need);
    if (need) std::memcpy(out, src.data_ptr(), need);
  })
}

int ct_item(ct_tensor t, ct_scalar *out) {
  CT_STATUS({
    at::Scalar s = t->t.item();
    if (s.isBoolean()) { out->kind = 2; out->i = s.toBool() ? 1 : 0; out->f = out->i; }
    else if (s.isIntegral(false)) { out->kind = 1; out->i = s.toLong(); out->f = static_cast<double>(out->i); }
    else { out->kind = 0; out->f = s.toDouble(); out->i = static_cast<int64_t>(out->f); }
  })
}

// ---- creation --------------------------------------------------------------------------------------------------
ct_tensor ct_from_data(const void *data, const int64_t *dims, int64_t ndim, int32_t dtype) {
  CT_TENSOR_BLOCK({
    auto opts = at::TensorOptions().dtype(to_scalar_type(dtype));
    at::Tensor out = at::empty(dims_of(dims, ndim), opts);
    size_t n = static_cast<size_t>(out.numel()) * out.element_size();
    if (n) std::memcpy(out.data_ptr(), data, n);
    return out;
  })
}

ct_tensor ct_scalar_tensor(ct_scalar s, int32_t dtype) {
  CT_TENSOR(at::scalar_tensor(to_scalar(s), at::TensorOptions().dtype(to_scalar_type(dtype))))
}

ct_tensor ct_empty(const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device, int32_t device_index) {
  CT_TENSOR(at::empty(dims_of(dims, ndim),
                      at::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(device, device_index))))
}

ct_tensor ct_full(const int64_t *dims, int64_t ndim, ct_scalar value, int32_t dtype, int32_t device,
                  int32_t device_index) {
  CT_TENSOR(at::full(dims_of(dims, ndim), to_scalar(value),
                     at::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(device, device_index))))
}

ct_tensor ct_arange(ct_scalar start, ct_scalar end, ct_scalar step, int32_t dtype) {
  CT_TENSOR(at::arange(to_scalar(start), to_scalar(end), to_scalar(step),
                       at::TensorOptions().dtype(to_scalar_type(dtype))))
}

ct_tensor ct_linspace(double start, double end, int64_t steps, int32_t dtype) {
  CT_TENSOR(at::linspace(start, end, steps, at::TensorOptions().dtype(to_scalar_type(dtype))))
}

ct_tensor ct_eye(int64_t n, int64_t m, int32_t dtype) {
  CT_TENSOR(at::eye(n, m, at::TensorOptions().dtype(to_scalar_type(dtype))))
}

// ---- random numbers --------------------------------------------------------------------------------------------
ct_generator ct_generator_new(uint64_t seed) {
  CT_GUARD(nullptr, return new ct_generator_s{at::make_generator<at::CPUGeneratorImpl>(seed)};)
}

void ct_generator_free(ct_generator g) { delete g; }

int ct_generator_set_seed(ct_generator g, uint64_t seed) {
  CT_STATUS({
    std::lock_guard<std::mutex> lock(g->g.mutex());
    g->g.set_current_seed(seed);
  })
}

uint64_t ct_generator_seed(ct_generator g) { return g->g.current_seed(); }

ct_tensor ct_generator_get_state(ct_generator g) {
  CT_GUARD(nullptr, {
    at::Generator gen = g ? g->g : at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return wrap(gen.get_state());
  })
}

int ct_generator_set_state(ct_generator g, ct_tensor state) {
  CT_STATUS({
    at::Generator gen = g ? g->g : at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state->t);
  })
}

int ct_manual_seed(uint64_t seed) {
  CT_STATUS({
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  })
}

ct_tensor ct_rand(const int64_t *dims, int64_t ndim, int32_t dtype, ct_generator gen) {
  CT_TENSOR(at::rand(dims_of(dims, ndim), gen_of(gen), at::TensorOptions().dtype(to_scalar_type(dtype))))
}

ct_tensor ct_randn(const int64_t *dims, int64_t ndim, int32_t dtype, ct_generator gen) {
  CT_TENSOR(at::randn(dims_of(dims, ndim), gen_of(gen), at::TensorOptions().dtype(to_scalar_type(dtype))))
}

ct_tensor ct_randint(int64_t low, int64_t high, const int64_t *dims, int64_t ndim, int32_t dtype, ct_generator gen) {
  CT_TENSOR(at::randint(low, high, dims_of(dims, ndim), gen_of(gen), at::TensorOptions().dtype(to_scalar_type(dtype))))
}

ct_tensor ct_bernoulli(ct_tensor probs, ct_generator gen) { CT_TENSOR(at::bernoulli(probs->t, gen_of(gen))) }

ct_tensor ct_multinomial(ct_tensor probs, int64_t n, int32_t replacement, ct_generator gen) {
  CT_TENSOR(at::multinomial(probs->t, n, replacement != 0, gen_of(gen)))
}

ct_tensor ct_randperm(int64_t n, ct_generator gen) {
  CT_TENSOR(at::randperm(n, gen_of(gen), at::TensorOptions().dtype(at::kLong)))
}

ct_tensor ct_dropout(ct_tensor t, double p, int32_t train, ct_generator gen) {
  CT_TENSOR_BLOCK({
    at::Tensor out;
    if (!train || p == 0.0) {
      out = t->t;
    } else {
      TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability has to be in [0, 1), but got ", p);
      at::Tensor keep = at::bernoulli(at::full_like(t->t, 1.0 - p).detach(), gen_of(gen));
      out = t->t * keep / (1.0 - p);
    }
    return out;
  })
}

// ---- conversion ------------------------------------------------------------------------------------------------
ct_tensor ct_to_dtype(ct_tensor t, int32_t dtype) { CT_TENSOR(t->t.to(to_scalar_type(dtype))) }
ct_tensor ct_to_device(ct_tensor t, int32_t device, int32_t idx) { CT_TENSOR(t->t.to(to_device(device, idx))) }
ct_tensor ct_contiguous(ct_tensor t) { CT_TENSOR(t->t.contiguous()) }
ct_tensor ct_clone(ct_tensor t) { CT_TENSOR(t->t.clone()) }
ct_tensor ct_detach(ct_tensor t) { CT_TENSOR(t->t.detach()) }
ct_tensor ct_alias(ct_tensor t) { CT_TENSOR(t->t) }

// ---- shape -----------------------------------------------------------------------------------------------------
ct_tensor ct_reshape(ct_tensor t, const int64_t *d, int64_t n) { CT_TENSOR(t->t.reshape(dims_of(d, n))) }
ct_tensor ct_view(ct_tensor t, const int64_t *d, int64_t n) { CT_TENSOR(t->t.view(dims_of(d, n))) }
ct_tensor ct_permute(ct_tensor t, const int64_t *d, int64_t n) { CT_TENSOR(t->t.permute(dims_of(d, n))) }
ct_tensor ct_transpose(ct_tensor t, int64_t d0, int64_t d1) { CT_TENSOR(t->t.transpose(d0, d1)) }
ct_tensor ct_squeeze(ct_tensor t) { CT_TENSOR(t->t.squeeze()) }
ct_tensor ct_squeeze_dim(ct_tensor t, int64_t dim) { CT_TENSOR(t->t.squeeze(dim)) }
ct_tensor ct_unsqueeze(ct_tensor t, int64_t dim) { CT_TENSOR(t->t.unsqueeze(dim)) }
ct_tensor ct_flatten(ct_tensor t, int64_t s, int64_t e) { CT_TENSOR(t->t.flatten(s, e)) }
ct_tensor ct_expand(ct_tensor t, const int64_t *d, int64_t n) { CT_TENSOR(t->t.expand(dims_of(d, n))) }
ct_tensor ct_repeat(ct_tensor t, const int64_t *d, int64_t n) { CT_TENSOR(t->t.repeat(dims_of(d, n))) }
ct_tensor ct_cat(const ct_tensor *ts, int64_t n, int64_t dim) { CT_TENSOR(at::cat(tensors_of(ts, n), dim)) }
ct_tensor ct_stack(const ct_tensor *ts, int64_t n, int64_t dim) { CT_TENSOR(at::stack(tensors_of(ts, n), dim)) }

int ct_split_with_sizes(ct_tensor t, const int64_t *sizes, int64_t n, int64_t dim, ct_tensor *out) {
  CT_STATUS({
    auto parts = t->t.split_with_sizes(dims_of(sizes, n), dim);
    for (size_t i = 0; i < parts.size(); ++i) out[i] = wrap(parts[i]);
  })
}

ct_tensor ct_narrow(ct_tensor t, int64_t dim, int64_t start, int64_t length) {
  CT_TENSOR(t->t.narrow(dim, start, length))
}
ct_tensor ct_select(ct_tensor t, int64_t dim, int64_t index) { CT_TENSOR(t->t.select(dim, index)) }

ct_tensor ct_index(ct_tensor t, const ct_index_item *items, int64_t n) { CT_TENSOR(t->t.index(indices_of(items, n))) }

int ct_index_put(ct_tensor t, const ct_index_item *items, int64_t n, ct_tensor value) {
  CT_STATUS(t->t.index_put_(indices_of(items, n), value->t))
}

ct_tensor ct_index_select(ct_tensor t, int64_t dim, ct_tensor index) { CT_TENSOR(t->t.index_select(dim, index->t)) }
ct_tensor ct_gather(ct_tensor t, int64_t dim, ct_tensor index) { CT_TENSOR(t->t.gather(dim, index->t)) }
ct_tensor ct_scatter(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor src) {
  CT_TENSOR(t->t.scatter(dim, index->t, src->t))
}
ct_tensor ct_scatter_add(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor src) {
  CT_TENSOR(t->t.scatter_add(dim, index->t, src->t))
}
ct_tensor ct_masked_fill(ct_tensor t, ct_tensor mask, ct_scalar v) { CT_TENSOR(t->t.masked_fill(mask->t, to_scalar(v))) }
ct_tensor ct_masked_select(ct_tensor t, ct_tensor mask) { CT_TENSOR(t->t.masked_select(mask->t)) }
ct_tensor ct_where(ct_tensor c, ct_tensor a, ct_tensor b) { CT_TENSOR(at::where(c->t, a->t, b->t)) }
ct_tensor ct_tril(ct_tensor t, int64_t d) { CT_TENSOR(t->t.tril(d)) }
ct_tensor ct_triu(ct_tensor t, int64_t d) { CT_TENSOR(t->t.triu(d)) }

ct_tensor ct_pad(ct_tensor t, const int64_t *pads, int64_t n, int32_t mode, double value) {
  static const char *modes[] = {"constant", "reflect", "replicate", "circular"};
  CT_TENSOR_BLOCK({
    TORCH_CHECK(mode >= 0 && mode < 4, "unknown pad mode ", mode);
    return mode == 0 ? at::pad(t->t, dims_of(pads, n), modes[0], value) : at::pad(t->t, dims_of(pads, n), modes[mode]);
  })
}

// ---- elementwise math ------------------------------------------------------------------------------------------
ct_tensor ct_unary(int32_t op, ct_tensor t) {
  CT_TENSOR_BLOCK({
    const at::Tensor &x = t->t;
    at::Tensor r;
    switch (op) {
      case CT_NEG: r = x.neg(); break;
      case CT_EXP: r = x.exp(); break;
      case CT_LOG: r = x.log(); break;
      case CT_LOG1P: r = x.log1p(); break;
      case CT_EXPM1: r = x.expm1(); break;
      case CT_SQRT: r = x.sqrt(); break;
      case CT_RSQRT: r = x.rsqrt(); break;
      case CT_ABS: r = x.abs(); break;
      case CT_SIGN: r = x.sign(); break;
      case CT_TANH: r = x.tanh(); break;
      case CT_SIGMOID: r = x.sigmoid(); break;
      case CT_LOGSIGMOID: r = at::log_sigmoid(x); break;
      case CT_RELU: r = x.relu(); break;
      case CT_GELU: r = at::gelu(x, "none"); break;
      case CT_GELU_TANH: r = at::gelu(x, "tanh"); break;
      case CT_SILU: r = at::silu(x); break;
      case CT_SOFTPLUS: r = at::softplus(x); break;
      case CT_SIN: r = x.sin(); break;
      case CT_COS: r = x.cos(); break;
      case CT_RECIPROCAL: r = x.reciprocal(); break;
      case CT_FLOOR: r = x.floor(); break;
      case CT_CEIL: r = x.ceil(); break;
      case CT_ROUND: r = x.round(); break;
      case CT_LOGICAL_NOT: r = x.logical_not(); break;
      case CT_SQUARE: r = x.square(); break;
      case CT_ISNAN: r = x.isnan(); break;
      case CT_ISFINITE: r = x.isfinite(); break;
      case CT_ERF: r = x.erf(); break;
      case CT_LOG2: r = x.log2(); break;
      case CT_ISINF: r = x.isinf(); break;
      default: TORCH_CHECK(false, "unknown unary op ", op);
    }
    return r;
  })
}


ct_tensor ct_binary(int32_t op, ct_tensor a, ct_tensor b) { CT_TENSOR(binary(op, a->t, b->t)) }

ct_tensor ct_binary_scalar(int32_t op, ct_tensor t, ct_scalar s, int32_t reversed) {
  CT_TENSOR_BLOCK({
    const at::Tensor &x = t->t;
    at::Scalar v = to_scalar(s);
    at::Tensor r;
    if (!reversed) {
      switch (op) {
        case CT_ADD: r = at::add(x, v); break;
        case CT_SUB: r = at::sub(x, v); break;
        case CT_MUL: r = at::mul(x, v); break;
        case CT_DIV: r = at::div(x, v); break;
        case CT_POW: r = at::pow(x, v); break;
        case CT_EQ: r = at::eq(x, v); break;
        case CT_NE: r = at::ne(x, v); break;
        case CT_LT: r = at::lt(x, v); break;
        case CT_LE: r = at::le(x, v); break;
        case CT_GT: r = at::gt(x, v); break;
        case CT_GE: r = at::ge(x, v); break;
        case CT_REMAINDER: r = at::remainder(x, v); break;
        default: r = binary(op, x, at::scalar_tensor(v, x.options().dtype(v.type())));
      }
    } else {
      switch (op) {
        case CT_SUB: r = at::rsub(x, v); break;
        case CT_ADD: r = at::add(x, v); break;
        case CT_MUL: r = at::mul(x, v); break;
        case CT_POW: r = at::pow(v, x); break;
        default: r = binary(op, at::scalar_tensor(v, x.options().dtype(v.type())), x);
      }
    }
    return r;
  })
}

ct_tensor ct_clamp(ct_tensor t, ct_opt_scalar lo, ct_opt_scalar hi) { CT_TENSOR(at::clamp(t->t, to_opt(lo), to_opt(hi))) }

ct_tensor ct_clamp_tensor(ct_tensor t, ct_tensor lo, ct_tensor hi) {
  CT_TENSOR(at::clamp(t->t, opt_tensor(lo), opt_tensor(hi)))
}

ct_tensor ct_softplus(ct_tensor t, double beta, double threshold) { CT_TENSOR(at::softplus(t->t, beta, threshold)) }

// ---- reductions ------------------------------------------------------------------------------------------------
ct_tensor ct_reduce(int32_t op, ct_tensor t, const int64_t *dims, int64_t ndim, int32_t keepdim) {
  CT_TENSOR_BLOCK({
    const at::Tensor &x = t->t;
    bool kd = keepdim != 0;
    at::Tensor r;
    std::vector<int64_t> all;
    at::IntArrayRef d = dims_of(dims, ndim);
    if (ndim == 0) {
      for (int64_t i = 0; i < x.dim(); ++i) all.push_back(i);
      d = all;
    }
    switch (op) {
      case CT_SUM: r = ndim == 0 && !kd ? x.sum() : x.sum(d, kd); break;
      case CT_MEAN: r = ndim == 0 && !kd ? x.mean() : x.mean(d, kd); break;
      case CT_PROD:
        if (ndim == 0 && !kd) { r = x.prod(); break; }
        r = x;
        { std::vector<int64_t> sorted(d.begin(), d.end());
          for (auto &v : sorted) v = c10::maybe_wrap_dim(v, x.dim());
          std::sort(sorted.rbegin(), sorted.rend());
          for (int64_t v : sorted) r = r.prod(v, kd); }
        break;
      case CT_AMAX: r = x.amax(d, kd); break;
      case CT_AMIN: r = x.amin(d, kd); break;
      case CT_LOGSUMEXP: r = x.logsumexp(d, kd); break;
      case CT_ANY:
        r = x;
        { std::vector<int64_t> sorted(d.begin(), d.end());
          for (auto &v : sorted) v = c10::maybe_wrap_dim(v, x.dim());
          std::sort(sorted.rbegin(), sorted.rend());
          if (sorted.empty()) r = x.any();
          for (int64_t v : sorted) r = r.any(v, kd); }
        break;
      case CT_ALL:
        r = x;
        { std::vector<int64_t> sorted(d.begin(), d.end());
          for (auto &v : sorted) v = c10::maybe_wrap_dim(v, x.dim());
          std::sort(sorted.rbegin(), sorted.rend());
          if (sorted.empty()) r = x.all();
          for (int64_t v : sorted) r = r.all(v, kd); }
        break;
      default: TORCH_CHECK(false, "unknown reduction ", op);
    }
    return r;
  })
}

ct_tensor ct_var(ct_tensor t, const int64_t *dims, int64_t ndim, int64_t correction, int32_t keepdim, int32_t is_std) {
  CT_TENSOR_BLOCK({
    c10::optional<at::IntArrayRef> d = ndim == 0 ? c10::nullopt : c10::optional<at::IntArrayRef>(dims_of(dims, ndim));
    return is_std ? at::std(t->t, d, c10::optional<int64_t>(correction), keepdim != 0)
                  : at::var(t->t, d, c10::optional<int64_t>(correction), keepdim != 0);
  })
}

ct_tensor ct_norm(ct_tensor t, double p, const int64_t *dims, int64_t ndim, int32_t keepdim) {
  CT_TENSOR_BLOCK({
    std::vector<int64_t> all;
    at::IntArrayRef d = dims_of(dims, ndim);
    if (ndim == 0) {
      for (int64_t i = 0; i < t->t.dim(); ++i) all.push_back(i);
      d = all;
    }
    return at::linalg_vector_norm(t->t, p, d, keepdim != 0);
  })
}

int ct_max_dim(ct_tensor t, int64_t dim, int32_t keepdim, int32_t is_min, ct_tensor *values, ct_tensor *indices) {
  CT_STATUS({
    auto r = is_min ? t->t.min(dim, keepdim != 0) : t->t.max(dim, keepdim != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}

ct_tensor ct_argmax(ct_tensor t, int32_t has_dim, int64_t dim, int32_t keepdim, int32_t is_min) {
  CT_TENSOR_BLOCK({
    c10::optional<int64_t> d = has_dim ? c10::optional<int64_t>(dim) : c10::nullopt;
    return is_min ? t->t.argmin(d, keepdim != 0) : t->t.argmax(d, keepdim != 0);
  })
}

ct_tensor ct_softmax(ct_tensor t, int64_t dim) { CT_TENSOR(t->t.softmax(dim)) }
ct_tensor ct_log_softmax(ct_tensor t, int64_t dim) { CT_TENSOR(t->t.log_softmax(dim)) }
ct_tensor ct_cumsum(ct_tensor t, int64_t dim) { CT_TENSOR(t->t.cumsum(dim)) }

int ct_sort(ct_tensor t, int64_t dim, int32_t descending, int32_t stable, ct_tensor *values, ct_tensor *indices) {
  CT_STATUS({
    auto r = t->t.sort(c10::optional<bool>(stable != 0), dim, descending != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}

int ct_topk(ct_tensor t, int64_t k, int64_t dim, int32_t largest, int32_t sorted, ct_tensor *values,
            ct_tensor *indices) {
  CT_STATUS({
    auto r = t->t.topk(k, dim, largest != 0, sorted != 0);
    *values = wrap(std::get<0>(r));
    *indices = wrap(std::get<1>(r));
  })
}

// ---- linear algebra and losses ---------------------------------------------------------------------------------
ct_tensor ct_matmul(ct_tensor a, ct_tensor b) { CT_TENSOR(at::matmul(a->t, b->t)) }
ct_tensor ct_bmm(ct_tensor a, ct_tensor b) { CT_TENSOR(at::bmm(a->t, b->t)) }
ct_tensor ct_einsum(const char *eq, const ct_tensor *ts, int64_t n) { CT_TENSOR(at::einsum(eq, tensors_of(ts, n))) }
ct_tensor ct_linear(ct_tensor x, ct_tensor w, ct_tensor b) {
  CT_TENSOR_BLOCK({
    if (auto skinny = ctorch::skinny_linear(x->t, w->t, opt_tensor(b))) return *skinny;
    return at::linear(x->t, w->t, opt_tensor(b));
  })
}

ct_tensor ct_lora_linear(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor lora_a, ct_tensor lora_b, double scale) {
  CT_TENSOR_BLOCK({
    const at::Tensor &input = x->t;
    TORCH_CHECK(input.dim() >= 1, "a LoRA projection needs an input of at least one dimension, got a scalar");
    at::Tensor flat = input.reshape({-1, input.size(-1)});
    auto skinny = ctorch::skinny_linear(flat, w->t, opt_tensor(b));
    at::Tensor y = skinny ? *skinny : at::linear(flat, w->t, opt_tensor(b));
    // y is new (no view of anything, and not saved by its own product's backward), so accumulating into it is safe
    // for autograd.
    y.addmm_(at::linear(flat, lora_a->t), lora_b->t.t(), 1.0, scale);
    std::vector<int64_t> sizes = input.sizes().vec();
    sizes.back() = y.size(1);
    return y.view(sizes);
  })
}

ct_tensor ct_cross_entropy(ct_tensor logits, ct_tensor target, ct_tensor weight, int64_t reduction,
                           int64_t ignore_index, double label_smoothing) {
  CT_TENSOR(at::cross_entropy_loss(logits->t, target->t, opt_tensor(weight), reduction, ignore_index, label_smoothing))
}

ct_tensor ct_nll_loss(ct_tensor logp, ct_tensor target, ct_tensor weight, int64_t reduction, int64_t ignore_index) {
  CT_TENSOR(at::nll_loss_nd(logp->t, target->t, opt_tensor(weight), reduction, ignore_index))
}

ct_tensor ct_mse_loss(ct_tensor a, ct_tensor b, int64_t reduction) { CT_TENSOR(at::mse_loss(a->t, b->t, reduction)) }

ct_tensor ct_layer_norm(ct_tensor x, const int64_t *shape, int64_t ndim, ct_tensor weight, ct_tensor bias, double eps) {
  CT_TENSOR(at::layer_norm(x->t, dims_of(shape, ndim), opt_tensor(weight), opt_tensor(bias), eps))
}

ct_tensor ct_embedding(ct_tensor weight, ct_tensor indices, int64_t padding_idx) {
  CT_TENSOR(at::embedding(weight->t, indices->t, padding_idx))
}

int ct_qr(ct_tensor a, ct_tensor *q, ct_tensor *r) {
  CT_STATUS({
    auto result = at::linalg_qr(a->t, "reduced");
    *q = wrap(std::get<0>(result));
    *r = wrap(std::get<1>(result));
  })
}

ct_tensor ct_diagonal(ct_tensor t, int64_t offset, int64_t d1, int64_t d2) { CT_TENSOR(t->t.diagonal(offset, d1, d2)) }

int32_t ct_allclose(ct_tensor a, ct_tensor b, double rtol, double atol, int32_t equal_nan) {
  CT_GUARD(-1, return at::allclose(a->t, b->t, rtol, atol, equal_nan != 0) ? 1 : 0;)
}

int32_t ct_equal(ct_tensor a, ct_tensor b) { CT_GUARD(-1, return at::equal(a->t, b->t) ? 1 : 0;) }

// ---- in place --------------------------------------------------------------------------------------------------
int ct_add_(ct_tensor t, ct_tensor o, ct_scalar alpha) { CT_STATUS(t->t.add_(o->t, to_scalar(alpha))) }
int ct_add_scalar_(ct_tensor t, ct_scalar s) { CT_STATUS(t->t.add_(to_scalar(s))) }
int ct_mul_(ct_tensor t, ct_tensor o) { CT_STATUS(t->t.mul_(o->t)) }
int ct_mul_scalar_(ct_tensor t, ct_scalar s) { CT_STATUS(t->t.mul_(to_scalar(s))) }
int ct_div_(ct_tensor t, ct_tensor o) { CT_STATUS(t->t.div_(o->t)) }
int ct_div_scalar_(ct_tensor t, ct_scalar s) { CT_STATUS(t->t.div_(to_scalar(s))) }
int ct_addcmul_(ct_tensor t, ct_tensor a, ct_tensor b, ct_scalar v) { CT_STATUS(t->t.addcmul_(a->t, b->t, to_scalar(v))) }
int ct_addcdiv_(ct_tensor t, ct_tensor a, ct_tensor b, ct_scalar v) { CT_STATUS(t->t.addcdiv_(a->t, b->t, to_scalar(v))) }
int ct_lerp_(ct_tensor t, ct_tensor end, ct_scalar w) { CT_STATUS(t->t.lerp_(end->t, to_scalar(w))) }
int ct_copy_(ct_tensor dst, ct_tensor src) { CT_STATUS(dst->t.copy_(src->t)) }
int ct_zero_(ct_tensor t) { CT_STATUS(t->t.zero_()) }
int ct_fill_(ct_tensor t, ct_scalar v) { CT_STATUS(t->t.fill_(to_scalar(v))) }
int ct_clamp_(ct_tensor t, ct_opt_scalar lo, ct_opt_scalar hi) { CT_STATUS(t->t.clamp_(to_opt(lo), to_opt(hi))) }
int ct_maximum_(ct_tensor t, ct_tensor o) { CT_STATUS(at::maximum_out(t->t, t->t, o->t)) }
int ct_sqrt_(ct_tensor t) { CT_STATUS(t->t.sqrt_()) }
int ct_uniform_(ct_tensor t, double lo, double hi, ct_generator g) { CT_STATUS(t->t.uniform_(lo, hi, gen_of(g))) }
int ct_normal_(ct_tensor t, double mean, double std, ct_generator g) { CT_STATUS(t->t.normal_(mean, std, gen_of(g))) }

int ct_set_data(ct_tensor t, ct_tensor src) { CT_STATUS(t->t.set_data(src->t)) }

// ---- autograd --------------------------------------------------------------------------------------------------
int ct_set_requires_grad(ct_tensor t, int32_t flag) { CT_STATUS(t->t.requires_grad_(flag != 0)) }
int32_t ct_requires_grad(ct_tensor t) { return t->t.requires_grad() ? 1 : 0; }
int32_t ct_is_leaf(ct_tensor t) { return t->t.is_leaf() ? 1 : 0; }

int ct_grad(ct_tensor t, ct_tensor *out) {
  CT_STATUS({
    const at::Tensor &g = t->t.grad();
    *out = g.defined() ? wrap(g) : nullptr;
  })
}

int ct_set_grad(ct_tensor t, ct_tensor g) {
  CT_STATUS({
    if (g) t->t.mutable_grad() = g->t;
    else t->t.mutable_grad().reset();
  })
}

int ct_retain_grad(ct_tensor t) { CT_STATUS(t->t.retain_grad()) }

int64_t ct_grad_fn_name(ct_tensor t, char *out, int64_t cap) {
  std::string name;
  if (auto fn = t->t.grad_fn()) name = fn->name();
  int64_t n = std::min<int64_t>(cap - 1, static_cast<int64_t>(name.size()));
  if (cap > 0) {
    std::memcpy(out, name.data(), static_cast<size_t>(std::max<int64_t>(n, 0)));
    out[std::max<int64_t>(n, 0)] = 0;
  }
  return static_cast<int64_t>(name.size());
}

int ct_backward(ct_tensor t, ct_tensor gradient, int32_t retain_graph, int32_t create_graph) {
  CT_STATUS({
    at::Tensor g = gradient ? gradient->t : at::Tensor();
    t->t.backward(g, c10::optional<bool>(retain_graph != 0), create_graph != 0);
  })
}

int ct_autograd_grad(const ct_tensor *outputs, int64_t no, const ct_tensor *grad_outputs, const ct_tensor *inputs,
                     int64_t ni, int32_t retain_graph, int32_t create_graph, int32_t allow_unused, ct_tensor *out) {
  CT_STATUS({
    std::vector<at::Tensor> outs = tensors_of(outputs, no);
    std::vector<at::Tensor> ins = tensors_of(inputs, ni);
    std::vector<at::Tensor> gouts;
    if (grad_outputs) {
      for (int64_t i = 0; i < no; ++i) gouts.push_back(grad_outputs[i] ? grad_outputs[i]->t : at::Tensor());
    }
    auto grads = torch::autograd::grad(outs, ins, gouts, c10::optional<bool>(retain_graph != 0), create_graph != 0,
                                       allow_unused != 0);
    for (int64_t i = 0; i < ni; ++i) out[i] = grads[i].defined() ? wrap(grads[i]) : nullptr;
  })
}

int32_t ct_set_grad_enabled(int32_t enabled) {
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(enabled != 0);
  return previous ? 1 : 0;
}

int32_t ct_is_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }

void *ct_inference_mode_enter(void) { return new c10::InferenceMode(true); }
void ct_inference_mode_exit(void *guard) { delete static_cast<c10::InferenceMode *>(guard); }
int32_t ct_is_inference(ct_tensor t) { return t->t.is_inference() ? 1 : 0; }

// ---- threads and build facts -----------------------------------------------------------------------------------
int ct_set_num_threads(int32_t n) {
  CT_STATUS({
    TORCH_CHECK(n > 0, "thread count must be positive, got ", n);
    // Sets OpenMP's and MKL's thread counts too: MKL's products follow this setting.
    at::set_num_threads(n);
  })
}

int32_t ct_get_num_threads(void) { return at::get_num_threads(); }

const char *ct_blas_info(void) {
  static const std::string info = [] {
    // PyTorch's wheel links MKL into libtorch_cpu; another build may use OpenBLAS or none.
    using version_fn = void (*)(char *, int);
    if (auto f = reinterpret_cast<version_fn>(dlsym(RTLD_DEFAULT, "MKL_Get_Version_String"))) {
      char buffer[256] = {0};
      f(buffer, sizeof buffer - 1);
      return std::string(buffer);
    }
    using config_fn = char *(*)(void);
    if (auto f = reinterpret_cast<config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) return std::string(f());
    return std::string("unknown");
  }();
  return info.c_str();
}

const char *ct_cpu_capability(void) {
  static const std::string capability = at::get_cpu_capability();
  return capability.c_str();
}

const char *ct_parallel_info(void) {
  thread_local std::string info;
  info = at::get_parallel_info();
  return info.c_str();
}

const char *ct_torch_version(void) { return TORCH_VERSION; }

const char *ct_libtorch_path(void) {
  static const std::string path = [] {
    Dl_info info{};
    auto symbol = reinterpret_cast<void *>(static_cast<void (*)(int)>(&at::set_num_threads));
    return dladdr(symbol, &info) && info.dli_fname ? std::string(info.dli_fname) : std::string();
  }();
  return path.c_str();
}

// ---- operations whose gradient is computed by the caller --------------------------------------------------------
void ct_set_error(const char *message) { set_error(message); }

int ct_attach_backward(const ct_tensor *inputs, int64_t n_inputs, const ct_tensor *outputs, int64_t n_outputs,
                       ct_backward_fn backward, ct_release_fn release, void *context, const char *name) {
  c10::intrusive_ptr<CallbackBackward> node;
  try {
    bool needed = at::GradMode::is_enabled();
    if (needed) {
      needed = false;
      for (int64_t i = 0; i < n_inputs; ++i) needed = needed || inputs[i]->t.requires_grad();
    }
    if (!needed) {
      if (release) release(context);
      return 0;
    }
    node = c10::make_intrusive<CallbackBackward>();
    node->backward = backward;
    node->release = release;
    node->context = context;
    node->label = std::string(name ? name : "Function") + "Backward";
    torch::autograd::edge_list edges;
    edges.reserve(static_cast<size_t>(n_inputs));
    for (int64_t i = 0; i < n_inputs; ++i) edges.push_back(torch::autograd::impl::gradient_edge(inputs[i]->t));
    node->set_next_edges(std::move(edges));
    for (int64_t i = 0; i < n_outputs; ++i) {
      at::Tensor &out = outputs[i]->t;
      TORCH_CHECK(!out.requires_grad(), node->label, ": output ", i, " already has a gradient history");
      TORCH_CHECK(torch::autograd::isDifferentiableType(out.scalar_type()), node->label, ": output ", i, " has dtype ",
                  out.scalar_type(), ", which cannot carry gradients");
      torch::autograd::set_history(out, node);
    }
    return 0;
  } catch (const c10::Error &e) {
    set_error(e.what_without_backtrace());
  } catch (const std::exception &e) {
    set_error(e.what());
  }
  // On failure the node (if made) still owns the context and releases it when destroyed.
  if (!node && release) release(context);
  return -1;
}

int ct_clip_grad_norm(const ct_tensor *grads, int64_t n, double max_norm, double norm_type, double *total) {
  CT_GUARD(-1, {
    // torch.nn.utils.clip_grad_norm_: the norm of the per-gradient norms, then one scale factor for all when it is
    // below 1 (torch multiplies by the factor clamped at 1 always; multiplying by 1 changes nothing, so it is skipped).
    const std::vector<at::Tensor> gs = tensors_of(grads, n);
    if (gs.empty()) {
      *total = 0;
      return 0;
    }
    at::Tensor norm;
    if (gs.size() == 1) {
      norm = at::linalg_vector_norm(gs[0], norm_type);
    } else {
      const at::Tensor stacked = at::stack(at::_foreach_norm(gs, norm_type));
      norm = std::isinf(norm_type) ? stacked.max() : at::linalg_vector_norm(stacked, norm_type);
    }
    *total = norm.item<double>();
    // The factor in the gradients' floating type, as torch computes it (its scalar arithmetic on a float32 norm).
    double factor;
    if (norm.scalar_type() == at::kFloat) {
      factor = static_cast<float>(max_norm) / (static_cast<float>(*total) + 1e-6f);
    } else {
      factor = max_norm / (*total + 1e-6);
    }
    if (factor < 1) at::_foreach_mul_(gs, at::Scalar(factor));
    return 0;
  })
}

int ct_adam_step(ct_tensor param, ct_tensor grad, ct_tensor exp_avg, ct_tensor exp_avg_sq, ct_tensor max_exp_avg_sq,
                 double lr, double beta1, double beta2, double eps, double weight_decay, int32_t decoupled, int64_t step) {
  CT_GUARD(-1, {
    // ATen's fused Adam/AdamW kernel (what torch.optim.Adam(fused=True) runs): one pass over the parameter.
    const at::Tensor &p = param->t;
    const auto dense = [&](const at::Tensor &t) {
      return t.device().is_cpu() && t.scalar_type() == p.scalar_type() && t.is_contiguous() && t.sizes() == p.sizes();
    };
    const bool fits = (p.scalar_type() == at::kFloat || p.scalar_type() == at::kDouble) && dense(p) &&
                      dense(grad->t) && dense(exp_avg->t) && dense(exp_avg_sq->t) &&
                      (!max_exp_avg_sq || dense(max_exp_avg_sq->t));
    if (!fits) return 0;
    const std::vector<at::Tensor> ps{p}, gs{grad->t}, ms{exp_avg->t}, vs{exp_avg_sq->t};
    std::vector<at::Tensor> maxima;
    if (max_exp_avg_sq) maxima.push_back(max_exp_avg_sq->t);
    const std::vector<at::Tensor> steps{at::full({}, static_cast<double>(step), at::kFloat)};
    const bool amsgrad = max_exp_avg_sq != nullptr;
    if (decoupled)
      at::_fused_adamw_(ps, gs, ms, vs, maxima, steps, lr, beta1, beta2, weight_decay, eps, amsgrad, false);
    else
      at::_fused_adam_(ps, gs, ms, vs, maxima, steps, lr, beta1, beta2, weight_decay, eps, amsgrad, false);
    return 1;
  })
}

}  // extern "C"
