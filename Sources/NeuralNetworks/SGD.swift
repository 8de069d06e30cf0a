import Torch

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (`torch.optim.SGD`).
public final class SGD: Optimizer {
    public var parameterGroups: [ParameterGroup]
    public let momentum: Double
    public let dampening: Double
    public let nesterov: Bool
    var momentumBuffers: [String: Tensor] = [:]

    public init(_ groups: [ParameterGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum needs momentum > 0 and no dampening")
        self.parameterGroups = groups
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
    }

    public convenience init(parameters: [Tensor], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                            nesterov: Bool = false, weightDecay: Double = 0) {
        self.init([ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  momentum: momentum, dampening: dampening, nesterov: nesterov)
    }

    public func step() {
        withNoGrad {
            for (key, g, p) in allParameters {
                guard let grad = p.grad else { continue }
                let group = parameterGroups[g]
                var d = group.weightDecay != 0 ? grad + group.weightDecay * p : grad
                if momentum != 0 {
                    if let buffer = momentumBuffers[key] {
                        buffer.mul_(momentum)
                        buffer.add_(d, alpha: 1 - dampening)
                    } else {
                        momentumBuffers[key] = d.clone()
                    }
                    let buffer = momentumBuffers[key]!
                    d = nesterov ? d + momentum * buffer : buffer
                }
                p.add_(d, alpha: -group.learningRate)
            }
        }
    }

    public func state() -> OptimizerState { state(perParameter: momentumBuffers, name: "momentum_buffer") }

    public func load(state: OptimizerState) throws { momentumBuffers = try restore(perParameter: "momentum_buffer", from: state) }
}
