import Foundation
import Torch

// Stable scalar functions of ALGORITHMS-preference.md section 1, shared by the objectives.
extension Tensor {
    /// log(1 + exp(x)) as -log_sigmoid(-x): exact for every x (libtorch's softplus turns linear above 20).
    var exactSoftplus: Tensor { -(-self).logSigmoid() }

    /// log(1 - exp(x)) for x < 0: log1p(-exp(x)) below -ln 2, log(-expm1(x)) above. Each branch sees its input
    /// clamped to its own side of -ln 2, so the branch `where` discards stays finite and back-propagates 0, not NaN.
    var logOneMinusExp: Tensor {
        let ln2 = Foundation.log(2.0)
        let far = (-clamp(max: -ln2).exp()).log1p()
        let near = (-clamp(min: -ln2).expm1()).log()
        return Tensor.where(self .< -ln2, far, near)
    }

    /// Completion token counts as divisors in this tensor's dtype: constants, with 0 read as 1.
    func perToken(_ lengths: Tensor) -> Tensor {
        self / lengths.detach().to(dtype: dtype).clamp(min: 1)
    }
}

/// (1 - eps) softplus(-z) + eps softplus(z): the logistic loss against a target smoothed by eps (cDPO, SimPO).
func smoothedLogisticLoss(_ z: Tensor, labelSmoothing eps: Double) -> Tensor {
    let observed = -z.logSigmoid()
    return eps == 0 ? observed : (1 - eps) * observed + eps * z.exactSoftplus
}

/// Mean of a non-empty list (nil for an empty one: a metric that is undefined for this batch).
func average(_ values: [Double]) -> Double? {
    values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
}
