import Foundation
import NeuralNetworks
import Torch

/// A rollout with its advantages and returns, ready for an algorithm's update.
public struct TrainingBatch {
    public let rollout: Rollout
    public let advantages: Tensor
    public let returns: Tensor
    /// 1-based index of this update within the current `learn` call, and that call's planned updates (schedules such
    /// as `lin_<rate>` and MDPO's step size read them).
    public let update: Int
    public let totalUpdates: Int
    /// The update's number counted over the algorithm's whole training (errors name it).
    public let step: Int

    /// Random minibatches covering the batch once (the last one may be smaller).
    func minibatches(size: Int, generator: Generator) -> [Minibatch] {
        let permutation = Tensor.randperm(rollout.count, generator: generator)
        return permutation.split(size: Swift.min(size, rollout.count)).map { Minibatch(batch: self, indices: $0) }
    }
}

/// The rows `indices` of a training batch; each field is gathered when first read.
struct Minibatch {
    let batch: TrainingBatch
    let indices: Tensor

    var count: Int { indices.count }
    private func rows(_ t: Tensor) -> Tensor { t.indexSelect(dim: 0, index: indices) }

    var observations: Tensor { rows(batch.rollout.observations) }
    var actions: Tensor { rows(batch.rollout.actions) }
    var oldLogProbs: Tensor { rows(batch.rollout.logProbs) }
    var oldValues: Tensor { rows(batch.rollout.values) }
    var distributionParameters: Tensor { rows(batch.rollout.distributionParameters) }
    var advantages: Tensor { rows(batch.advantages) }
    var returns: Tensor { rows(batch.returns) }
}
