import Foundation
import NeuralNetworks
import Torch

/// The whole PPO minibatch objective — clipped surrogate, value loss and entropy bonus — as one differentiable
/// operation with a hand-derived gradient, plus its diagnostics, for categorical and diagonal-Gaussian policies.
///
/// It computes exactly what `PPOPolicyLoss`, `ppoValueLoss` and the distributions' `entropy()` compute together
/// (ALGORITHMS-rl A6, in double precision), including how autograd splits the gradient at ties of `max` and at the
/// bounds of `clamp`. Recording those ~40 small operations one by one costs far more than the arithmetic for
/// minibatches of a few hundred samples; this does one pass forward and one backward (tests compare both against the
/// composed losses). Other distributions go through the composed losses.
enum FusedPPOLoss {
    struct Settings {
        var clipRange: Double
        var clipRangeValue: Double?
        var normalizeAdvantages: Bool
        var normalizationEps = 1e-8
        var entropyCoefficient: Double
        var valueCoefficient: Double
        var valueLoss: ValueLossVariant
    }

    /// The objective (differentiable `loss`) and its diagnostics; nil when the distribution is not one this loss
    /// handles (then use the composed losses).
    static func compute(distribution: PolicyDistribution, values: Tensor, actions: Tensor, oldLogProbs: Tensor,
                        advantages: Tensor, oldValues: Tensor, returns: Tensor, settings: Settings) -> MinibatchLoss? {
        let batch = values.count
        guard values.shape == [batch], batch > 0 else { return nil }
        let head: Tensor, logStd: Tensor?
        switch distribution {
        case .categorical(let d):
            head = d.logProbabilities
            logStd = nil
            guard head.rank == 2, head.size(0) == batch, actions.count == batch else { return nil }
        case .gaussian(let d):
            head = d.mean
            logStd = d.logStd
            guard head.rank == 2, head.size(0) == batch, actions.shape == head.shape, d.logStd.shape == head.shape else { return nil }
        case .multiCategorical:
            return nil
        }
        let dtype = head.dtype
        guard dtype == .float32 || dtype == .float64, values.dtype == dtype else { return nil }

        let width = head.size(1)
        let h = head.doubles, v = values.doubles
        let s = logStd?.doubles
        let oldLogProb = oldLogProbs.doubles, oldValue = oldValues.doubles, ret = returns.doubles
        var adv = advantages.doubles
        let n = Double(batch)
        if settings.normalizeAdvantages && batch > 1 {
            // (A − mean) / (std + eps), std with Bessel's correction, as normalizeAdvantages.
            let mean = adv.reduce(0, +) / n
            let variance = adv.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
            let scale = variance.squareRoot() + settings.normalizationEps
            adv = adv.map { ($0 - mean) / scale }
        }

        // Log-probabilities and entropies of the taken actions.
        var logProb = [Double](repeating: 0, count: batch)
        var entropySum = 0.0
        var categoricalActions: [Int] = []
        // Kept for the gradient: e^ℓ (categorical), or z = (a − μ)·e^{−s} and e^{−s} (Gaussian).
        var probabilities: [Double] = [], standardized: [Double] = [], inverseStd: [Double] = []
        let halfLogTwoPi = 0.5 * Foundation.log(2 * Double.pi)
        if let s {
            let gaussianActions = actions.doubles
            inverseStd = s.map { Foundation.exp(-$0) }
            standardized = (0..<batch * width).map { (gaussianActions[$0] - h[$0]) * inverseStd[$0] }
            for i in 0..<batch {
                var lp = 0.0
                for d in 0..<width {
                    let k = i * width + d
                    let z = standardized[k]
                    lp += -0.5 * z * z - s[k] - halfLogTwoPi
                    entropySum += s[k] + 0.5 + halfLogTwoPi
                }
                logProb[i] = lp
            }
        } else {
            categoricalActions = actions.ints
            probabilities = h.map { Foundation.exp($0) }
            for i in 0..<batch {
                let a = categoricalActions[i]
                precondition(a >= 0 && a < width, "action \(a) out of range for \(width) categories")
                logProb[i] = h[i * width + a]
                for k in i * width..<(i + 1) * width { entropySum -= probabilities[k] * h[k] }
            }
        }

        // Clipped surrogate: per-sample max(−Â·ρ, −Â·clip(ρ)), and d(loss)/d(log π) through ρ.
        let low = 1 - settings.clipRange, high = 1 + settings.clipRange
        var policySum = 0.0, klSum = 0.0, clippedCount = 0.0
        var dLogProb = [Double](repeating: 0, count: batch)
        for i in 0..<batch {
            let logRatio = logProb[i] - oldLogProb[i]
            let ratio = Foundation.exp(logRatio)
            let unclipped = -adv[i] * ratio
            let clipped = -adv[i] * Swift.min(Swift.max(ratio, low), high)
            policySum += Swift.max(unclipped, clipped)
            klSum += ratio - 1 - logRatio
            let inside = ratio >= low && ratio <= high
            if !inside { clippedCount += 1 }
            let dRatio: Double
            if unclipped > clipped {
                dRatio = -adv[i]
            } else if unclipped < clipped {
                dRatio = inside ? -adv[i] : 0
            } else {
                dRatio = -adv[i] * (inside ? 1 : 0.5)
            }
            dLogProb[i] = dRatio * ratio / n
        }

        // Value loss (Stable-Baselines3 or CleanRL form, optionally clipped around the old values).
        var valueSum = 0.0, valueClipped = 0.0
        var dValue = [Double](repeating: 0, count: batch)
        let half = settings.valueLoss == .cleanrl ? 0.5 : 1.0
        for i in 0..<batch {
            let error = v[i] - ret[i]
            let unclippedSquared = error * error
            guard let c = settings.clipRangeValue else {
                valueSum += unclippedSquared
                dValue[i] = half * 2 * error / n
                continue
            }
            let delta = v[i] - oldValue[i]
            let inside = delta >= -c && delta <= c
            let clippedValue = oldValue[i] + Swift.min(Swift.max(delta, -c), c)
            let clippedError = clippedValue - ret[i]
            let clippedSquared = clippedError * clippedError
            if clippedSquared > unclippedSquared { valueClipped += 1 }
            let dClipped = inside ? 2 * clippedError : 0
            switch settings.valueLoss {
            case .sb3:
                valueSum += clippedSquared
                dValue[i] = dClipped / n
            case .cleanrl:
                valueSum += Swift.max(unclippedSquared, clippedSquared)
                let d: Double
                if unclippedSquared > clippedSquared { d = 2 * error }
                else if unclippedSquared < clippedSquared { d = dClipped }
                else { d = (2 * error + dClipped) / 2 }
                dValue[i] = 0.5 * d / n
            }
        }

        let policyLoss = policySum / n
        let valueLoss = half * valueSum / n
        let entropyLoss = -entropySum / n
        let total = policyLoss + settings.entropyCoefficient * entropyLoss + settings.valueCoefficient * valueLoss
        let loss = Tensor(total, dtype: dtype)

        // The gradient for an upstream gradient of 1; backward scales it.
        let entCoef = settings.entropyCoefficient, vfCoef = settings.valueCoefficient
        var gradHead = [Double](repeating: 0, count: batch * width)
        var gradLogStd: [Double]? = nil
        if logStd != nil {
            var gs = [Double](repeating: 0, count: batch * width)
            for i in 0..<batch {
                for k in i * width..<(i + 1) * width {
                    let z = standardized[k]
                    gradHead[k] = dLogProb[i] * z * inverseStd[k]
                    gs[k] = dLogProb[i] * (z * z - 1) - entCoef / n
                }
            }
            gradLogStd = gs
        } else {
            for i in 0..<batch {
                gradHead[i * width + categoricalActions[i]] = dLogProb[i]
                // d(−mean entropy)/dℓ_j = p_j (ℓ_j + 1) / B with p = e^ℓ.
                for k in i * width..<(i + 1) * width { gradHead[k] += entCoef * probabilities[k] * (h[k] + 1) / n }
            }
        }
        let gradValue = dValue.map { $0 * vfCoef }
        let headShape = head.shape
        let inputs = [head] + (logStd.map { [$0] } ?? []) + [values]
        let inputCount = inputs.count
        attachGradient(outputs: [loss], inputs: inputs, name: "PPOLoss") { upstream in
            guard let g = upstream[0] else { return Array(repeating: nil, count: inputCount) }
            let scale = g.item(Double.self)
            func tensor(_ values: [Double], _ shape: [Int]) -> Tensor {
                Tensor(scale == 1 ? values : values.map { $0 * scale }, shape: shape).to(dtype: dtype)
            }
            var grads: [Tensor?] = [tensor(gradHead, headShape)]
            if let gradLogStd { grads.append(tensor(gradLogStd, headShape)) }
            grads.append(tensor(gradValue, [batch]))
            return grads
        }
        return MinibatchLoss(loss: loss, policyLoss: policyLoss, valueLoss: valueLoss, entropyLoss: entropyLoss,
                             approxKL: klSum / n, clipFraction: clippedCount / n,
                             valueClipFraction: settings.clipRangeValue == nil ? 0 : valueClipped / n)
    }
}
