import Foundation
import Torch

/// A categorical distribution over the last dimension of `logits`, computed in log space.
public struct Categorical {
    /// Normalised log-probabilities (log-softmax of the logits, masked entries at -1e9).
    public let logProbabilities: Tensor

    /// - Parameter mask: true where an action is allowed; disallowed logits become -1e9 (finite, so the entropy
    ///   stays a number).
    public init(logits: Tensor, mask: Tensor? = nil) {
        let masked = mask.map { logits.maskedFill($0.logicalNot(), -1e9) } ?? logits
        logProbabilities = masked.logSoftmax(dim: -1)
    }

    public var probabilities: Tensor { logProbabilities.exp() }

    /// log π(a) for integer actions of the batch shape.
    public func logProb(_ actions: Tensor) -> Tensor {
        logProbabilities.gather(dim: -1, index: actions.to(dtype: .int64).unsqueezed(-1)).squeezed(-1)
    }

    /// −Σ p log p per batch element (0·log 0 counted as 0).
    public func entropy() -> Tensor { -(probabilities * logProbabilities).sum(dim: -1) }

    /// One action per batch element.
    public func sample(generator: Generator? = nil) -> Tensor {
        withNoGrad {
            let p = probabilities
            let flat = p.reshaped(-1, p.size(-1))
            return flat.multinomial(numSamples: 1, replacement: true, generator: generator).reshaped(Array(p.shape.dropLast()))
        }
    }

    /// The most likely action.
    public func mode() -> Tensor { logProbabilities.argmax(dim: -1) }

    /// KL(self ‖ other) per batch element.
    public func kl(to other: Categorical) -> Tensor {
        (probabilities * (logProbabilities - other.logProbabilities)).sum(dim: -1)
    }
}

/// A Gaussian with diagonal covariance over the last dimension: mean μ and log standard deviation s (broadcast to
/// μ's shape, so a state-independent log-std vector works).
public struct DiagonalGaussian {
    public let mean: Tensor
    public let logStd: Tensor

    public init(mean: Tensor, logStd: Tensor) {
        self.mean = mean
        self.logStd = logStd.expanded(mean.shape)
    }

    static let halfLogTwoPi = 0.5 * Foundation.log(2 * Double.pi)

    /// Σ_d [−(a−μ)²/(2e^{2s}) − s − ½log 2π].
    public func logProb(_ actions: Tensor) -> Tensor {
        let z = (actions - mean) * (-logStd).exp()
        return (-0.5 * z.square() - logStd - Self.halfLogTwoPi).sum(dim: -1)
    }

    /// Σ_d [½ + ½log 2π + s].
    public func entropy() -> Tensor { (logStd + (0.5 + Self.halfLogTwoPi)).sum(dim: -1) }

    /// A sample without gradient.
    public func sample(generator: Generator? = nil) -> Tensor { withNoGrad { rsample(generator: generator) } }

    /// A reparameterised sample μ + e^s·ε (differentiable in μ and s).
    public func rsample(generator: Generator? = nil) -> Tensor {
        mean + logStd.exp() * Tensor.randn(mean.shape, dtype: mean.dtype, generator: generator)
    }

    public func mode() -> Tensor { mean }

    /// KL(self ‖ other) per batch element, in closed form.
    public func kl(to other: DiagonalGaussian) -> Tensor {
        let varianceRatio = (2 * (logStd - other.logStd)).exp()
        let meanTerm = (mean - other.mean).square() * (-2 * other.logStd).exp()
        return (other.logStd - logStd + 0.5 * (varianceRatio + meanTerm) - 0.5).sum(dim: -1)
    }
}

/// Independent Bernoulli variables with success logits `logits`.
public struct Bernoulli {
    public let logits: Tensor

    public init(logits: Tensor) { self.logits = logits }

    public var probabilities: Tensor { logits.sigmoid() }

    /// x·logσ(l) + (1−x)·logσ(−l), elementwise.
    public func logProb(_ values: Tensor) -> Tensor {
        let x = values.to(dtype: logits.dtype)
        return x * logits.logSigmoid() + (1 - x) * (-logits).logSigmoid()
    }

    /// Elementwise entropy.
    public func entropy() -> Tensor {
        let p = probabilities
        return -(p * logits.logSigmoid() + (1 - p) * (-logits).logSigmoid())
    }

    public func sample(generator: Generator? = nil) -> Tensor { withNoGrad { probabilities.bernoulli(generator: generator) } }

    public func mode() -> Tensor { (logits .> 0).to(dtype: logits.dtype) }
}

/// A Gaussian squashed by tanh into bounded actions (SAC-style): u ~ N(μ, e^{2s}), a = scale·tanh(u) + bias
/// (ALGORITHMS-rl A3). Work with the pre-tanh sample u: inverting atanh(a) is unstable near the bounds.
public struct SquashedGaussian {
    public let base: DiagonalGaussian
    public let scale: Tensor?
    public let bias: Tensor?

    public init(mean: Tensor, logStd: Tensor, scale: Tensor? = nil, bias: Tensor? = nil) {
        base = DiagonalGaussian(mean: mean, logStd: logStd)
        self.scale = scale
        self.bias = bias
    }

    /// The action for pre-tanh values `u`.
    public func action(preTanh u: Tensor) -> Tensor {
        var a = u.tanh()
        if let scale { a = a * scale }
        if let bias { a = a + bias }
        return a
    }

    /// Σ_d log|∂a_d/∂u_d|: exactly log scale + 2(log 2 − u − softplus(−2u)), stable when tanh saturates; with
    /// `epsilon`, Stable-Baselines3's log(scale·(1 − tanh²u) + ε).
    public func logDetJacobian(preTanh u: Tensor, epsilon: Double? = nil) -> Tensor {
        let logScale = scale.map { $0.log() }
        let perDimension: Tensor
        if let epsilon {
            let derivative = 1 - u.tanh().square()
            perDimension = ((scale.map { derivative * $0 } ?? derivative) + epsilon).log()
        } else {
            let exact = 2 * (Foundation.log(2.0) - u - (-2 * u).softplus())
            perDimension = logScale.map { exact + $0 } ?? exact
        }
        return perDimension.sum(dim: -1)
    }

    /// log π(a) = log N(u; μ, s) − log|det ∂a/∂u|.
    public func logProb(preTanh u: Tensor, epsilon: Double? = nil) -> Tensor {
        base.logProb(u) - logDetJacobian(preTanh: u, epsilon: epsilon)
    }

    /// A pre-tanh sample (reparameterised) and its action.
    public func rsample(generator: Generator? = nil) -> (preTanh: Tensor, action: Tensor) {
        let u = base.rsample(generator: generator)
        return (u, action(preTanh: u))
    }
}
