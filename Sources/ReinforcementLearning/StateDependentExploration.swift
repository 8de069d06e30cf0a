import NeuralNetworks
import Torch

// Generalized State-Dependent Exploration (gSDE), as Stable-Baselines3 defines it (docs/gsde.md).

/// The gSDE options of a policy: Stable-Baselines3's `use_sde` and the `policy_kwargs` that shape the noise.
public struct StateDependentExplorationOptions: Equatable, Sendable {
    /// One log standard deviation per latent feature and action dimension (`full_std`), else one per feature.
    public var fullStd = true
    /// Standard deviations from `expln` (eˢ below 0, log(1 + s) + 1 above) instead of eˢ (`use_expln`), so they grow
    /// only logarithmically.
    public var useExpln = false
    /// Actions are tanh of the Gaussian, in [−1, 1], scaled to the action bounds for the environment
    /// (`squash_output`); the log-density gets tanh's correction, and there is no closed-form entropy.
    public var squashOutput = false
    /// The noise and variance use the latent features with their gradient (`learn_features`), so exploration also
    /// trains the policy network; by default they are detached.
    public var learnFeatures = false

    public init() {}
}

/// Standard deviations S [L, D] of the noise matrix from the `log_std` parameter ([L, D], or [L, 1] without
/// `fullStd`): eˢ, or with `useExpln` eˢ where s ≤ 0 and log(1 + s) + 1 where s > 0.
func stateDependentStandardDeviations(logStd: Tensor, useExpln: Bool, actionSize: Int) -> Tensor {
    let std: Tensor
    if useExpln {
        let positive = (logStd .> 0.0).to(dtype: logStd.dtype)
        let below = logStd.exp() * (1 - positive)
        // The log is taken of a value kept above 0 where s ≤ 0, so neither branch produces NaN or its gradient.
        let safe = logStd * positive + 1e-6
        let above = (safe.log1p() + 1) * positive
        std = below + above
    } else {
        std = logStd.exp()
    }
    return std.size(1) == actionSize ? std : std.expanded([std.size(0), actionSize])
}

/// gSDE's action distribution for a batch: a Gaussian around the action head's mean μ [B, D] whose variance depends
/// on the state through the latent features φ [B, L]: σ²_bj = Σ_k φ_bk² S_kj² + 10⁻⁶. Samples are μ + φ·E with
/// noise matrices E ~ N(0, S²) that stay fixed between resamplings (`sde_sample_freq`), so exploration is smooth along
/// a trajectory instead of independent at every step. With `squashed`, actions are tanh of the Gaussian.
public struct StateDependentGaussian {
    /// The Gaussian before squashing: mean μ and per-row log σ, differentiable in μ and in `log_std`.
    public let gaussian: DiagonalGaussian
    /// φ as the noise uses it (detached unless `learn_features`), [B, L].
    public let latent: Tensor
    /// The noise matrices: one [L, D] for every row, or [B, L, D] one per row; nil samples independent Gaussian noise
    /// of the same σ instead (a loaded policy acting before any noise was drawn).
    public let explorationMatrices: Tensor?
    /// Whether actions are tanh of the Gaussian.
    public let squashed: Bool

    /// Stable-Baselines3's `epsilon` under the square root of the variance.
    static let varianceEpsilon = 1e-6

    /// - Parameters:
    ///   - mean: μ [B, D] from the action head.
    ///   - latent: φ [B, L], detached by the caller unless features learn through the noise.
    ///   - standardDeviations: S [L, D] (`stateDependentStandardDeviations`).
    public init(mean: Tensor, latent: Tensor, standardDeviations: Tensor, explorationMatrices: Tensor?, squashed: Bool) {
        let variance = latent.square().matmul(standardDeviations.square())
        gaussian = DiagonalGaussian(mean: mean, logStd: 0.5 * (variance + Self.varianceEpsilon).log())
        self.latent = latent
        self.explorationMatrices = explorationMatrices
        self.squashed = squashed
    }

    init(gaussian: DiagonalGaussian, latent: Tensor, explorationMatrices: Tensor?, squashed: Bool) {
        self.gaussian = gaussian
        self.latent = latent
        self.explorationMatrices = explorationMatrices
        self.squashed = squashed
    }

    /// tanh's inverse, with `actions` kept inside (−1, 1) by float32's ε as Stable-Baselines3 keeps them.
    static func inverseTanh(_ actions: Tensor) -> Tensor {
        let bound = 1 - Double(Float.ulpOfOne)
        let y = actions.clamp(min: -bound, max: bound)
        return 0.5 * (y.log1p() - (-y).log1p())
    }

    /// Σ_j log N(u_j; μ_j, σ_j) of the Gaussian value u (u = atanh(a) when squashed), minus
    /// Σ_j log(1 − tanh(u_j)² + 10⁻⁶) when squashed.
    public func logProb(_ actions: Tensor) -> Tensor {
        guard squashed else { return gaussian.logProb(actions) }
        let u = Self.inverseTanh(actions)
        return gaussian.logProb(u) - (1 - u.tanh().square() + 1e-6).log().sum(dim: -1)
    }

    /// The Gaussian's entropy per row; nil when squashed (no closed form: trainers use −log π of the taken actions).
    public var entropy: Tensor? { squashed ? nil : gaussian.entropy() }

    /// φ·E per row: the state-dependent exploration noise [B, D].
    public func noise(generator: Generator?) -> Tensor {
        guard let matrices = explorationMatrices else {
            return gaussian.logStd.exp() * Tensor.randn(gaussian.mean.shape, dtype: gaussian.mean.dtype, generator: generator)
        }
        if matrices.rank == 2 { return latent.matmul(matrices) }
        return latent.unsqueezed(1).bmm(matrices).squeezed(1)
    }

    /// μ + φ·E (tanh of it when squashed), without gradient.
    public func sample(generator: Generator?) -> Tensor {
        withNoGrad {
            let u = gaussian.mean + noise(generator: generator)
            return squashed ? u.tanh() : u
        }
    }

    /// The deterministic action: μ, or tanh(μ) when squashed.
    public func mode() -> Tensor { squashed ? gaussian.mean.tanh() : gaussian.mean }
}

/// A policy that explores with gSDE: the rollout collector draws its noise matrices at the start of every rollout
/// and every `sde_sample_freq` steps.
public protocol StateDependentExplorer: ActorCriticPolicy {
    /// Whether the policy's actions use gSDE at all.
    var usesStateDependentExploration: Bool { get }
    /// Draws new noise matrices E ~ N(0, S²): one [L, D] for single observations and `count` [L, D] for a batch of
    /// `count` rows (one per environment).
    func resetNoise(count: Int, generator: Generator?)
}
