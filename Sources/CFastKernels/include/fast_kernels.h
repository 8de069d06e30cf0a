// fast_kernels.h — Proxima's hand-written CPU kernels for small reinforcement-learning networks, as a C API over the
// same tensor handles as ctorch.h (same conventions: handles borrowed, 0/1 for "declined"/"done", -1 and
// ct_last_error() on failure). Used by the FastKernels Swift target, which only ReinforcementLearning depends on.
// Every fast path counts how often it ran and how often it declined (fk_path_counts), so a caller can verify that
// the path it expects is the one that runs.
#ifndef FAST_KERNELS_H
#define FAST_KERNELS_H

#include "../../CTorch/include/ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Activations of fk_mlp's layers.
enum fk_mlp_activation { FK_MLP_IDENTITY = 0, FK_MLP_TANH = 1, FK_MLP_RELU = 2 };
/// A multilayer perceptron in one autograd node: for each layer i, h = act_i(h·weights[i]ᵀ + biases[i]) (biases[i]
/// may be NULL). Falls back to separate operations when the inputs are not CPU float32/float64 with 2-D weights.
ct_tensor fk_mlp(ct_tensor x, const ct_tensor *weights, const ct_tensor *biases, const int32_t *activations,
                 int64_t layers);

// ---- PPO ---------------------------------------------------------------------------------------------------------
/// PPO's minibatch objective (ALGORITHMS-rl A6): clipped surrogate on optionally normalised advantages, value loss,
/// entropy bonus.
typedef struct {
  double clip_range;
  /// Value clipping around the old values when `clip_value` is non-zero.
  int32_t clip_value;
  double clip_range_value;
  int32_t normalize_advantages;
  /// (A − mean) / (std + eps), std with Bessel's correction.
  double normalization_eps;
  double entropy_coefficient;
  double value_coefficient;
  /// 0: Stable-Baselines3 (mean squared error, clipped values when clipping); 1: CleanRL (½, max of both when clipping).
  int32_t value_loss;
} fk_ppo_settings;

/// The minibatch's losses (loss = policy + entropy_coefficient·entropy + value_coefficient·value) and diagnostics.
typedef struct {
  double loss, policy_loss, value_loss, entropy_loss;
  /// mean(ρ − 1 − log ρ) (k3).
  double approx_kl;
  /// Fraction of ρ outside [1 − ε, 1 + ε].
  double clip_fraction;
  /// Fraction of samples whose clipped squared value error exceeds the unclipped one (0 without value clipping).
  double value_clip_fraction;
} fk_ppo_diagnostics;

/// The objective for a categorical (head = log-probabilities [B, A], log_std NULL, actions int64 [B]) or diagonal
/// Gaussian policy (head = means [B, A], log_std [B, A], actions [B, A]) and values [B]. Writes the diagnostics and new
/// gradient tensors of the loss for `head`, `log_std` (NULL for categorical) and `values`.
int fk_ppo_loss(ct_tensor head, ct_tensor log_std, ct_tensor values, ct_tensor actions, ct_tensor old_log_probs,
                ct_tensor advantages, ct_tensor old_values, ct_tensor returns, const fk_ppo_settings *settings,
                fk_ppo_diagnostics *out, ct_tensor *grad_head, ct_tensor *grad_log_std, ct_tensor *grad_values);

/// One PPO minibatch on an actor-critic of two separate MLPs, without autograd: gathers rows `indices` of the rollout
/// tensors, runs both networks, computes the objective and writes every parameter's gradient (overwriting) into the
/// given gradient tensors. The layers come as parallel arrays, the policy network's `policy_layers` first, then the
/// value network's `value_layers`; `biases[i]` and `bias_grads[i]` may be NULL. The policy network ends in logits
/// (categorical = 1, actions int64 [N]) or Gaussian means (categorical = 0, actions [N, A], log_std [A] with its
/// gradient log_std_grad); the value network ends in one output. Returns 1 when done, 0 when the tensors do not fit
/// (nothing changed: use autograd), -1 on error.
/// gSDE in the fused kernels (docs/gsde.md): none, or unsquashed with S = e^(log S) or expln(log S).
enum fk_sde { FK_SDE_NONE = 0, FK_SDE_EXP = 1, FK_SDE_EXPLN = 2 };

/// With `sde` ≠ FK_SDE_NONE, `log_std` is gSDE's log S [L, D or 1] (L the action head's inputs) and `log_std_grad`
/// its gradient of the same shape.
int fk_ppo_actor_critic_step(const ct_tensor *weights, const ct_tensor *biases, const ct_tensor *weight_grads,
                             const ct_tensor *bias_grads, const int32_t *activations, int64_t policy_layers,
                             int64_t value_layers, ct_tensor log_std, ct_tensor log_std_grad, int32_t categorical,
                             int32_t sde, ct_tensor observations, ct_tensor actions, ct_tensor old_log_probs, ct_tensor advantages,
                             ct_tensor old_values, ct_tensor returns, ct_tensor indices,
                             const fk_ppo_settings *settings, fk_ppo_diagnostics *out);

/// One rollout step of the same actor-critic: runs both networks (the same parallel layer arrays, without gradients) on
/// `observations` [N, F] and samples one action per row as Categorical / DiagonalGaussian sample with `generator` (NULL:
/// the default generator). Writes new tensors: actions (int64 [N] or [N, A]), log_probs [N], values [N] and the
/// distribution's parameters per row (log-probabilities [N, A], or means then log-std [N, 2A]). Returns 1 when done, 0
/// when the tensors do not fit (nothing written), -1 on error.
/// With `sde`, actions are μ + φ·E for `exploration` ([L, D], or [N, L, D] one matrix per row); parameters are
/// means then the per-row log σ.
int fk_actor_critic_act(const ct_tensor *weights, const ct_tensor *biases, const int32_t *activations,
                        int64_t policy_layers, int64_t value_layers, ct_tensor log_std, int32_t categorical,
                        int32_t sde, ct_tensor exploration, ct_tensor observations, ct_generator generator, ct_tensor *actions, ct_tensor *log_probs,
                        ct_tensor *values, ct_tensor *parameters);

// ---- observability -----------------------------------------------------------------------------------------------
/// The fast paths, for fk_path_counts.
/// FK_PATH_SMALL_PRODUCT counts the float32 products inside those paths: taken by Proxima's AVX2 kernel, or
/// declined to the BLAS.
enum fk_path {
  FK_PATH_MLP = 0, FK_PATH_PPO_LOSS = 1, FK_PATH_PPO_STEP = 2, FK_PATH_ACT = 3, FK_PATH_SMALL_PRODUCT = 4,
  FK_PATH_COUNT = 5
};
/// How often path `path` ran (`taken`) and declined the inputs it was given (`declined`) on the calling thread.
void fk_path_counts(int32_t path, int64_t *taken, int64_t *declined);
/// The instruction set the kernels were compiled for and run with: "avx2" (x86-64 with AVX2 and FMA at run time) or
/// "portable" (plain C++: other CPUs, or a build with PROXIMA_PORTABLE_KERNELS defined).
const char *fk_kernel_variant(void);
/// Sets how many threads the fused kernels may use (PPO's step runs its policy and value halves in parallel from 2);
/// 0 or less: follow libtorch's intra-op thread count (the default).
void fk_set_threads(int32_t n);
/// The count fk_set_threads set, or 0 when the kernels follow libtorch's.
int32_t fk_threads(void);
/// Whether the BLAS the fused products call was found (libtorch's MKL, through its Fortran entry points).
int32_t fk_blas_available(void);

#ifdef __cplusplus
}
#endif
#endif
