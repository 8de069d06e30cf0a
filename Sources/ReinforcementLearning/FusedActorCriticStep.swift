import FastKernels
import NeuralNetworks
import Torch

/// PPO's minibatch gradient for `MLPActorCritic` in one call (`ppoActorCriticGradients`): gather the minibatch, run
/// the policy and value networks, compute the objective and back-propagate, without autograd, writing straight into
/// the parameters' gradients, much cheaper than autograd for small networks (docs/benchmarks.md); with two threads
/// (`FastPath.threads`) the policy and value halves run in parallel.
///
/// Built once per update; nil when it does not apply (a custom policy, a shared trunk, layers that cannot be fused,
/// MultiDiscrete actions, squashed gSDE or gSDE with `learn_features`, parameters not packed in one buffer), and PPO
/// then uses autograd. Unsquashed gSDE runs here too (σ per row from the action head's input features). Tests check that it gives
/// the same gradients and the same training as the autograd paths.
struct FusedActorCriticStep {
    let policyLayers: [DenseLayerWithGradients]
    let valueLayers: [DenseLayerWithGradients]
    let logStd: (parameter: Tensor, gradient: Tensor)?
    let categorical: Bool
    /// gSDE (unsquashed, detached features): `logStd` is log S [L, D or 1].
    let stateDependentNoise: FusedStateDependentNoise?
    let observations: Tensor, actions: Tensor, oldLogProbs: Tensor, advantages: Tensor, oldValues: Tensor, returns: Tensor

    init?(policy: ActorCriticPolicy, optimization: Optimization, batch: TrainingBatch) {
        guard let policy = policy as? MLPActorCritic, optimization.buffer != nil,
              let networks = policy.separateNetworks else { return nil }
        switch policy.actionSpace {
        case .discrete: categorical = true
        case .box: categorical = false
        case .multiDiscrete, .multiBinary: return nil
        }
        func withGradients(_ layers: MLPActorCritic.DenseLayers) -> [DenseLayerWithGradients]? {
            var result: [DenseLayerWithGradients] = []
            for layer in layers {
                guard let weightGradient = layer.weight.grad else { return nil }
                var biasGradient: Tensor?
                if let bias = layer.bias {
                    guard let g = bias.grad else { return nil }
                    biasGradient = g
                }
                result.append(DenseLayerWithGradients(weight: layer.weight, bias: layer.bias, weightGradient: weightGradient,
                                                      biasGradient: biasGradient, activation: layer.activation))
            }
            return result
        }
        guard let policyLayers = withGradients(networks.policy), let valueLayers = withGradients(networks.value) else { return nil }
        stateDependentNoise = policy.fusedNoiseMode
        self.policyLayers = policyLayers
        self.valueLayers = valueLayers
        if categorical {
            logStd = nil
        } else {
            guard let parameter = policy.logStd, let gradient = parameter.grad else { return nil }
            logStd = (parameter, gradient)
        }
        let dtype = policyLayers[0].weight.dtype
        func prepared(_ t: Tensor) -> Tensor { t.to(dtype: dtype).contiguous() }
        let rollout = batch.rollout
        observations = prepared(rollout.observations)
        actions = categorical ? rollout.actions.to(dtype: .int64).contiguous() : prepared(rollout.actions)
        oldLogProbs = prepared(rollout.logProbs)
        advantages = prepared(batch.advantages)
        oldValues = prepared(rollout.values)
        returns = prepared(batch.returns)
    }

    /// Writes the minibatch's gradient into the parameters' gradients and returns its losses; nil (nothing written)
    /// when the tensors do not fit the fused kernel.
    func gradients(indices: Tensor, objective: PPOObjective) -> PPOLossValues? {
        ppoActorCriticGradients(policy: policyLayers, value: valueLayers, logStd: logStd, categorical: categorical,
                                stateDependentNoise: stateDependentNoise, observations: observations, actions: actions, oldLogProbs: oldLogProbs,
                                advantages: advantages, oldValues: oldValues, returns: returns, indices: indices,
                                objective: objective)
    }
}
