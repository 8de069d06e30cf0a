// ppo.h — PPO's minibatch objective with its gradient, and the fused actor-critic PPO gradient step (ppo.cpp).
// Used by ctorch.cpp; not part of the C API.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "fast_kernels.h"

namespace ctorch {

/// One dense layer of an MLP given to the fused step: weight [out, in], optional bias [out], and the tensors its
/// gradients are written to (same shapes; overwritten, not accumulated).
struct DenseLayer {
  at::Tensor weight, bias, weight_grad, bias_grad;
  int32_t activation;
};

/// The losses and diagnostics of one minibatch (fk_ppo_diagnostics).
using PPODiagnostics = fk_ppo_diagnostics;

/// PPO's objective on a policy head (log-probabilities [B, A] of a categorical, or the means [B, A] of a diagonal
/// Gaussian with `log_std` [B, A]) and values [B]; returns the gradients of the total loss with respect to the head,
/// log_std (undefined for categorical) and values.
struct PPOLossGradients {
  at::Tensor head, log_std, values;
};
PPOLossGradients ppo_loss(const at::Tensor &head, const at::Tensor &log_std, const at::Tensor &values,
                          const at::Tensor &actions, const at::Tensor &old_log_probs, const at::Tensor &advantages,
                          const at::Tensor &old_values, const at::Tensor &returns, const fk_ppo_settings &settings,
                          PPODiagnostics &out);

/// The rollout a fused step draws its minibatch from: full-rollout tensors of the parameters' dtype (actions int64
/// for categorical policies) and the minibatch's row indices.
struct PPOBatch {
  at::Tensor observations, actions, old_log_probs, advantages, old_values, returns, indices;
};

/// Forward pass, PPO loss and backward pass of an actor-critic made of two separate MLPs, without autograd. The policy
/// network's last layer gives logits (categorical) or Gaussian means (with the state-independent `log_std` [A]); the
/// value network's last layer has one output. Gradients are written into the layers' gradient tensors and
/// `log_std_grad`. The policy half and the value half are independent and run on two threads when libtorch has two
/// or more. Returns false, touching nothing, when the tensors do not fit (not CPU, mixed dtypes, not contiguous, no
/// BLAS); then the caller uses autograd.
/// With `sde` (FK_SDE_EXP or FK_SDE_EXPLN) the policy explores with unsquashed gSDE: `log_std` [L, D or 1] is log S,
/// σ per row comes from the action head's input features (detached), and `log_std_grad` receives d/d log S.
bool ppo_actor_critic_step(const std::vector<DenseLayer> &policy, const std::vector<DenseLayer> &value,
                           const at::Tensor &log_std, const at::Tensor &log_std_grad, bool categorical, int32_t sde,
                           const PPOBatch &batch, const fk_ppo_settings &settings, PPODiagnostics &out);

/// A rollout step of the same actor-critic: both networks on `observations` [N, F], then one action sampled per row
/// exactly as Categorical / DiagonalGaussian sample (multinomial on the probabilities; μ + e^s·ε) with `generator`.
struct ActorCriticActions {
  /// int64 [N] (categorical) or [N, A]; log-probabilities and values [N]; the distribution's parameters per row:
  /// log-probabilities [N, A], or means and log-std [N, 2A].
  at::Tensor actions, log_probs, values, parameters;
};
/// False, computing nothing, when the tensors do not fit (as for ppo_actor_critic_step).
/// With `sde`, actions are μ + φ·E for the exploration matrix `exploration` ([L, D] shared, or [N, L, D] one per row)
/// and the parameters are means then the per-row log σ.
bool actor_critic_act(const std::vector<DenseLayer> &policy, const std::vector<DenseLayer> &value,
                      const at::Tensor &log_std, bool categorical, int32_t sde, const at::Tensor &exploration,
                      const at::Tensor &observations, const c10::optional<at::Generator> &generator,
                      ActorCriticActions &out);

}  // namespace ctorch
