import Foundation
import NeuralNetworks
import Torch

/// A rollout with its advantages and returns, ready for an algorithm's update.
public struct TrainingBatch {
    public let rollout: Rollout
    public let advantages: Tensor
    public let returns: Tensor
    /// 1 − steps done / total steps, after this rollout.
    public let progressRemaining: Double
    /// 1-based index of this update and the run's total.
    public let update: Int
    public let totalUpdates: Int

    /// Random minibatches of row indices covering the batch once (the last one may be smaller).
    func minibatches(size: Int, generator: Generator) -> [Tensor] {
        let permutation = Tensor.randperm(rollout.count, generator: generator)
        return permutation.split(size: Swift.min(size, rollout.count))
    }
}

/// Why training stopped early.
public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(update: Int, losses: [String: Double])

    public var description: String {
        switch self {
        case .nonFiniteLoss(let update, let losses):
            let detail = losses.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")
            return "non-finite loss in update \(update) (\(detail)); training stopped, the last good checkpoint is kept"
        }
    }
}

/// Averages of per-minibatch diagnostics.
struct MetricAccumulator {
    private var sums: [String: Double] = [:]
    private var counts: [String: Int] = [:]

    mutating func add(_ name: String, _ value: Double) {
        sums[name, default: 0] += value
        counts[name, default: 0] += 1
    }

    var means: [String: Double] { sums.reduce(into: [:]) { $0[$1.key] = $1.value / Double(counts[$1.key]!) } }
}

/// The optimizer and the parameters it updates. Parameters of one dtype are packed into a `ParameterBuffer`, so that
/// zeroing, clipping and the optimizer step touch one tensor instead of one per parameter.
struct Optimization {
    let optimizer: Optimizer
    let buffer: ParameterBuffer?
    let parameters: [Tensor]

    init(policy: ActorCriticPolicy, make: ([Tensor]) -> Optimizer) {
        let trainable = policy.trainableParameters()
        if Set(trainable.map(\.dtype)).count == 1 {
            let buffer = ParameterBuffer(trainable)
            self.buffer = buffer
            parameters = [buffer.flat]
        } else {
            buffer = nil
            parameters = trainable
        }
        optimizer = make(parameters)
    }

    /// One gradient step: checks the loss is finite, back-propagates, clips the global gradient norm and updates.
    /// Returns the gradient norm before clipping. `parts` (the loss's components, for the error message) is evaluated
    /// only when the loss is not finite.
    @discardableResult
    func step(_ loss: Tensor, parts: @autoclosure () -> [String: Double], maxGradNorm: Double, update: Int) throws -> Double {
        try checkFinite(loss.item(Double.self), parts: parts(), update: update)
        if let buffer { buffer.zeroGrad() } else { optimizer.zeroGrad() }
        loss.backward()
        return clipAndUpdate(maxGradNorm: maxGradNorm)
    }

    /// The same step for gradients computed outside autograd and already written into the parameters' gradients.
    @discardableResult
    func step(computedLoss: Double, parts: @autoclosure () -> [String: Double], maxGradNorm: Double, update: Int) throws -> Double {
        try checkFinite(computedLoss, parts: parts(), update: update)
        return clipAndUpdate(maxGradNorm: maxGradNorm)
    }

    private func checkFinite(_ loss: Double, parts: @autoclosure () -> [String: Double], update: Int) throws {
        guard loss.isFinite else {
            throw TrainingError.nonFiniteLoss(update: update, losses: parts().merging(["loss": loss]) { $1 })
        }
    }

    private func clipAndUpdate(maxGradNorm: Double) -> Double {
        let norm = clipGradNorm(parameters, maxNorm: maxGradNorm)
        optimizer.step()
        return norm
    }
}
