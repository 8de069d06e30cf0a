import Foundation
import Torch

/// Parameters that share a learning rate and weight decay.
public struct ParameterGroup {
    public var parameters: [Tensor]
    public var learningRate: Double
    public var weightDecay: Double

    public init(parameters: [Tensor], learningRate: Double, weightDecay: Double = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }
}

/// An optimizer's state for checkpoints: per-parameter tensors (momentum, moments) and scalars (step counts,
/// learning rates), with keys built from group and parameter positions.
public struct OptimizerState {
    public var tensors: [String: Tensor] = [:]
    public var scalars: [String: Double] = [:]
    public init(tensors: [String: Tensor] = [:], scalars: [String: Double] = [:]) {
        self.tensors = tensors
        self.scalars = scalars
    }
}

/// Updates parameters from their gradients. Implementations follow `torch.optim` exactly.
public protocol Optimizer: AnyObject {
    var parameterGroups: [ParameterGroup] { get set }
    /// Applies one update from the current gradients (parameters without a gradient are skipped).
    func step()
    /// The state needed to continue identically after a restart.
    func state() -> OptimizerState
    /// Restores `state()`; throws when it does not fit these parameters.
    func load(state: OptimizerState) throws
}

extension Optimizer {
    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for group in parameterGroups { for p in group.parameters { p.zeroGrad() } }
    }

    /// Sets the learning rate of every group.
    public func setLearningRate(_ rate: Double) {
        for i in parameterGroups.indices { parameterGroups[i].learningRate = rate }
    }

    public var learningRate: Double { parameterGroups.first?.learningRate ?? 0 }

    var allParameters: [(key: String, group: Int, tensor: Tensor)] {
        parameterGroups.enumerated().flatMap { g, group in
            group.parameters.enumerated().map { (key: "\(g).\($0.offset)", group: g, tensor: $0.element) }
        }
    }

    func storeLearningRates(_ state: inout OptimizerState) {
        for (g, group) in parameterGroups.enumerated() {
            state.scalars["group.\(g).lr"] = group.learningRate
            state.scalars["group.\(g).weight_decay"] = group.weightDecay
        }
    }

    /// The state of an optimizer that keeps one tensor per parameter (`<group>.<index>.<name>`) plus learning rates.
    func state(perParameter tensors: [String: Tensor], name: String) -> OptimizerState {
        var state = OptimizerState()
        for (key, t) in tensors { state.tensors["\(key).\(name)"] = t.clone() }
        storeLearningRates(&state)
        return state
    }

    /// Restores learning rates and the per-parameter tensors written by `state(perParameter:name:)`.
    func restore(perParameter name: String, from state: OptimizerState) throws -> [String: Tensor] {
        try restoreLearningRates(state)
        var restored: [String: Tensor] = [:]
        for (key, _, p) in allParameters {
            if let t = try restoreTensor(state, "\(key).\(name)", like: p) { restored[key] = t }
        }
        return restored
    }

    func restoreLearningRates(_ state: OptimizerState) throws {
        for g in parameterGroups.indices {
            guard let lr = state.scalars["group.\(g).lr"] else {
                throw OptimizerStateError("optimizer state has no learning rate for parameter group \(g)")
            }
            parameterGroups[g].learningRate = lr
            parameterGroups[g].weightDecay = state.scalars["group.\(g).weight_decay"] ?? parameterGroups[g].weightDecay
        }
    }
}

public struct OptimizerStateError: ProximaError {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Per-parameter state tensors keyed by `"<group>.<index>.<name>"`; fails on shape mismatches or missing entries.
func restoreTensor(_ state: OptimizerState, _ key: String, like parameter: Tensor) throws -> Tensor? {
    guard let value = state.tensors[key] else { return nil }
    guard value.shape == parameter.shape else {
        throw OptimizerStateError("optimizer state '\(key)' has shape \(value.shape), parameter has \(parameter.shape)")
    }
    return value.to(dtype: parameter.dtype).clone()
}

/// Scales all gradients so that their global norm is at most `maxNorm` (`torch.nn.utils.clip_grad_norm_`): the total
/// is the p-norm of all gradient elements (p = 2 or `.infinity`), the factor `maxNorm / (total + 1e-6)` is applied
/// only when below 1. Returns the total norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Double {
    let grads = parameters.compactMap(\.grad)
    guard !grads.isEmpty else { return 0 }
    return withNoGrad { clipGradientNorm_(grads, maxNorm: maxNorm, normType: normType) }
}
