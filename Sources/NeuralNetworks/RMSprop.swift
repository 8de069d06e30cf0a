import Torch

/// RMSprop (`torch.optim.RMSprop`, not centered, no momentum): v ← αv + (1−α)g², p ← p − lr·g/(√v + ε).
/// Stable-Baselines3's A2C uses it with α = 0.99, ε = 1e-5.
public final class RMSprop: Optimizer {
    public var parameterGroups: [ParameterGroup]
    public let alpha: Double
    public let eps: Double
    var squareAverages: [String: Tensor] = [:]

    public init(parameters: [Tensor], learningRate: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0) {
        parameterGroups = [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)]
        self.alpha = alpha
        self.eps = eps
    }

    public func step() {
        withNoGrad {
            for (key, g, p) in allParameters {
                guard var grad = p.grad else { continue }
                let group = parameterGroups[g]
                if group.weightDecay != 0 { grad = grad + group.weightDecay * p }
                let average = squareAverages[key] ?? Tensor.zeros(like: p)
                average.mul_(alpha)
                average.addcmul_(grad, grad, value: 1 - alpha)
                squareAverages[key] = average
                let denominator = average.sqrt()
                denominator.add_(eps)
                p.addcdiv_(grad, denominator, value: -group.learningRate)
            }
        }
    }

    public func state() -> OptimizerState { state(perParameter: squareAverages, name: "square_avg") }

    public func load(state: OptimizerState) throws { squareAverages = try restore(perParameter: "square_avg", from: state) }
}
