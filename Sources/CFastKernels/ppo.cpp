// ppo.cpp — PPO's minibatch objective with a hand-derived gradient, and the whole PPO gradient computation of the
// default actor-critic (a policy MLP and a value MLP) without autograd.
//
// The objective follows ALGORITHMS-rl A6 in double precision, whatever the tensors' dtype, and splits the gradient
// at ties of `max` and at the bounds of `clamp` exactly as autograd does on the composed losses (FusedPPOLossTests
// compare the two). Recording those ~40 small operations through autograd costs far more than their arithmetic for
// minibatches of a few hundred samples.
//
// The fused step goes further for MLPActorCritic: gather the minibatch, run both networks, compute the objective and
// back-propagate, all on raw arrays (kernels.cpp's products, tanh and loops), which for PPO's default CartPole
// networks saves most of a step's cost compared with driving the fused MLP nodes through libtorch's autograd engine
// (docs/benchmarks.md). The policy half (policy network, surrogate, entropy) and the value half (value network, value
// loss) share nothing but the observations, so with two or more threads (fk_set_threads) they run side by side.
#include "ppo.h"

#include <ATen/Parallel.h>  // at::get_num_threads
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "kernels.h"

namespace ctorch {
namespace {

// What the policy half and the value half of the objective sum over the minibatch.
struct PolicySums {
  double policy = 0, entropy = 0, kl = 0, clipped = 0;
};
struct ValueSums {
  double value = 0, clipped = 0;
};

// Row i of a minibatch is row rows[i] of the arrays (rows null: row i).
inline int64_t row_of(const int64_t *rows, int64_t i) { return rows ? rows[i] : i; }

// The minibatch's advantages, normalised when asked: (A − mean) / (std + eps), std with Bessel's correction.
template <typename T>
void prepare_advantages(const T *advantages, const int64_t *rows, int64_t n, const fk_ppo_settings &s,
                        std::vector<double> &out) {
  out.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<double>(advantages[row_of(rows, i)]);
  if (!s.normalize_advantages || n < 2) return;
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += out[i];
  mean /= static_cast<double>(n);
  double variance = 0;
  for (int64_t i = 0; i < n; ++i) variance += (out[i] - mean) * (out[i] - mean);
  variance /= static_cast<double>(n - 1);
  const double scale = std::sqrt(variance) + s.normalization_eps;
  for (int64_t i = 0; i < n; ++i) out[i] = (out[i] - mean) / scale;
}

// Clipped surrogate of one sample: adds to the sums and returns d(mean policy loss)/d(log π(a|s)).
inline double surrogate(double log_prob, double old_log_prob, double advantage, double n, const fk_ppo_settings &s,
                        PolicySums &sums) {
  const double low = 1 - s.clip_range, high = 1 + s.clip_range;
  const double log_ratio = log_prob - old_log_prob;
  const double ratio = std::exp(log_ratio);
  const double unclipped = -advantage * ratio;
  const double clipped = -advantage * std::min(std::max(ratio, low), high);
  sums.policy += std::max(unclipped, clipped);
  sums.kl += ratio - 1 - log_ratio;
  const bool inside = ratio >= low && ratio <= high;
  if (!inside) sums.clipped += 1;
  // autograd's max passes the gradient to the larger argument, half to each on a tie; clamp passes none outside.
  double d_ratio;
  if (unclipped > clipped) {
    d_ratio = -advantage;
  } else if (unclipped < clipped) {
    d_ratio = inside ? -advantage : 0;
  } else {
    d_ratio = -advantage * (inside ? 1 : 0.5);
  }
  return d_ratio * ratio / n;
}

// The policy half for a minibatch of `batch` samples: `head` [B, A] holds log-probabilities (categorical) or means
// (Gaussian, with log_std rows `log_std_stride` apart: 0 for one shared row). Writes the loss's gradient with respect
// to the head into grad_head [B, A] and, for Gaussians, with respect to each log_std element into grad_log_std [B, A].
// Actions, old log-probabilities and advantages are read at rows `rows` (null: 0..<B); `advantages` are prepared.
template <typename T>
PolicySums policy_half(int64_t batch, int64_t width, bool categorical, const T *head, const T *log_std,
                       int64_t log_std_stride, const int64_t *discrete_actions, const T *continuous_actions,
                       const T *old_log_probs, const int64_t *rows, const std::vector<double> &advantages,
                       const fk_ppo_settings &s, T *grad_head, T *grad_log_std) {
  PolicySums sums;
  const double n = static_cast<double>(batch);
  const double entropy_coefficient = s.entropy_coefficient;
  const double half_log_two_pi = 0.5 * std::log(2 * M_PI);
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t r = row_of(rows, i);
    const T *h = head + i * width;
    T *gh = grad_head + i * width;
    if (categorical) {
      const int64_t a = discrete_actions[r];
      TORCH_CHECK(a >= 0 && a < width, "action ", a, " out of range for ", width, " categories");
      for (int64_t k = 0; k < width; ++k) {
        const double lp = static_cast<double>(h[k]);
        sums.entropy -= std::exp(lp) * lp;
      }
      const double d_log_prob =
          surrogate(static_cast<double>(h[a]), static_cast<double>(old_log_probs[r]), advantages[i], n, s, sums);
      // d(−mean entropy)/dℓ_k = p_k (ℓ_k + 1) / B with p = e^ℓ.
      for (int64_t k = 0; k < width; ++k) {
        const double lp = static_cast<double>(h[k]);
        const double entropy_term = entropy_coefficient * std::exp(lp) * (lp + 1) / n;
        gh[k] = static_cast<T>(k == a ? d_log_prob + entropy_term : entropy_term);
      }
    } else {
      const T *action = continuous_actions + r * width;
      const T *ls = log_std + i * log_std_stride;
      double log_prob = 0;
      for (int64_t d = 0; d < width; ++d) {
        const double sd = static_cast<double>(ls[d]);
        const double z = (static_cast<double>(action[d]) - static_cast<double>(h[d])) * std::exp(-sd);
        log_prob += -0.5 * z * z - sd - half_log_two_pi;
        sums.entropy += sd + 0.5 + half_log_two_pi;
      }
      const double d_log_prob =
          surrogate(log_prob, static_cast<double>(old_log_probs[r]), advantages[i], n, s, sums);
      T *gs = grad_log_std + i * width;
      for (int64_t d = 0; d < width; ++d) {
        const double sd = static_cast<double>(ls[d]);
        const double inverse_std = std::exp(-sd);
        const double z = (static_cast<double>(action[d]) - static_cast<double>(h[d])) * inverse_std;
        gh[d] = static_cast<T>(d_log_prob * z * inverse_std);
        gs[d] = static_cast<T>(d_log_prob * (z * z - 1) - entropy_coefficient / n);
      }
    }
  }
  return sums;
}

// The value half: values [B] against returns (optionally clipped around the old values); writes the loss's gradient
// with respect to the values into grad_values [B]. Old values and returns are read at rows `rows`.
template <typename T>
ValueSums value_half(int64_t batch, const T *values, const T *old_values, const T *returns, const int64_t *rows,
                     const fk_ppo_settings &s, T *grad_values) {
  ValueSums sums;
  const double n = static_cast<double>(batch);
  const bool cleanrl = s.value_loss == 1;
  const double half = cleanrl ? 0.5 : 1.0;
  const double c = s.clip_range_value;
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t r = row_of(rows, i);
    const double v = static_cast<double>(values[i]), ret = static_cast<double>(returns[r]);
    const double error = v - ret;
    const double unclipped_squared = error * error;
    double d_value;
    if (!s.clip_value) {
      sums.value += unclipped_squared;
      d_value = half * 2 * error / n;
    } else {
      const double old = static_cast<double>(old_values[r]);
      const double delta = v - old;
      const bool inside = delta >= -c && delta <= c;
      const double clipped_error = old + std::min(std::max(delta, -c), c) - ret;
      const double clipped_squared = clipped_error * clipped_error;
      if (clipped_squared > unclipped_squared) sums.clipped += 1;
      const double d_clipped = inside ? 2 * clipped_error : 0;
      if (!cleanrl) {
        sums.value += clipped_squared;
        d_value = d_clipped / n;
      } else {
        sums.value += std::max(unclipped_squared, clipped_squared);
        double d;
        if (unclipped_squared > clipped_squared) {
          d = 2 * error;
        } else if (unclipped_squared < clipped_squared) {
          d = d_clipped;
        } else {
          d = (2 * error + d_clipped) / 2;
        }
        d_value = 0.5 * d / n;
      }
    }
    grad_values[i] = static_cast<T>(d_value * s.value_coefficient);
  }
  return sums;
}

void finish(const PolicySums &p, const ValueSums &v, int64_t batch, const fk_ppo_settings &s, PPODiagnostics &out) {
  const double n = static_cast<double>(batch);
  out.policy_loss = p.policy / n;
  out.value_loss = (s.value_loss == 1 ? 0.5 : 1.0) * v.value / n;
  out.entropy_loss = -p.entropy / n;
  out.loss = out.policy_loss + s.entropy_coefficient * out.entropy_loss + s.value_coefficient * out.value_loss;
  out.approx_kl = p.kl / n;
  out.clip_fraction = p.clipped / n;
  out.value_clip_fraction = s.clip_value ? v.clipped / n : 0;
}

// ---- the fused actor-critic step -------------------------------------------------------------------------------

// Buffers of one half (policy or value), kept per thread and reused from call to call.
template <typename T>
struct Workspace {
  std::vector<std::vector<T>> outputs;  // each layer's output after its activation
  std::vector<T> grad, grad_below, scratch, log_probs, log_std_grads, sde_log_std;
  std::vector<double> advantages, sde_std, sde_dstd, sde_var;
};

// ---- gSDE (docs/gsde.md) ----------------------------------------------------------------------------------------

// The noise's standard deviations S [L, D] and dS/d(log S) from the parameter log S ([L, D], or [L, 1] shared by
// every action): e^s, or with expln e^s for s ≤ 0 and log(1 + s + 10⁻⁶) + 1 above, as StateDependentExploration.swift.
template <typename T>
void sde_standard_deviations(const at::Tensor &log_std, bool expln, int64_t width, std::vector<double> &std_out,
                             std::vector<double> &derivative) {
  const T *ls = log_std.data_ptr<T>();
  const int64_t latent = log_std.size(0), columns = log_std.size(1);
  std_out.resize(static_cast<size_t>(latent * width));
  derivative.resize(static_cast<size_t>(latent * width));
  for (int64_t k = 0; k < latent; ++k) {
    for (int64_t j = 0; j < width; ++j) {
      const double s = static_cast<double>(ls[k * columns + (columns == 1 ? 0 : j)]);
      double v, dv;
      if (!expln || s <= 0) {
        v = std::exp(s);
        dv = v;
      } else {
        v = std::log1p(s + 1e-6) + 1;
        dv = 1 / (1 + s + 1e-6);
      }
      std_out[k * width + j] = v;
      derivative[k * width + j] = dv;
    }
  }
}

// Per-row variances σ²_bj = Σ_k φ_bk² S_kj² + 10⁻⁶ and log σ_bj for latent features φ [B, L].
template <typename T>
void sde_rows(const T *phi, int64_t batch, int64_t latent, int64_t width, const std::vector<double> &std_values,
              std::vector<double> &variance, std::vector<T> &log_std) {
  variance.resize(static_cast<size_t>(batch * width));
  log_std.resize(static_cast<size_t>(batch * width));
  for (int64_t i = 0; i < batch; ++i) {
    for (int64_t j = 0; j < width; ++j) {
      double v = 1e-6;
      for (int64_t k = 0; k < latent; ++k) {
        const double p = static_cast<double>(phi[i * latent + k]), sd = std_values[k * width + j];
        v += p * p * sd * sd;
      }
      variance[i * width + j] = v;
      log_std[i * width + j] = static_cast<T>(0.5 * std::log(v));
    }
  }
}

template <typename T>
void forward(const std::vector<DenseArrays<T>> &net, const T *x, int64_t batch, Workspace<T> &ws) {
  ws.outputs.resize(net.size());
  std::vector<T *> outputs;
  for (size_t i = 0; i < net.size(); ++i) {
    ws.outputs[i].resize(static_cast<size_t>(batch * net[i].out));
    outputs.push_back(ws.outputs[i].data());
  }
  mlp_forward(net, x, batch, outputs, ws.scratch);  // the caller checked that BLAS exists
}

// Back-propagates ws.grad (the gradient with respect to the last layer's output) and writes every layer's gradients.
template <typename T>
void backward(const std::vector<DenseArrays<T>> &net, const T *x, int64_t batch, Workspace<T> &ws) {
  std::vector<const T *> outputs;
  for (const auto &o : ws.outputs) outputs.push_back(o.data());
  mlp_backward(net, x, outputs, batch, ws.grad, ws.grad_below, static_cast<T *>(nullptr));
}

// Row-wise log-softmax as ATen computes it: (ℓ − max) − log Σ e^(ℓ − max).
template <typename T>
void log_softmax_rows(const T *logits, int64_t batch, int64_t width, T *out) {
  for (int64_t i = 0; i < batch; ++i) {
    const T *l = logits + i * width;
    T *lp = out + i * width;
    const T top = *std::max_element(l, l + width);
    T total = 0;
    for (int64_t k = 0; k < width; ++k) total += std::exp(l[k] - top);
    const T log_total = std::log(total);
    for (int64_t k = 0; k < width; ++k) lp[k] = (l[k] - top) - log_total;
  }
}

template <typename T>
std::vector<DenseArrays<T>> raw_layers(const std::vector<DenseLayer> &layers) {
  std::vector<DenseArrays<T>> out;
  for (const DenseLayer &l : layers) {
    out.push_back({l.weight.data_ptr<T>(), l.bias.defined() ? l.bias.data_ptr<T>() : nullptr,
                   l.weight_grad.defined() ? l.weight_grad.data_ptr<T>() : nullptr,
                   l.bias_grad.defined() ? l.bias_grad.data_ptr<T>() : nullptr, l.weight.size(1), l.weight.size(0),
                   l.activation});
  }
  return out;
}

template <typename T>
void fused_step(const std::vector<DenseLayer> &policy_layers, const std::vector<DenseLayer> &value_layers,
                const at::Tensor &log_std, const at::Tensor &log_std_grad, bool categorical, int32_t sde,
                const PPOBatch &b, const fk_ppo_settings &s, PPODiagnostics &out) {
  const std::vector<DenseArrays<T>> policy = raw_layers<T>(policy_layers), value = raw_layers<T>(value_layers);
  const int64_t batch = b.indices.size(0), features = b.observations.size(1), rollout = b.observations.size(0);
  const int64_t *rows = b.indices.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch; ++i)
    TORCH_CHECK(rows[i] >= 0 && rows[i] < rollout, "minibatch index ", rows[i], " out of range for a rollout of ",
                rollout);
  std::vector<T> x(static_cast<size_t>(batch * features));
  const T *observations = b.observations.data_ptr<T>();
  for (int64_t i = 0; i < batch; ++i)
    std::copy(observations + rows[i] * features, observations + (rows[i] + 1) * features, x.data() + i * features);

  PolicySums policy_sums;
  ValueSums value_sums;
  auto policy_task = [&] {
    thread_local Workspace<T> ws;
    forward(policy, x.data(), batch, ws);
    const int64_t width = policy.back().out;
    const T *head = ws.outputs.back().data();
    prepare_advantages(b.advantages.data_ptr<T>(), rows, batch, s, ws.advantages);
    ws.grad.resize(static_cast<size_t>(batch * width));
    if (categorical) {
      ws.log_probs.resize(static_cast<size_t>(batch * width));
      log_softmax_rows(head, batch, width, ws.log_probs.data());
      policy_sums = policy_half<T>(batch, width, true, ws.log_probs.data(), nullptr, 0, b.actions.data_ptr<int64_t>(),
                                   nullptr, b.old_log_probs.data_ptr<T>(), rows, ws.advantages, s, ws.grad.data(),
                                   nullptr);
      // Through the log-softmax: dℓ_k = g_k − e^{lp_k}·Σ_j g_j.
      for (int64_t i = 0; i < batch; ++i) {
        T *g = ws.grad.data() + i * width;
        const T *lp = ws.log_probs.data() + i * width;
        T total = 0;
        for (int64_t k = 0; k < width; ++k) total += g[k];
        for (int64_t k = 0; k < width; ++k) g[k] = g[k] - std::exp(lp[k]) * total;
      }
    } else if (sde != FK_SDE_NONE) {
      // gSDE: σ per row from the latent features φ (the action head's input, detached), then the chain rule from
      // d/d log σ_bj to d/d log S_kj: φ_bk² S_kj (dS_kj/d log S_kj) / σ²_bj.
      const int64_t latent = policy.back().in;
      const T *phi = policy.size() >= 2 ? ws.outputs[policy.size() - 2].data() : x.data();
      sde_standard_deviations<T>(log_std, sde == FK_SDE_EXPLN, width, ws.sde_std, ws.sde_dstd);
      sde_rows<T>(phi, batch, latent, width, ws.sde_std, ws.sde_var, ws.sde_log_std);
      ws.log_std_grads.resize(static_cast<size_t>(batch * width));
      policy_sums = policy_half<T>(batch, width, false, head, ws.sde_log_std.data(), width, nullptr,
                                   b.actions.data_ptr<T>(), b.old_log_probs.data_ptr<T>(), rows, ws.advantages, s,
                                   ws.grad.data(), ws.log_std_grads.data());
      const int64_t columns = log_std.size(1);
      std::vector<double> total(static_cast<size_t>(latent * columns), 0.0);
      for (int64_t i = 0; i < batch; ++i) {
        for (int64_t j = 0; j < width; ++j) {
          const double g = static_cast<double>(ws.log_std_grads[i * width + j]) / ws.sde_var[i * width + j];
          for (int64_t k = 0; k < latent; ++k) {
            const double p = static_cast<double>(phi[i * latent + k]);
            total[k * columns + (columns == 1 ? 0 : j)] += g * p * p * ws.sde_std[k * width + j] * ws.sde_dstd[k * width + j];
          }
        }
      }
      T *gs = log_std_grad.data_ptr<T>();
      for (size_t e = 0; e < total.size(); ++e) gs[e] = static_cast<T>(total[e]);
    } else {
      ws.log_std_grads.resize(static_cast<size_t>(batch * width));
      policy_sums = policy_half<T>(batch, width, false, head, log_std.data_ptr<T>(), 0, nullptr,
                                   b.actions.data_ptr<T>(), b.old_log_probs.data_ptr<T>(), rows, ws.advantages, s,
                                   ws.grad.data(), ws.log_std_grads.data());
      T *gs = log_std_grad.data_ptr<T>();
      std::fill(gs, gs + width, T(0));
      for (int64_t i = 0; i < batch; ++i)
        for (int64_t d = 0; d < width; ++d) gs[d] += ws.log_std_grads[i * width + d];
    }
    backward(policy, x.data(), batch, ws);
  };
  auto value_task = [&] {
    thread_local Workspace<T> ws;
    forward(value, x.data(), batch, ws);
    ws.grad.resize(static_cast<size_t>(batch));
    value_sums = value_half<T>(batch, ws.outputs.back().data(), b.old_values.data_ptr<T>(), b.returns.data_ptr<T>(),
                               rows, s, ws.grad.data());
    backward(value, x.data(), batch, ws);
  };

  if (kernel_threads() >= 2) {
    // Each half on its own thread, each product on that thread alone (the BLAS would otherwise split it again).
    BlasThreadLimit one_thread(1);
    run_pair(policy_task, value_task);
  } else {
    policy_task();
    value_task();
  }
  finish(policy_sums, value_sums, batch, s, out);
}

bool fits(const at::Tensor &t, at::ScalarType dtype, std::initializer_list<int64_t> shape) {
  if (!t.defined() || !t.device().is_cpu() || t.layout() != at::kStrided || t.scalar_type() != dtype ||
      !t.is_contiguous() || t.dim() != static_cast<int64_t>(shape.size()))
    return false;
  int64_t d = 0;
  for (int64_t size : shape) {
    if (size >= 0 && t.size(d) != size) return false;
    ++d;
  }
  return true;
}

// Whether log S [L, D or 1] and its gradient fit a gSDE policy whose action head takes L features.
bool sde_fits(const at::Tensor &log_std, at::ScalarType dtype, int64_t latent, int64_t width) {
  return fits(log_std, dtype, {latent, -1}) && (log_std.size(1) == width || log_std.size(1) == 1);
}

// Whether a network's layers chain from `inputs` features to `outputs` with tensors of `dtype`.
bool network_fits(const std::vector<DenseLayer> &layers, at::ScalarType dtype, int64_t inputs, int64_t outputs,
                  bool gradients) {
  if (layers.empty()) return false;
  int64_t width = inputs;
  for (const DenseLayer &l : layers) {
    if (!fits(l.weight, dtype, {-1, width})) return false;
    if (gradients && !fits(l.weight_grad, dtype, {l.weight.size(0), width})) return false;
    if (l.bias.defined() && !fits(l.bias, dtype, {l.weight.size(0)})) return false;
    if (l.bias.defined() && gradients && !fits(l.bias_grad, dtype, {l.weight.size(0)})) return false;
    if (l.activation != FK_MLP_IDENTITY && l.activation != FK_MLP_TANH && l.activation != FK_MLP_RELU) return false;
    width = l.weight.size(0);
  }
  return width == outputs;
}

template <typename T>
ActorCriticActions act(const std::vector<DenseLayer> &policy_layers, const std::vector<DenseLayer> &value_layers,
                       const at::Tensor &log_std, bool categorical, int32_t sde, const at::Tensor &exploration,
                       const at::Tensor &observations, const c10::optional<at::Generator> &generator) {
  const std::vector<DenseArrays<T>> policy = raw_layers<T>(policy_layers), value = raw_layers<T>(value_layers);
  const int64_t n = observations.size(0), width = policy.back().out;
  thread_local Workspace<T> policy_ws, value_ws;
  forward(policy, observations.data_ptr<T>(), n, policy_ws);
  forward(value, observations.data_ptr<T>(), n, value_ws);
  const T *head = policy_ws.outputs.back().data();
  const auto options = observations.options();
  ActorCriticActions out;
  out.values = at::empty({n}, options);
  std::copy(value_ws.outputs.back().begin(), value_ws.outputs.back().end(), out.values.data_ptr<T>());
  out.log_probs = at::empty({n}, options);
  T *log_probs = out.log_probs.data_ptr<T>();
  if (categorical) {
    // What Categorical does: log-softmax, multinomial on e^(log-probabilities), gather.
    out.parameters = at::empty({n, width}, options);
    T *lp = out.parameters.data_ptr<T>();
    log_softmax_rows(head, n, width, lp);
    out.actions = at::multinomial(out.parameters.exp(), 1, true, generator).view({n});
    const int64_t *actions = out.actions.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) log_probs[i] = lp[i * width + actions[i]];
  } else if (sde != FK_SDE_NONE) {
    // What StateDependentGaussian does: μ + φ·E (E one matrix, or one per row), log-density under N(μ, σ) with
    // σ²_bj = Σ_k φ_bk² S_kj² + 10⁻⁶.
    const int64_t latent = policy.back().in;
    const T *phi = policy.size() >= 2 ? policy_ws.outputs[policy.size() - 2].data() : observations.data_ptr<T>();
    std::vector<double> std_values, derivative, variance;
    std::vector<T> row_log_std;
    sde_standard_deviations<T>(log_std, sde == FK_SDE_EXPLN, width, std_values, derivative);
    sde_rows<T>(phi, n, latent, width, std_values, variance, row_log_std);
    at::Tensor mean = at::empty({n, width}, options), log_sigma = at::empty({n, width}, options);
    std::copy(head, head + n * width, mean.data_ptr<T>());
    std::copy(row_log_std.begin(), row_log_std.end(), log_sigma.data_ptr<T>());
    out.actions = at::empty({n, width}, options);
    T *a = out.actions.data_ptr<T>();
    const T *e = exploration.data_ptr<T>();
    const bool per_row = exploration.dim() == 3;
    const double half_log_two_pi = 0.5 * std::log(2 * M_PI);
    for (int64_t i = 0; i < n; ++i) {
      const T *matrix = per_row ? e + i * latent * width : e;
      double total = 0;
      for (int64_t j = 0; j < width; ++j) {
        T noise = 0;
        for (int64_t k = 0; k < latent; ++k) noise += phi[i * latent + k] * matrix[k * width + j];
        a[i * width + j] = head[i * width + j] + noise;
        const double ls = static_cast<double>(row_log_std[i * width + j]);
        const double z = (static_cast<double>(a[i * width + j]) - static_cast<double>(head[i * width + j])) * std::exp(-ls);
        total += -0.5 * z * z - ls - half_log_two_pi;
      }
      log_probs[i] = static_cast<T>(total);
    }
    out.parameters = at::cat({mean, log_sigma}, -1);
  } else {
    // What DiagonalGaussian does: μ + e^s·ε, log-density Σ (−½z² − s − ½log 2π).
    at::Tensor mean = at::empty({n, width}, options);
    std::copy(head, head + n * width, mean.data_ptr<T>());
    out.actions = mean + log_std.exp() * at::randn({n, width}, generator, options);
    const T *a = out.actions.data_ptr<T>(), *s = log_std.data_ptr<T>();
    const T half_log_two_pi = static_cast<T>(0.5 * std::log(2 * M_PI));
    for (int64_t i = 0; i < n; ++i) {
      T total = 0;
      for (int64_t d = 0; d < width; ++d) {
        const T z = (a[i * width + d] - head[i * width + d]) * std::exp(-s[d]);
        total += T(-0.5) * (z * z) - s[d] - half_log_two_pi;
      }
      log_probs[i] = total;
    }
    out.parameters = at::cat({mean, log_std.expand({n, width})}, -1);
  }
  return out;
}

}  // namespace

PPOLossGradients ppo_loss(const at::Tensor &head_in, const at::Tensor &log_std_in, const at::Tensor &values_in,
                          const at::Tensor &actions_in, const at::Tensor &old_log_probs_in,
                          const at::Tensor &advantages_in, const at::Tensor &old_values_in,
                          const at::Tensor &returns_in, const fk_ppo_settings &s, PPODiagnostics &out) {
  const bool categorical = !log_std_in.defined();
  TORCH_CHECK(head_in.dim() == 2, "PPO loss: the policy head must be [batch, width], got ", head_in.sizes());
  const int64_t batch = head_in.size(0), width = head_in.size(1);
  const auto dtype = head_in.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, "PPO loss: float32 or float64 tensors expected");
  auto vector = [&](const at::Tensor &t, const char *name) {
    TORCH_CHECK(t.numel() == batch, "PPO loss: ", name, " needs ", batch, " elements, got shape ", t.sizes());
    return t.to(at::kCPU, dtype).contiguous().reshape({batch});
  };
  const at::Tensor head = head_in.to(at::kCPU).contiguous();
  const at::Tensor values = vector(values_in, "values"), old_log_probs = vector(old_log_probs_in, "old_log_probs");
  const at::Tensor advantages = vector(advantages_in, "advantages"), old_values = vector(old_values_in, "old_values");
  const at::Tensor returns = vector(returns_in, "returns");
  at::Tensor actions, log_std;
  if (categorical) {
    TORCH_CHECK(actions_in.numel() == batch, "PPO loss: ", batch, " actions expected, got shape ", actions_in.sizes());
    actions = actions_in.to(at::kCPU, at::kLong).contiguous();
  } else {
    TORCH_CHECK(actions_in.sizes() == head.sizes() && log_std_in.sizes() == head.sizes(),
                "PPO loss: Gaussian actions and log-std must have the head's shape ", head.sizes());
    actions = actions_in.to(at::kCPU, dtype).contiguous();
    log_std = log_std_in.to(at::kCPU, dtype).contiguous();
  }
  PPOLossGradients grads;
  grads.head = at::empty({batch, width}, head.options());
  grads.values = at::empty({batch}, head.options());
  if (!categorical) grads.log_std = at::empty({batch, width}, head.options());
  AT_DISPATCH_FLOATING_TYPES(dtype, "ppo_loss", [&] {
    std::vector<double> adv;
    prepare_advantages(advantages.data_ptr<scalar_t>(), nullptr, batch, s, adv);
    const int64_t *discrete = categorical ? actions.data_ptr<int64_t>() : nullptr;
    const scalar_t *continuous = categorical ? nullptr : actions.data_ptr<scalar_t>();
    const PolicySums p = policy_half<scalar_t>(
        batch, width, categorical, head.data_ptr<scalar_t>(), categorical ? nullptr : log_std.data_ptr<scalar_t>(),
        width, discrete, continuous, old_log_probs.data_ptr<scalar_t>(), nullptr, adv, s,
        grads.head.data_ptr<scalar_t>(), categorical ? nullptr : grads.log_std.data_ptr<scalar_t>());
    const ValueSums v =
        value_half<scalar_t>(batch, values.data_ptr<scalar_t>(), old_values.data_ptr<scalar_t>(),
                             returns.data_ptr<scalar_t>(), nullptr, s, grads.values.data_ptr<scalar_t>());
    finish(p, v, batch, s, out);
  });
  return grads;
}

bool ppo_actor_critic_step(const std::vector<DenseLayer> &policy, const std::vector<DenseLayer> &value,
                           const at::Tensor &log_std, const at::Tensor &log_std_grad, bool categorical, int32_t sde,
                           const PPOBatch &b, const fk_ppo_settings &s, PPODiagnostics &out) {
  if (!blas_available() || policy.empty() || value.empty()) return false;
  const auto dtype = policy[0].weight.scalar_type();
  if (dtype != at::kFloat && dtype != at::kDouble) return false;
  if (!fits(b.observations, dtype, {-1, -1})) return false;
  const int64_t rollout = b.observations.size(0), features = b.observations.size(1);
  const int64_t width = policy.back().weight.size(0);
  if (!network_fits(policy, dtype, features, width, true) || !network_fits(value, dtype, features, 1, true))
    return false;
  if (categorical ? !fits(b.actions, at::kLong, {rollout}) : !fits(b.actions, dtype, {rollout, width})) return false;
  if (sde != FK_SDE_NONE) {
    const int64_t latent = policy.back().weight.size(1);
    if (categorical || !sde_fits(log_std, dtype, latent, width) || !fits(log_std_grad, dtype, {latent, log_std.size(1)}))
      return false;
  } else if (!categorical && (!fits(log_std, dtype, {width}) || !fits(log_std_grad, dtype, {width}))) {
    return false;
  }
  for (const at::Tensor *t : {&b.old_log_probs, &b.advantages, &b.old_values, &b.returns})
    if (!fits(*t, dtype, {rollout})) return false;
  if (!fits(b.indices, at::kLong, {-1}) || b.indices.size(0) == 0) return false;
  AT_DISPATCH_FLOATING_TYPES(dtype, "ppo_actor_critic_step", [&] {
    fused_step<scalar_t>(policy, value, log_std, log_std_grad, categorical, sde, b, s, out);
  });
  return true;
}

bool actor_critic_act(const std::vector<DenseLayer> &policy, const std::vector<DenseLayer> &value,
                      const at::Tensor &log_std, bool categorical, int32_t sde, const at::Tensor &exploration,
                      const at::Tensor &observations, const c10::optional<at::Generator> &generator,
                      ActorCriticActions &out) {
  if (!blas_available() || policy.empty() || value.empty()) return false;
  const auto dtype = policy[0].weight.scalar_type();
  if ((dtype != at::kFloat && dtype != at::kDouble) || !fits(observations, dtype, {-1, -1})) return false;
  const int64_t width = policy.back().weight.size(0);
  if (!network_fits(policy, dtype, observations.size(1), width, false) ||
      !network_fits(value, dtype, observations.size(1), 1, false))
    return false;
  if (sde != FK_SDE_NONE) {
    const int64_t latent = policy.back().weight.size(1);
    if (categorical || !sde_fits(log_std, dtype, latent, width)) return false;
    const bool one = fits(exploration, dtype, {latent, width});
    if (!one && !fits(exploration, dtype, {observations.size(0), latent, width})) return false;
  } else if (!categorical && !fits(log_std, dtype, {width})) {
    return false;
  }
  c10::AutoGradMode no_grad(false);
  AT_DISPATCH_FLOATING_TYPES(dtype, "actor_critic_act", [&] {
    out = act<scalar_t>(policy, value, log_std, categorical, sde, exploration, observations, generator);
  });
  return true;
}

}  // namespace ctorch
