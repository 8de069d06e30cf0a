import CFastKernels
import CTorch
import NeuralNetworks
@_spi(CInterop) import Torch

/// The activations `Tensor.mlp` can fuse.
public enum DenseActivation: Int32, Sendable {
    case identity = 0, tanh = 1, relu = 2
}

extension Tensor {
    /// A multilayer perceptron applied to `self` ([..., in]) in one autograd node: for each layer,
    /// `h = activation(h·weightᵀ + bias)`. On CPU float32/float64 tensors the forward pass is one matrix product per
    /// layer and the backward pass is computed by Proxima's own node, which is much cheaper than recording every
    /// layer and activation separately when the shapes are small; otherwise it composes `linear` and the activations
    /// (`FastPath.mlp` counts which one ran). Higher-order gradients (`createGraph`) through the fused node are not
    /// supported and stop with a message.
    public func mlp(_ layers: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)]) -> Tensor {
        precondition(!layers.isEmpty, "mlp needs at least one layer")
        return withExtendedLifetime(layers.map { ($0.weight, $0.bias) }) {
            let weights: [ct_tensor?] = layers.map { $0.weight.handle }
            let biases: [ct_tensor?] = layers.map { $0.bias?.handle }
            let activations: [Int32] = layers.map { $0.activation.rawValue }
            return withHandle { x in
                wrap(fk_mlp(x, weights, biases, activations, Int64(layers.count)),
                     "mlp of \(shape) with weights \(layers.map { $0.weight.shape })")
            }
        }
    }
}

extension Sequential {
    /// The layers as `Tensor.mlp` takes them — only `Linear` layers, each optionally followed by a tanh, ReLU or
    /// identity `Activation` — or nil when some layer cannot be fused.
    public var denseLayers: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)]? {
        var plan: [(weight: Tensor, bias: Tensor?, activation: DenseActivation)] = []
        for layer in layers {
            // Exactly Linear: a subclass (an adapter such as LoRA) overrides the forward pass and must not be fused.
            if let linear = layer as? Linear, type(of: linear) == Linear.self {
                plan.append((linear.weight, linear.bias, .identity))
            } else if let activation = layer as? Activation, let last = plan.last, last.activation == .identity {
                switch activation.kind {
                case .identity: break
                case .tanh: plan[plan.count - 1].activation = .tanh
                case .relu: plan[plan.count - 1].activation = .relu
                default: return nil
                }
            } else {
                return nil
            }
        }
        return plan.isEmpty ? nil : plan
    }
}
