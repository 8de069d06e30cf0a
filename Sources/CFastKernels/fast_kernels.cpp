// fast_kernels.cpp — the C entry points of fast_kernels.h: unpack the handles, run the kernels of kernels.cpp and
// ppo.cpp, count which path ran. Errors are caught and reported exactly as in ctorch.cpp.
#include "fast_kernels.h"

#include "../CTorch/internal.h"
#include "kernels.h"
#include "ppo.h"

#include <ATen/Parallel.h>

#include <atomic>

using namespace ctorch::abi;

namespace {

// Per thread, so that a caller (a test, a trainer) sees exactly the calls it made, whatever other threads do.
thread_local int64_t taken[FK_PATH_COUNT], declined[FK_PATH_COUNT];


// Layers [first, first + count) of the parallel layer arrays (gradient arrays may be NULL).
std::vector<ctorch::DenseLayer> dense_layers(const ct_tensor *weights, const ct_tensor *biases,
                                             const ct_tensor *weight_grads, const ct_tensor *bias_grads,
                                             const int32_t *activations, int64_t first, int64_t count) {
  std::vector<ctorch::DenseLayer> layers;
  for (int64_t i = first; i < first + count; ++i) {
    layers.push_back({weights[i]->t, biases[i] ? biases[i]->t : at::Tensor(),
                      weight_grads ? weight_grads[i]->t : at::Tensor(),
                      bias_grads && bias_grads[i] ? bias_grads[i]->t : at::Tensor(), activations[i]});
  }
  return layers;
}

}  // namespace

void ctorch::count_path(int32_t path, bool ran) { ++(ran ? taken : declined)[path]; }

namespace {
std::atomic<int32_t> requested_threads{0};
}

int ctorch::kernel_threads() {
  const int32_t n = requested_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : at::get_num_threads();
}

extern "C" {

ct_tensor fk_mlp(ct_tensor x, const ct_tensor *weights, const ct_tensor *biases, const int32_t *activations,
                 int64_t layers) {
  CT_TENSOR_BLOCK({
    std::vector<at::Tensor> ws = tensors_of(weights, layers);
    std::vector<at::Tensor> bs(static_cast<size_t>(layers));
    for (int64_t i = 0; i < layers; ++i) {
      if (biases[i]) bs[static_cast<size_t>(i)] = biases[i]->t;
    }
    const at::Tensor &input = x->t;
    const bool fused = input.dim() >= 1 && ctorch::fused_mlp_applies(input.reshape({-1, input.size(-1)}), ws, bs);
    ctorch::count_path(FK_PATH_MLP, fused);
    return ctorch::fused_mlp(input, ws, bs, activations);
  })
}

int fk_ppo_loss(ct_tensor head, ct_tensor log_std, ct_tensor values, ct_tensor actions, ct_tensor old_log_probs,
                ct_tensor advantages, ct_tensor old_values, ct_tensor returns, const fk_ppo_settings *settings,
                fk_ppo_diagnostics *out, ct_tensor *grad_head, ct_tensor *grad_log_std, ct_tensor *grad_values) {
  CT_STATUS({
    const auto grads = ctorch::ppo_loss(head->t, log_std ? log_std->t : at::Tensor(), values->t, actions->t,
                                        old_log_probs->t, advantages->t, old_values->t, returns->t, *settings, *out);
    ctorch::count_path(FK_PATH_PPO_LOSS, true);
    *grad_head = wrap(grads.head);
    *grad_log_std = grads.log_std.defined() ? wrap(grads.log_std) : nullptr;
    *grad_values = wrap(grads.values);
  })
}

int fk_ppo_actor_critic_step(const ct_tensor *weights, const ct_tensor *biases, const ct_tensor *weight_grads,
                             const ct_tensor *bias_grads, const int32_t *activations, int64_t policy_layers,
                             int64_t value_layers, ct_tensor log_std, ct_tensor log_std_grad, int32_t categorical,
                             int32_t sde, ct_tensor observations, ct_tensor actions, ct_tensor old_log_probs, ct_tensor advantages,
                             ct_tensor old_values, ct_tensor returns, ct_tensor indices,
                             const fk_ppo_settings *settings, fk_ppo_diagnostics *out) {
  CT_GUARD(-1, {
    const auto policy = dense_layers(weights, biases, weight_grads, bias_grads, activations, 0, policy_layers);
    const auto value = dense_layers(weights, biases, weight_grads, bias_grads, activations, policy_layers, value_layers);
    const ctorch::PPOBatch batch{observations->t, actions->t, old_log_probs->t, advantages->t,
                                 old_values->t,   returns->t, indices->t};
    const bool done = ctorch::ppo_actor_critic_step(policy, value, log_std ? log_std->t : at::Tensor(),
                                                    log_std_grad ? log_std_grad->t : at::Tensor(), categorical != 0,
                                                    sde, batch, *settings, *out);
    ctorch::count_path(FK_PATH_PPO_STEP, done);
    return done ? 1 : 0;
  })
}

int fk_actor_critic_act(const ct_tensor *weights, const ct_tensor *biases, const int32_t *activations,
                        int64_t policy_layers, int64_t value_layers, ct_tensor log_std, int32_t categorical,
                        int32_t sde, ct_tensor exploration, ct_tensor observations, ct_generator generator, ct_tensor *actions, ct_tensor *log_probs,
                        ct_tensor *values, ct_tensor *parameters) {
  CT_GUARD(-1, {
    const auto policy = dense_layers(weights, biases, nullptr, nullptr, activations, 0, policy_layers);
    const auto value = dense_layers(weights, biases, nullptr, nullptr, activations, policy_layers, value_layers);
    ctorch::ActorCriticActions result;
    const bool done = ctorch::actor_critic_act(policy, value, log_std ? log_std->t : at::Tensor(), categorical != 0,
                                               sde, exploration ? exploration->t : at::Tensor(), observations->t,
                                               gen_of(generator), result);
    ctorch::count_path(FK_PATH_ACT, done);
    if (!done) return 0;
    *actions = wrap(result.actions);
    *log_probs = wrap(result.log_probs);
    *values = wrap(result.values);
    *parameters = wrap(result.parameters);
    return 1;
  })
}

void fk_path_counts(int32_t path, int64_t *taken_out, int64_t *declined_out) {
  const bool known = path >= 0 && path < FK_PATH_COUNT;
  *taken_out = known ? taken[path] : 0;
  *declined_out = known ? declined[path] : 0;
}

const char *fk_kernel_variant(void) { return ctorch::has_avx2() ? "avx2" : "portable"; }

int32_t fk_blas_available(void) { return ctorch::blas_available() ? 1 : 0; }

void fk_set_threads(int32_t n) { requested_threads.store(n > 0 ? n : 0, std::memory_order_relaxed); }

int32_t fk_threads(void) { return requested_threads.load(std::memory_order_relaxed); }

}  // extern "C"
