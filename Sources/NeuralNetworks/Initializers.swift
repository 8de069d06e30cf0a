import Foundation
import Torch

/// Whether layer initialisers fill the parameters they allocate.
public enum Initialization: Sendable, Equatable {
    /// Each layer's own scheme (PyTorch's defaults) and every `Initializer.apply`.
    case standard
    /// Uninitialised memory (`Tensor.empty`) and no random draws: for a model whose every parameter is about to be
    /// loaded, so that loading a checkpoint does not pay for an initialisation it overwrites. Parameters the
    /// checkpoint does not provide hold arbitrary bytes; `Module.load(safetensors:)` reports them as missing.
    case empty

    /// The mode in effect for the current task (or thread, outside Swift concurrency); see `withoutInitialization`.
    @TaskLocal public static var current: Initialization = .standard
}

/// Runs `body` — typically a model's construction — with `Initialization.current` set to `.empty`, so every layer
/// allocates uninitialised parameters and `Initializer.apply` leaves tensors untouched:
/// `let model = withoutInitialization { Llama(config) }; try model.load(safetensors: directory)`.
/// The setting covers `body`'s task or thread only, not threads it starts.
public func withoutInitialization<R>(_ body: () throws -> R) rethrows -> R {
    try Initialization.$current.withValue(.empty, operation: body)
}

/// Weight initialisation schemes, as `torch.nn.init` defines them. Apply with `initializer.apply(to:generator:)`.
public enum Initializer: Sendable, Equatable {
    /// A (semi-)orthogonal matrix scaled by `gain` (`nn.init.orthogonal_`; PPO uses gain √2 for hidden layers,
    /// 0.01 for the policy head and 1 for the value head).
    case orthogonal(gain: Double)
    case xavierUniform(gain: Double = 1)
    case xavierNormal(gain: Double = 1)
    /// He initialisation with `gain(nonlinearity, a)` over fan-in (or fan-out).
    case kaimingUniform(a: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyReLU)
    case kaimingNormal(a: Double = 0, mode: FanMode = .fanIn, nonlinearity: Nonlinearity = .leakyReLU)
    case normal(mean: Double = 0, std: Double)
    case uniform(low: Double, high: Double)
    case constant(Double)
    case zeros

    public enum FanMode: Sendable { case fanIn, fanOut }
    public enum Nonlinearity: Sendable { case linear, sigmoid, tanh, relu, leakyReLU }

    /// `torch.nn.init.calculate_gain`.
    public static func gain(_ nonlinearity: Nonlinearity, a: Double = 0) -> Double {
        switch nonlinearity {
        case .linear, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .leakyReLU: return (2 / (1 + a * a)).squareRoot()
        }
    }

    /// (fan in, fan out) of a weight of shape [out, in, receptive field...].
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "fan in/out need at least 2 dimensions, got shape \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Overwrites `tensor` in place (without recording gradients). The random numbers come from `generator`'s device:
    /// when the tensor lives elsewhere, they are drawn there and copied over, so one seed gives the same values on
    /// every device. Inside `withoutInitialization` this does nothing and draws nothing.
    public func apply(to tensor: Tensor, generator: Generator? = nil) {
        guard Initialization.current == .standard else { return }
        if let generator, generator.device != tensor.device {
            let staging = Tensor.empty(tensor.shape, dtype: tensor.dtype, device: generator.device)
            apply(to: staging, generator: generator)
            withNoGrad { tensor.copy_(staging) }
            return
        }
        withNoGrad {
            switch self {
            case .orthogonal(let gain):
                let rows = tensor.size(0)
                let cols = tensor.count / Swift.max(rows, 1)
                var flat = Tensor.randn([rows, cols], dtype: .float64, generator: generator)
                if rows < cols { flat = flat.T }
                var (q, r) = flat.qr()
                q = q * r.diagonal().sign()
                if rows < cols { q = q.T }
                tensor.copy_((q * gain).reshaped(tensor.shape))
            case .xavierUniform(let gain):
                let (fanIn, fanOut) = Self.fans(tensor.shape)
                let bound = gain * (6.0 / Double(fanIn + fanOut)).squareRoot()
                tensor.uniform_(-bound, bound, generator: generator)
            case .xavierNormal(let gain):
                let (fanIn, fanOut) = Self.fans(tensor.shape)
                tensor.normal_(mean: 0, std: gain * (2.0 / Double(fanIn + fanOut)).squareRoot(), generator: generator)
            case .kaimingUniform(let a, let mode, let nonlinearity):
                let std = Self.kaimingStd(tensor.shape, a: a, mode: mode, nonlinearity: nonlinearity)
                tensor.uniform_(-3.0.squareRoot() * std, 3.0.squareRoot() * std, generator: generator)
            case .kaimingNormal(let a, let mode, let nonlinearity):
                tensor.normal_(mean: 0, std: Self.kaimingStd(tensor.shape, a: a, mode: mode, nonlinearity: nonlinearity), generator: generator)
            case .normal(let mean, let std):
                tensor.normal_(mean: mean, std: std, generator: generator)
            case .uniform(let low, let high):
                tensor.uniform_(low, high, generator: generator)
            case .constant(let value):
                tensor.fill_(value)
            case .zeros:
                tensor.zero_()
            }
        }
    }

    static func kaimingStd(_ shape: [Int], a: Double, mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fanIn, fanOut) = fans(shape)
        return gain(nonlinearity, a: a) / Double(mode == .fanIn ? fanIn : fanOut).squareRoot()
    }
}

/// A trainable vector of `size` elements set to `value` (left uninitialised inside `withoutInitialization`).
func constantParameter(_ size: Int, _ value: Double, dtype: DType, device: Device) -> Tensor {
    let tensor = Tensor.empty([size], dtype: dtype, device: device)
    Initializer.constant(value).apply(to: tensor)
    return tensor.requiringGrad()
}
