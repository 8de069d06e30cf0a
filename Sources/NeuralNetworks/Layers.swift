import Foundation
import Torch

/// y = x Wᵀ + b with W of shape [outputSize, inputSize], initialised as PyTorch's `nn.Linear`
/// (uniform in ±1/√inputSize for weight and bias).
///
/// `open` so that adapters can subclass it and override `callAsFunction` (`final class LoRALinear: Linear`), then
/// take its place with `Module.replaceModule(at:with:)`. Calls dispatch dynamically; that costs nanoseconds next to
/// the matrix product.
open class Linear: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?

    /// A layer with new parameters on `device`, drawn with `generator` (uninitialised inside
    /// `withoutInitialization`).
    public init(inputSize: Int, outputSize: Int, bias: Bool = true, dtype: DType = .float32, device: Device = .cpu,
                generator: Generator? = nil) {
        precondition(inputSize > 0 && outputSize > 0, "Linear sizes must be positive, got \(inputSize)→\(outputSize)")
        let bound = 1 / Double(inputSize).squareRoot()
        weight = Tensor.empty([outputSize, inputSize], dtype: dtype, device: device)
        Initializer.uniform(low: -bound, high: bound).apply(to: weight, generator: generator)
        weight.requiresGrad = true
        if bias {
            let b = Tensor.empty([outputSize], dtype: dtype, device: device)
            Initializer.uniform(low: -bound, high: bound).apply(to: b, generator: generator)
            self.bias = b.requiringGrad()
        } else {
            self.bias = nil
        }
    }

    /// A layer over existing tensors, shared rather than copied: `weight` [outputSize, inputSize] and `bias`
    /// [outputSize]. A subclass wrapping another layer passes that layer's tensors here.
    public init(weight: Tensor, bias: Tensor? = nil) {
        precondition(weight.rank == 2, "Linear weight must be 2-D [out, in], got shape \(weight.shape)")
        if let bias {
            precondition(bias.shape == [weight.size(0)], "Linear bias must have shape [\(weight.size(0))], got \(bias.shape)")
        }
        self.weight = weight
        self.bias = bias
    }

    public var inputSize: Int { weight.size(1) }
    public var outputSize: Int { weight.size(0) }

    open func callAsFunction(_ x: Tensor) -> Tensor { x.linear(weight: weight, bias: bias) }

    /// A scalar whose gradients with respect to `input` and this layer's trainable tensors are those of
    /// ⟨`outputGradient`, self(input)⟩, without the product (`projectionGradientSurrogate`). Gradient
    /// checkpointing's recomputation uses it for a layer's last projection, whose output it never needs.
    open func gradientSurrogate(_ input: Tensor, outputGradient g: Tensor) -> Tensor {
        projectionGradientSurrogate(input, outputGradient: g, weight: weight, bias: bias)
    }
}

/// A scalar whose gradients with respect to `input` [..., in], `weight` [out, in] and `bias` [out] are those of
/// ⟨g, input·weightᵀ + bias⟩ — what back-propagating g through the projection gives — computed without the product
/// itself: the input's gradient g·W, the weight's gᵀx and the bias's Σg are formed without recording and paired with
/// what they are gradients of. `weight` may be a view (GPT-2's Conv1D passes its [in, out] weight transposed).
/// Recording must be on; tensors that require no gradient get no term.
public func projectionGradientSurrogate(_ input: Tensor, outputGradient g: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let outputSize = weight.size(0), inputSize = weight.size(1)
    var terms: [Tensor] = []
    if input.requiresGrad { terms.append((input * withNoGrad { g.matmul(weight) }).sum()) }
    if weight.requiresGrad {
        let flatGradient = g.reshaped([-1, outputSize]), flatInput = input.reshaped([-1, inputSize])
        terms.append((weight * withNoGrad { flatGradient.transposed(0, 1).matmul(flatInput) }).sum())
    }
    if let bias, bias.requiresGrad { terms.append((bias * withNoGrad { g.reshaped([-1, outputSize]).sum(dim: 0) }).sum()) }
    return terms.dropFirst().reduce(terms.first ?? Tensor.zeros([], dtype: input.dtype)) { $0 + $1 }
}

/// A lookup table of `count` vectors of size `dimension` (normal(0, 1) initialisation, as PyTorch).
public final class Embedding: Module, Layer {
    public let weight: Tensor

    public init(count: Int, dimension: Int, dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil) {
        let weight = Tensor.empty([count, dimension], dtype: dtype, device: device)
        Initializer.normal(mean: 0, std: 1).apply(to: weight, generator: generator)
        self.weight = weight.requiringGrad()
    }

    /// Rows for integer `indices` of any shape; the result has shape indices.shape + [dimension].
    public func callAsFunction(_ indices: Tensor) -> Tensor { weight.embedding(indices) }
}

/// Normalises the last dimension to zero mean and unit variance, then scales and shifts (`nn.LayerNorm`).
public final class LayerNorm: Module, Layer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let eps: Double
    let size: Int

    public init(_ size: Int, eps: Double = 1e-5, affine: Bool = true, bias: Bool = true, dtype: DType = .float32,
                device: Device = .cpu) {
        self.size = size
        self.eps = eps
        weight = affine ? constantParameter(size, 1, dtype: dtype, device: device) : nil
        self.bias = affine && bias ? constantParameter(size, 0, dtype: dtype, device: device) : nil
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.layerNorm(normalizedShape: [size], weight: weight, bias: bias, eps: eps) }
}

/// Root-mean-square normalisation of the last dimension with a learned scale (Llama / Qwen2 `RMSNorm`), computed in
/// float32 or wider and cast back.
public final class RMSNorm: Module, Layer {
    public let weight: Tensor
    public let eps: Double

    public init(_ size: Int, eps: Double = 1e-6, dtype: DType = .float32, device: Device = .cpu) {
        self.eps = eps
        weight = constantParameter(size, 1, dtype: dtype, device: device)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.rmsNorm(weight: weight, eps: eps) }
}

/// Zeroes elements with probability `p` in training mode and rescales the rest; the identity in evaluation mode.
public final class Dropout: Module, Layer {
    public let p: Double
    /// The generator used for the masks (libtorch's global one when nil).
    public var generator: Generator?

    public init(_ p: Double = 0.5, generator: Generator? = nil) {
        precondition(p >= 0 && p < 1, "Dropout probability must be in [0, 1), got \(p)")
        self.p = p
        self.generator = generator
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.dropout(p, training: isTraining, generator: generator) }
}

/// Elementwise nonlinearities by name (also used in configuration files).
public enum ActivationKind: String, Codable, Sendable, CaseIterable {
    case identity, tanh, relu, gelu, geluTanh = "gelu_tanh", silu, sigmoid

    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .identity: return x
        case .tanh: return x.tanh()
        case .relu: return x.relu()
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximate: true)
        case .silu: return x.silu()
        case .sigmoid: return x.sigmoid()
        }
    }

    /// The gain `Initializer.orthogonal` and Kaiming use for a layer followed by this activation.
    public var initializerGain: Double {
        switch self {
        case .tanh: return Initializer.gain(.tanh)
        case .relu, .gelu, .geluTanh, .silu: return Initializer.gain(.relu)
        case .identity, .sigmoid: return 1
        }
    }
}

/// An activation function as a layer.
public final class Activation: Module, Layer {
    public let kind: ActivationKind
    public init(_ kind: ActivationKind) { self.kind = kind }
    public func callAsFunction(_ x: Tensor) -> Tensor { kind.apply(x) }
}

/// Layers applied in order. Children are named by position (`0.weight`, `2.bias`), as in PyTorch.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) {
        self.layers = layers
    }
    public convenience init(_ layers: any Layer...) { self.init(layers) }

    public override func namedChildren() -> [(String, Any)] { layers.enumerated().map { ("\($0.offset)", $0.element) } }

    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

extension Sequential {
    /// A multilayer perceptron: `sizes[0] → sizes[1] → … → sizes.last` with `activation` between layers and
    /// `outputActivation` after the last one. Layers are named `0`, `2`, … as in a PyTorch `nn.Sequential`.
    public static func mlp(sizes: [Int], activation: ActivationKind = .tanh, outputActivation: ActivationKind = .identity,
                           bias: Bool = true, dtype: DType = .float32, generator: Generator? = nil) -> Sequential {
        precondition(sizes.count >= 2, "an MLP needs at least input and output sizes, got \(sizes)")
        var layers: [any Layer] = []
        for i in 0..<(sizes.count - 1) {
            layers.append(Linear(inputSize: sizes[i], outputSize: sizes[i + 1], bias: bias, dtype: dtype, generator: generator))
            let kind = i == sizes.count - 2 ? outputActivation : activation
            if kind != .identity || i < sizes.count - 2 { layers.append(Activation(kind)) }
        }
        return Sequential(layers)
    }
}
