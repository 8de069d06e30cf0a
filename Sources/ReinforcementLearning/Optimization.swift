import Foundation
import NeuralNetworks
import Torch
import Training

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

    /// One gradient step: checks the loss is finite (before anything changes), back-propagates, clips the global
    /// gradient norm and updates. Returns the gradient norm before clipping. `parts` (the loss's components, for the
    /// error message) is evaluated only when the loss is not finite.
    @discardableResult
    func step(_ loss: Tensor, parts: @autoclosure () -> [String: Double], maxGradNorm: Double, update: Int) throws -> Double {
        try TrainingError.checkFinite(loss.item(Double.self), parts: parts(), step: update)
        if let buffer { buffer.zeroGrad() } else { optimizer.zeroGrad() }
        loss.backward()
        return clipAndUpdate(maxGradNorm: maxGradNorm)
    }

    /// The same step for gradients computed outside autograd and already written into the parameters' gradients.
    @discardableResult
    func step(computedLoss: Double, parts: @autoclosure () -> [String: Double], maxGradNorm: Double, update: Int) throws -> Double {
        try TrainingError.checkFinite(computedLoss, parts: parts(), step: update)
        return clipAndUpdate(maxGradNorm: maxGradNorm)
    }

    private func clipAndUpdate(maxGradNorm: Double) -> Double {
        let norm = clipGradNorm(parameters, maxNorm: maxGradNorm)
        optimizer.step()
        return norm
    }
}
