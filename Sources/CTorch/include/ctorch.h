// ctorch.h — the plain C surface over libtorch (ATen + autograd) that Swift calls.
//
// Conventions, the same for every function:
// - A tensor is an opaque `ct_tensor` handle owning one at::Tensor. Every handle a function returns is new and must
//   be released exactly once with `ct_free`. Handles passed in are borrowed.
// - A function that returns a handle returns NULL on failure; one that returns `int` returns 0 on success and -1 on
//   failure. After a failure, `ct_last_error()` gives libtorch's message (thread-local; valid until the next call on
//   the same thread). No C++ exception ever crosses this boundary.
// - Dtypes and devices are passed as the small integer codes below.
#ifndef CTORCH_H
#define CTORCH_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_tensor_s *ct_tensor;
typedef struct ct_generator_s *ct_generator;

enum ct_dtype {
  CT_FLOAT32 = 0, CT_FLOAT64 = 1, CT_BFLOAT16 = 2, CT_FLOAT16 = 3,
  CT_INT64 = 4, CT_INT32 = 5, CT_INT16 = 6, CT_INT8 = 7, CT_UINT8 = 8, CT_BOOL = 9
};

enum ct_device { CT_CPU = 0, CT_CUDA = 1 };

/// A Swift-side scalar: `kind` 0 = floating (`f`), 1 = integer (`i`), 2 = boolean (`i` != 0).
typedef struct { int32_t kind; double f; int64_t i; } ct_scalar;

/// An optional scalar (for clamp bounds).
typedef struct { int32_t present; ct_scalar value; } ct_opt_scalar;

// ---- errors and lifetime ---------------------------------------------------------------------------------------
const char *ct_last_error(void);
void ct_free(ct_tensor t);
/// Number of live handles (for leak tests).
int64_t ct_live_handles(void);
/// Handles created minus handles freed on the calling thread (leak checks that other threads cannot disturb).
int64_t ct_thread_handle_balance(void);

// ---- facts -----------------------------------------------------------------------------------------------------
int64_t ct_dim(ct_tensor t);
/// Writes min(dim, cap) sizes into `out`; returns dim.
int64_t ct_sizes(ct_tensor t, int64_t *out, int64_t cap);
int64_t ct_strides(ct_tensor t, int64_t *out, int64_t cap);
int64_t ct_numel(ct_tensor t);
int32_t ct_dtype(ct_tensor t);
int32_t ct_device_type(ct_tensor t);
int32_t ct_device_index(ct_tensor t);
int32_t ct_is_contiguous(ct_tensor t);
int32_t ct_cuda_is_available(void);
/// Copies the elements (row-major, converted to `dtype`) into `out`, which holds `nbytes` bytes.
int ct_copy_out(ct_tensor t, int32_t dtype, void *out, size_t nbytes);
int ct_item(ct_tensor t, ct_scalar *out);

// ---- creation --------------------------------------------------------------------------------------------------
/// Copies `numel(dims)` elements of `dtype` from `data`.
ct_tensor ct_from_data(const void *data, const int64_t *dims, int64_t ndim, int32_t dtype);
ct_tensor ct_scalar_tensor(ct_scalar s, int32_t dtype);
ct_tensor ct_empty(const int64_t *dims, int64_t ndim, int32_t dtype, int32_t device, int32_t device_index);
ct_tensor ct_full(const int64_t *dims, int64_t ndim, ct_scalar value, int32_t dtype, int32_t device, int32_t device_index);
ct_tensor ct_arange(ct_scalar start, ct_scalar end, ct_scalar step, int32_t dtype);
ct_tensor ct_linspace(double start, double end, int64_t steps, int32_t dtype);
ct_tensor ct_eye(int64_t n, int64_t m, int32_t dtype);

// ---- random numbers --------------------------------------------------------------------------------------------
/// A seeded CPU generator; NULL `gen` arguments below mean libtorch's global default generator.
ct_generator ct_generator_new(uint64_t seed);
void ct_generator_free(ct_generator g);
int ct_generator_set_seed(ct_generator g, uint64_t seed);
uint64_t ct_generator_seed(ct_generator g);
/// The generator's full state as a uint8 tensor (for checkpoints).
ct_tensor ct_generator_get_state(ct_generator g);
int ct_generator_set_state(ct_generator g, ct_tensor state);
int ct_manual_seed(uint64_t seed);
ct_tensor ct_rand(const int64_t *dims, int64_t ndim, int32_t dtype, ct_generator gen);
ct_tensor ct_randn(const int64_t *dims, int64_t ndim, int32_t dtype, ct_generator gen);
ct_tensor ct_randint(int64_t low, int64_t high, const int64_t *dims, int64_t ndim, int32_t dtype, ct_generator gen);
ct_tensor ct_bernoulli(ct_tensor probs, ct_generator gen);
ct_tensor ct_multinomial(ct_tensor probs, int64_t n, int32_t replacement, ct_generator gen);
ct_tensor ct_randperm(int64_t n, ct_generator gen);
ct_tensor ct_dropout(ct_tensor t, double p, int32_t train, ct_generator gen);

// ---- conversion ------------------------------------------------------------------------------------------------
ct_tensor ct_to_dtype(ct_tensor t, int32_t dtype);
ct_tensor ct_to_device(ct_tensor t, int32_t device, int32_t device_index);
ct_tensor ct_contiguous(ct_tensor t);
ct_tensor ct_clone(ct_tensor t);
ct_tensor ct_detach(ct_tensor t);
/// A new handle to the same tensor (shares storage and autograd identity).
ct_tensor ct_alias(ct_tensor t);

// ---- shape -----------------------------------------------------------------------------------------------------
ct_tensor ct_reshape(ct_tensor t, const int64_t *dims, int64_t ndim);
ct_tensor ct_view(ct_tensor t, const int64_t *dims, int64_t ndim);
ct_tensor ct_permute(ct_tensor t, const int64_t *dims, int64_t ndim);
ct_tensor ct_transpose(ct_tensor t, int64_t d0, int64_t d1);
ct_tensor ct_squeeze(ct_tensor t);
ct_tensor ct_squeeze_dim(ct_tensor t, int64_t dim);
ct_tensor ct_unsqueeze(ct_tensor t, int64_t dim);
ct_tensor ct_flatten(ct_tensor t, int64_t start, int64_t end);
ct_tensor ct_expand(ct_tensor t, const int64_t *dims, int64_t ndim);
ct_tensor ct_repeat(ct_tensor t, const int64_t *dims, int64_t ndim);
ct_tensor ct_cat(const ct_tensor *ts, int64_t n, int64_t dim);
ct_tensor ct_stack(const ct_tensor *ts, int64_t n, int64_t dim);
/// Splits into pieces of the given sizes along `dim`; writes `n` handles into `out`.
int ct_split_with_sizes(ct_tensor t, const int64_t *sizes, int64_t n, int64_t dim, ct_tensor *out);
ct_tensor ct_narrow(ct_tensor t, int64_t dim, int64_t start, int64_t length);
ct_tensor ct_select(ct_tensor t, int64_t dim, int64_t index);

/// One entry of a subscript: kind 0 = integer `a`; 1 = slice a..<b by c (`has_a`/`has_b` say whether the bounds are
/// given); 2 = ellipsis; 3 = new axis; 4 = boolean or integer tensor `tensor`.
typedef struct { int32_t kind; int32_t has_a; int32_t has_b; int64_t a; int64_t b; int64_t c; ct_tensor tensor; } ct_index_item;
ct_tensor ct_index(ct_tensor t, const ct_index_item *items, int64_t n);
int ct_index_put(ct_tensor t, const ct_index_item *items, int64_t n, ct_tensor value);

ct_tensor ct_index_select(ct_tensor t, int64_t dim, ct_tensor index);
ct_tensor ct_gather(ct_tensor t, int64_t dim, ct_tensor index);
ct_tensor ct_scatter(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor src);
ct_tensor ct_scatter_add(ct_tensor t, int64_t dim, ct_tensor index, ct_tensor src);
ct_tensor ct_masked_fill(ct_tensor t, ct_tensor mask, ct_scalar value);
ct_tensor ct_masked_select(ct_tensor t, ct_tensor mask);
ct_tensor ct_where(ct_tensor cond, ct_tensor a, ct_tensor b);
ct_tensor ct_tril(ct_tensor t, int64_t diagonal);
ct_tensor ct_triu(ct_tensor t, int64_t diagonal);
/// Pads the last dimensions (PyTorch's order: last dimension first). mode 0 constant, 1 reflect, 2 replicate, 3 circular.
ct_tensor ct_pad(ct_tensor t, const int64_t *pads, int64_t n, int32_t mode, double value);

// ---- elementwise math ------------------------------------------------------------------------------------------
enum ct_unary_op {
  CT_NEG, CT_EXP, CT_LOG, CT_LOG1P, CT_EXPM1, CT_SQRT, CT_RSQRT, CT_ABS, CT_SIGN, CT_TANH, CT_SIGMOID,
  CT_LOGSIGMOID, CT_RELU, CT_GELU, CT_GELU_TANH, CT_SILU, CT_SOFTPLUS, CT_SIN, CT_COS, CT_RECIPROCAL, CT_FLOOR,
  CT_CEIL, CT_ROUND, CT_LOGICAL_NOT, CT_SQUARE, CT_ISNAN, CT_ISFINITE, CT_ERF, CT_LOG2, CT_ISINF
};
ct_tensor ct_unary(int32_t op, ct_tensor t);

enum ct_binary_op {
  CT_ADD, CT_SUB, CT_MUL, CT_DIV, CT_POW, CT_EQ, CT_NE, CT_LT, CT_LE, CT_GT, CT_GE, CT_MINIMUM, CT_MAXIMUM,
  CT_LOGICAL_AND, CT_LOGICAL_OR, CT_REMAINDER, CT_FLOOR_DIVIDE, CT_ATAN2, CT_LOGICAL_XOR
};
ct_tensor ct_binary(int32_t op, ct_tensor a, ct_tensor b);
/// `reversed` computes `s op t` instead of `t op s`.
ct_tensor ct_binary_scalar(int32_t op, ct_tensor t, ct_scalar s, int32_t reversed);
ct_tensor ct_clamp(ct_tensor t, ct_opt_scalar lo, ct_opt_scalar hi);
ct_tensor ct_clamp_tensor(ct_tensor t, ct_tensor lo, ct_tensor hi); // either bound may be NULL
ct_tensor ct_softplus(ct_tensor t, double beta, double threshold);

// ---- reductions ------------------------------------------------------------------------------------------------
enum ct_reduce_op { CT_SUM, CT_MEAN, CT_PROD, CT_AMAX, CT_AMIN, CT_LOGSUMEXP, CT_ANY, CT_ALL };
/// Reduces over `dims` (all dimensions when ndim == 0).
ct_tensor ct_reduce(int32_t op, ct_tensor t, const int64_t *dims, int64_t ndim, int32_t keepdim);
/// Variance (is_std 0) or standard deviation (1) with the given correction (1 = unbiased).
ct_tensor ct_var(ct_tensor t, const int64_t *dims, int64_t ndim, int64_t correction, int32_t keepdim, int32_t is_std);
ct_tensor ct_norm(ct_tensor t, double p, const int64_t *dims, int64_t ndim, int32_t keepdim);
/// max (is_min 0) or min (1) along a dimension, with indices.
int ct_max_dim(ct_tensor t, int64_t dim, int32_t keepdim, int32_t is_min, ct_tensor *values, ct_tensor *indices);
/// argmax (is_min 0) or argmin (1); over the flattened tensor when has_dim == 0.
ct_tensor ct_argmax(ct_tensor t, int32_t has_dim, int64_t dim, int32_t keepdim, int32_t is_min);
ct_tensor ct_softmax(ct_tensor t, int64_t dim);
ct_tensor ct_log_softmax(ct_tensor t, int64_t dim);
ct_tensor ct_cumsum(ct_tensor t, int64_t dim);
int ct_sort(ct_tensor t, int64_t dim, int32_t descending, int32_t stable, ct_tensor *values, ct_tensor *indices);
int ct_topk(ct_tensor t, int64_t k, int64_t dim, int32_t largest, int32_t sorted, ct_tensor *values, ct_tensor *indices);

// ---- linear algebra and losses ---------------------------------------------------------------------------------
ct_tensor ct_matmul(ct_tensor a, ct_tensor b);
ct_tensor ct_bmm(ct_tensor a, ct_tensor b);
ct_tensor ct_einsum(const char *equation, const ct_tensor *ts, int64_t n);
ct_tensor ct_linear(ct_tensor x, ct_tensor w, ct_tensor b); // b may be NULL
/// x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ, a LoRA-adapted projection, as two products and one accumulating product (the update
/// is added by the BLAS inside its product, not by separate scale and add passes). b may be NULL. Differentiable.
ct_tensor ct_lora_linear(ct_tensor x, ct_tensor w, ct_tensor b, ct_tensor lora_a, ct_tensor lora_b, double scale);
/// How many ct_linear calls took the skinny-product kernel (float32, at most 16 rows, no gradient recorded), and
/// switching it off (0) or on (1, the default) for comparisons with ATen's linear.
int64_t ct_skinny_linear_calls(void);
void ct_set_skinny_linear(int32_t enabled);
int32_t ct_skinny_linear_enabled(void);
/// Whether the kernel exists in this build on this CPU (x86-64 with AVX2/FMA, not a PROXIMA_PORTABLE_KERNELS build).
int32_t ct_skinny_linear_available(void);

// ---- operations whose gradient is computed by the caller (torch.autograd.Function) ------------------------------
/// Called during back-propagation with the gradient of each output (NULL where none arrived; the callee owns these
/// handles and frees them). It stores a new handle, or NULL, into grad_inputs[j] for each input (ownership passes
/// back) and returns 0, or returns nonzero after ct_set_error.
typedef int32_t (*ct_backward_fn)(void *context, const ct_tensor *grad_outputs, int64_t n_outputs,
                                  ct_tensor *grad_inputs, int64_t n_inputs);
/// Frees `context`; called exactly once, when the graph no longer needs it.
typedef void (*ct_release_fn)(void *context);
/// Makes `outputs` (computed with gradient tracking off) differentiable with respect to `inputs` through
/// `backward`. When gradient mode is off or no input requires a gradient, nothing is attached and `release` runs at
/// once. Returns 0, or -1 with an error (and `release` called).
int ct_attach_backward(const ct_tensor *inputs, int64_t n_inputs, const ct_tensor *outputs, int64_t n_outputs,
                       ct_backward_fn backward, ct_release_fn release, void *context, const char *name);
/// Sets the thread's error message (for callbacks reporting a failure).
void ct_set_error(const char *message);

/// One Adam (decoupled = 0, L2 weight decay) or AdamW (decoupled = 1) step in place by ATen's fused kernel; `step`
/// counts from 1 and max_exp_avg_sq is NULL without AMSGrad. Returns 1 when done, 0 when the tensors are not dense CPU
/// float32/float64 tensors of one dtype and size (nothing changed; use separate operations), -1 on error.
int ct_adam_step(ct_tensor param, ct_tensor grad, ct_tensor exp_avg, ct_tensor exp_avg_sq, ct_tensor max_exp_avg_sq,
                 double lr, double beta1, double beta2, double eps, double weight_decay, int32_t decoupled, int64_t step);
/// torch.nn.utils.clip_grad_norm_ over `n` gradients (ATen's per-list norm and multiply): writes the norm before
/// clipping to `total`. Returns 0 when done, -1 on error.
int ct_clip_grad_norm(const ct_tensor *grads, int64_t n, double max_norm, double norm_type, double *total);
/// reduction: 0 none, 1 mean, 2 sum (libtorch's codes). weight may be NULL.
ct_tensor ct_cross_entropy(ct_tensor logits, ct_tensor target, ct_tensor weight, int64_t reduction,
                           int64_t ignore_index, double label_smoothing);
ct_tensor ct_nll_loss(ct_tensor logp, ct_tensor target, ct_tensor weight, int64_t reduction, int64_t ignore_index);
ct_tensor ct_mse_loss(ct_tensor a, ct_tensor b, int64_t reduction);
ct_tensor ct_layer_norm(ct_tensor x, const int64_t *shape, int64_t ndim, ct_tensor weight, ct_tensor bias, double eps);
ct_tensor ct_embedding(ct_tensor weight, ct_tensor indices, int64_t padding_idx);
/// Reduced QR decomposition (torch.linalg.qr, mode "reduced").
int ct_qr(ct_tensor a, ct_tensor *q, ct_tensor *r);
ct_tensor ct_diagonal(ct_tensor t, int64_t offset, int64_t dim1, int64_t dim2);
int32_t ct_allclose(ct_tensor a, ct_tensor b, double rtol, double atol, int32_t equal_nan);
int32_t ct_equal(ct_tensor a, ct_tensor b);

// ---- in place (for optimizers; these bypass nothing: autograd still checks leaf rules) -------------------------
int ct_add_(ct_tensor t, ct_tensor other, ct_scalar alpha);
int ct_add_scalar_(ct_tensor t, ct_scalar s);
int ct_mul_(ct_tensor t, ct_tensor other);
int ct_mul_scalar_(ct_tensor t, ct_scalar s);
int ct_div_(ct_tensor t, ct_tensor other);
int ct_div_scalar_(ct_tensor t, ct_scalar s);
int ct_addcmul_(ct_tensor t, ct_tensor a, ct_tensor b, ct_scalar value);
int ct_addcdiv_(ct_tensor t, ct_tensor a, ct_tensor b, ct_scalar value);
int ct_lerp_(ct_tensor t, ct_tensor end, ct_scalar weight);
int ct_copy_(ct_tensor dst, ct_tensor src);
int ct_zero_(ct_tensor t);
int ct_fill_(ct_tensor t, ct_scalar value);
int ct_clamp_(ct_tensor t, ct_opt_scalar lo, ct_opt_scalar hi);
int ct_maximum_(ct_tensor t, ct_tensor other);
int ct_sqrt_(ct_tensor t);
int ct_uniform_(ct_tensor t, double lo, double hi, ct_generator gen);
int ct_normal_(ct_tensor t, double mean, double std, ct_generator gen);

/// Makes `t` use `src`'s storage and shape (torch's `t.data = src`): `t` keeps its identity and autograd role.
int ct_set_data(ct_tensor t, ct_tensor src);

// ---- autograd --------------------------------------------------------------------------------------------------
int ct_set_requires_grad(ct_tensor t, int32_t flag);
int32_t ct_requires_grad(ct_tensor t);
int32_t ct_is_leaf(ct_tensor t);
/// Writes the accumulated gradient into `out`, or NULL when there is none.
int ct_grad(ct_tensor t, ct_tensor *out);
/// Replaces the gradient (`g` NULL clears it).
int ct_set_grad(ct_tensor t, ct_tensor g);
int ct_retain_grad(ct_tensor t);
/// Name of the node that produced `t` ("" for a leaf); returns the length written.
int64_t ct_grad_fn_name(ct_tensor t, char *out, int64_t cap);
int ct_backward(ct_tensor t, ct_tensor gradient, int32_t retain_graph, int32_t create_graph);
/// Gradients of `outputs` with respect to `inputs` (torch.autograd.grad). `grad_outputs` may be NULL or hold NULLs.
/// Writes `ni` handles into `out`; an unused input gets NULL when allow_unused.
int ct_autograd_grad(const ct_tensor *outputs, int64_t no, const ct_tensor *grad_outputs, const ct_tensor *inputs,
                     int64_t ni, int32_t retain_graph, int32_t create_graph, int32_t allow_unused, ct_tensor *out);
/// Sets the thread's grad mode and returns the previous one.
int32_t ct_set_grad_enabled(int32_t enabled);
int32_t ct_is_grad_enabled(void);
/// Enters inference mode on this thread; the returned guard must be passed to ct_inference_mode_exit on the same thread.
void *ct_inference_mode_enter(void);
void ct_inference_mode_exit(void *guard);
int32_t ct_is_inference(ct_tensor t);

// ---- threads and build facts -----------------------------------------------------------------------------------
/// Sets libtorch's intra-op threads (OpenMP's and MKL's follow).
int ct_set_num_threads(int32_t n);
int32_t ct_get_num_threads(void);
/// The BLAS that Proxima's fused kernels call and its version, or "none found".
const char *ct_blas_info(void);
/// ATen's vectorised kernel level in use ("AVX2", "AVX512", "DEFAULT", …).
const char *ct_cpu_capability(void);
/// ATen's description of its thread pools (intra-op, inter-op, OpenMP, MKL).
const char *ct_parallel_info(void);
/// The libtorch version the C layer was compiled against ("2.15.0").
const char *ct_torch_version(void);
/// The file of the libtorch_cpu library this process loaded.
const char *ct_libtorch_path(void);

#ifdef __cplusplus
}
#endif
#endif
