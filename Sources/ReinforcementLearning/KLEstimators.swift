import Foundation
import Torch

/// Per-token estimates of KL(π ‖ π_ref) from samples of π (Schulman's k1, k2, k3; ALGORITHMS-rl B1), with
/// d = logπ − logπ_ref: k1 = d, k2 = ½d², k3 = e^{−d} + d − 1. Padded positions (mask 0) are 0; with `clamp` every
/// estimate is limited to ±clamp (OpenRLHF), with zero gradient where clamped.
public struct KLEstimates {
    public var k1: Tensor
    public var k2: Tensor
    public var k3: Tensor

    public init(logProbs: Tensor, referenceLogProbs: Tensor, mask: Tensor? = nil, clamp: Double? = nil) {
        let d = logProbs - referenceLogProbs
        func finish(_ k: Tensor) -> Tensor {
            let limited = clamp.map { k.clamp(min: -$0, max: $0) } ?? k
            return mask.map { limited * $0 } ?? limited
        }
        k1 = finish(d)
        k2 = finish(0.5 * d.square())
        k3 = finish((-d).exp() + d - 1)
    }

    /// Σ over the last (token) dimension: one estimate per sequence.
    public static func sequenceSum(_ k: Tensor) -> Tensor { k.sum(dim: -1) }

    /// Mean over real tokens.
    public static func mean(_ k: Tensor, mask: Tensor?) -> Tensor { maskedMean(k, mask) }
}
