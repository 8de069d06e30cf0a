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
