import Foundation
import NeuralNetworks
import Torch

/// The PPO clipped surrogate and its diagnostics (ALGORITHMS-rl A6). The diagnostics are computed when read, so a
/// training step pays only for the ones it logs.
public struct PPOPolicyLoss {
    public var loss: Tensor
    /// ρ = exp(logπ − logπ_old), without gradient.
    public var ratio: Tensor
    let logRatio: Tensor
    let unclipped: Tensor
    let clipped: Tensor
    let mask: Tensor?
    let bounds: (low: Double, high: Double)

    /// - Parameters:
    ///   - clipHigh: upper clip ε (defaults to `clipLow`).
    ///   - dualClip: c > 1 caps the loss at −c·Â where Â < 0.
    ///   - normalizeAdvantages: standardise Â over the (masked) minibatch first.
    public init(logProbs: Tensor, oldLogProbs: Tensor, advantages: Tensor, clipLow: Double, clipHigh: Double? = nil,
                dualClip: Double? = nil, normalizeAdvantages: Bool = false, normalizationEps: Double = 1e-8, mask: Tensor? = nil) {
        let a = normalizeAdvantages ? ppoNormalize(advantages, mask: mask, eps: normalizationEps) : advantages
        let logRatio = logProbs - oldLogProbs
        let ratio = logRatio.exp()
        let high = clipHigh ?? clipLow
        let unclipped = -a * ratio
        let clipped = -a * ratio.clamp(min: 1 - clipLow, max: 1 + high)
        var perElement = unclipped.maximum(clipped)
        if let c = dualClip {
            let capped = perElement.minimum(-c * a)
            perElement = Tensor.where(a .< 0, capped, perElement)
        }
        loss = maskedMean(perElement, mask)
        self.ratio = ratio.detach()
        self.logRatio = logRatio.detach()
        self.unclipped = unclipped.detach()
        self.clipped = clipped.detach()
        self.mask = mask
        bounds = (1 - clipLow, 1 + high)
    }

    /// Fraction with ρ outside [1 − ε_low, 1 + ε_high] (CleanRL / SB3).
    public var clipFractionRange: Double {
        maskedMean(((ratio .< bounds.low) .| (ratio .> bounds.high)).to(dtype: ratio.dtype), mask).item(Double.self)
    }

    /// Fraction where the clipped term is strictly larger, i.e. clipping changed the loss (TRL).
    public var clipFractionActive: Double { maskedMean((clipped .> unclipped).to(dtype: ratio.dtype), mask).item(Double.self) }

    /// mean(−log ρ), mean(½ log² ρ), mean(ρ − 1 − log ρ).
    public var approxKL: (k1: Double, k2: Double, k3: Double) { (approxKL1, maskedMean(0.5 * logRatio.square(), mask).item(Double.self), approxKL3) }
    public var approxKL1: Double { maskedMean(-logRatio, mask).item(Double.self) }
    /// The k3 estimate, used for early stopping (SB3, CleanRL).
    public var approxKL3: Double { maskedMean(ratio - 1 - logRatio, mask).item(Double.self) }
}

func ppoNormalize(_ advantages: Tensor, mask: Tensor?, eps: Double) -> Tensor {
    withNoGrad { normalizeAdvantages(advantages, mask: mask, eps: eps) }
}

/// How the PPO value loss is computed.
public enum ValueLossVariant: String, Codable, Sendable, CaseIterable {
    /// Stable-Baselines3: mean((V_pred − R)²), V_pred clipped around V_old when a clip range is set; no max, no ½.
    case sb3
    /// CleanRL / OpenAI baselines / TRL: ½·mean((V − R)²), or ½·mean(max(unclipped², clipped²)) when clipping.
    case cleanrl
}

/// The PPO value loss and the fraction of clipped value errors (ALGORITHMS-rl A6).
public func ppoValueLoss(values: Tensor, oldValues: Tensor, returns: Tensor, clipRange: Double?, variant: ValueLossVariant,
                         mask: Tensor? = nil) -> (loss: Tensor, clipFraction: Double) {
    let unclippedError = (values - returns).square()
    guard let c = clipRange else {
        return (variant == .sb3 ? maskedMean(unclippedError, mask) : 0.5 * maskedMean(unclippedError, mask), 0)
    }
    let clippedValues = oldValues + (values - oldValues).clamp(min: -c, max: c)
    let clippedError = (clippedValues - returns).square()
    let fraction = withNoGrad { maskedMean((clippedError .> unclippedError).to(dtype: values.dtype), mask).item(Double.self) }
    switch variant {
    case .sb3: return (maskedMean(clippedError, mask), fraction)
    case .cleanrl: return (0.5 * maskedMean(unclippedError.maximum(clippedError), mask), fraction)
    }
}

/// The A2C loss in Stable-Baselines3's form (ALGORITHMS-rl A5).
public struct A2CLoss {
    public var loss: Tensor
    public var policyLoss: Tensor
    public var valueLoss: Tensor
    public var entropyLoss: Tensor

    public init(logProbs: Tensor, advantages: Tensor, returns: Tensor, values: Tensor, entropy: Tensor,
                valueCoefficient: Double, entropyCoefficient: Double, normalizeAdvantage: Bool = false, normalizationEps: Double = 1e-8) {
        let a = normalizeAdvantage ? ppoNormalize(advantages, mask: nil, eps: normalizationEps) : advantages
        policyLoss = -(a * logProbs).mean()
        valueLoss = (returns - values).square().mean()
        entropyLoss = -entropy.mean()
        loss = policyLoss + entropyCoefficient * entropyLoss + valueCoefficient * valueLoss
    }
}

/// REINFORCE with an optional learned baseline (ALGORITHMS-rl A4): −mean(logπ·sg[G − b]) and ½·mean((b − G)²).
public struct ReinforceLoss {
    public var policyLoss: Tensor
    public var baselineLoss: Tensor?

    public init(logProbs: Tensor, returns: Tensor, baseline: Tensor? = nil, mask: Tensor? = nil, normalize: Bool = false) {
        var weight = baseline.map { returns - $0.detach() } ?? returns
        if normalize { weight = ppoNormalize(weight, mask: mask, eps: 1e-8) }
        policyLoss = -maskedMean(logProbs * weight.detach(), mask)
        baselineLoss = baseline.map { 0.5 * maskedMean(($0 - returns).square(), mask) }
    }
}

/// The on-policy MDPO objective for iteration k of K (ALGORITHMS-rl A7):
/// −(mean(ρ·Â) − mean(KL(π_θ ‖ π_k)) / t_k), t_k = 1 − (k − 1)/K.
public struct MDPOLoss {
    public var loss: Tensor
    public var stepSize: Double
    public var klMean: Tensor
    public var surrogate: Tensor

    public init(new: PolicyDistribution, old: PolicyDistribution, actions: Tensor, advantages: Tensor,
                iteration: Int, totalIterations: Int, normalizeAdvantages: Bool) {
        stepSize = 1 - Double(iteration - 1) / Double(totalIterations)
        let a = normalizeAdvantages ? withNoGrad { ReinforcementLearning.normalizeAdvantages(advantages, eps: 0, unbiased: false) } : advantages
        let ratio = (new.logProb(actions) - old.logProb(actions).detach()).exp()
        surrogate = (ratio * a).mean()
        klMean = new.kl(to: old.detached()).mean()
        loss = -(surrogate - klMean / stepSize)
    }
}
