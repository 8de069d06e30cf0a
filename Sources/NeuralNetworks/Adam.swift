import Foundation
import Torch

/// Adam (`torch.optim.Adam`, weight decay as L2 added to the gradient) and AdamW (`torch.optim.AdamW`, decoupled
/// decay `p ← p·(1 − lr·wd)`), with optional AMSGrad.
public final class Adam: Optimizer {
    public var parameterGroups: [ParameterGroup]
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    public let amsgrad: Bool
    /// Decoupled weight decay (AdamW) instead of L2.
    public let decoupledWeightDecay: Bool

    struct Moments {
        var step: Int
        let exp: Tensor
        let expSquared: Tensor
        let maxExpSquared: Tensor?
    }
    var moments: [String: Moments] = [:]

    public init(_ groups: [ParameterGroup], betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                amsgrad: Bool = false, decoupledWeightDecay: Bool = false) {
        self.parameterGroups = groups
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.amsgrad = amsgrad
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// Adam with L2 weight decay.
    public convenience init(parameters: [Tensor], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false) {
        self.init([ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  betas: betas, eps: eps, amsgrad: amsgrad)
    }

    /// AdamW: decoupled weight decay (default 0.01, as PyTorch).
    public static func adamW(parameters: [Tensor], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                             eps: Double = 1e-8, weightDecay: Double = 0.01, amsgrad: Bool = false) -> Adam {
        Adam([ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
             betas: betas, eps: eps, amsgrad: amsgrad, decoupledWeightDecay: true)
    }

    public func step() {
        withNoGrad {
            for (key, g, p) in allParameters {
                guard let gradient = p.grad else { continue }
                let group = parameterGroups[g]
                var m = moments[key] ?? Moments(step: 0, exp: Tensor.zeros(like: p), expSquared: Tensor.zeros(like: p),
                                                maxExpSquared: amsgrad ? Tensor.zeros(like: p) : nil)
                m.step += 1
                moments[key] = m
                // CPU float tensors: ATen's fused kernel (the same arithmetic as the operations below).
                if fusedAdamStep(parameter: p, gradient: gradient, exp: m.exp, expSquared: m.expSquared,
                                 maxExpSquared: m.maxExpSquared, learningRate: group.learningRate, betas: (beta1, beta2),
                                 eps: eps, weightDecay: group.weightDecay, decoupled: decoupledWeightDecay, step: m.step) {
                    continue
                }
                var grad = gradient
                if group.weightDecay != 0 {
                    if decoupledWeightDecay { p.mul_(1 - group.learningRate * group.weightDecay) }
                    else { grad = grad + group.weightDecay * p }
                }
                m.exp.lerp_(grad, weight: 1 - beta1)
                m.expSquared.mul_(beta2)
                m.expSquared.addcmul_(grad, grad, value: 1 - beta2)
                let correction1 = 1 - Foundation.pow(beta1, Double(m.step))
                let correction2 = 1 - Foundation.pow(beta2, Double(m.step))
                var second = m.expSquared
                if let maxSquared = m.maxExpSquared {
                    maxSquared.maximum_(m.expSquared)
                    second = maxSquared
                }
                // One allocation: √v̂ + ε computed in place.
                let denominator = second.sqrt()
                denominator.div_(correction2.squareRoot())
                denominator.add_(eps)
                p.addcdiv_(m.exp, denominator, value: -group.learningRate / correction1)
            }
        }
    }

    public func state() -> OptimizerState {
        var state = OptimizerState()
        for (key, m) in moments {
            state.scalars["\(key).step"] = Double(m.step)
            state.tensors["\(key).exp_avg"] = m.exp.clone()
            state.tensors["\(key).exp_avg_sq"] = m.expSquared.clone()
            if let maxSquared = m.maxExpSquared { state.tensors["\(key).max_exp_avg_sq"] = maxSquared.clone() }
        }
        storeLearningRates(&state)
        return state
    }

    public func load(state: OptimizerState) throws {
        try restoreLearningRates(state)
        var restored: [String: Moments] = [:]
        for (key, _, p) in allParameters {
            guard let step = state.scalars["\(key).step"] else { continue }
            guard let exp = try restoreTensor(state, "\(key).exp_avg", like: p),
                  let expSquared = try restoreTensor(state, "\(key).exp_avg_sq", like: p) else {
                throw OptimizerStateError("optimizer state for parameter \(key) is incomplete (exp_avg / exp_avg_sq)")
            }
            let maxSquared = try restoreTensor(state, "\(key).max_exp_avg_sq", like: p)
            if amsgrad && maxSquared == nil { throw OptimizerStateError("optimizer state for parameter \(key) lacks max_exp_avg_sq (AMSGrad)") }
            restored[key] = Moments(step: Int(step), exp: exp, expSquared: expSquared, maxExpSquared: maxSquared)
        }
        moments = restored
    }
}
