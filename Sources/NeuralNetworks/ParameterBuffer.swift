import Torch

/// Packs parameters into one contiguous tensor (and their gradients into another) so that an optimizer step, gradient
/// clipping and zeroing are a handful of operations instead of a handful per parameter — what matters for small
/// networks, where per-operation overhead dominates.
///
/// Each parameter keeps its identity (modules and state dicts are unchanged) but its storage becomes a view of
/// `flat`, and its `grad` a view of `flat.grad`. Autograd accumulates into existing gradients in place, so zero the
/// gradients with `zeroGrad()` (in place), never by setting them to nil.
public final class ParameterBuffer {
    /// All parameters in one vector; hand `[flat]` to an optimizer.
    public let flat: Tensor
    public let parameters: [Tensor]

    public init(_ parameters: [Tensor]) {
        precondition(!parameters.isEmpty, "ParameterBuffer needs parameters")
        let dtype = parameters[0].dtype
        precondition(parameters.allSatisfy { $0.dtype == dtype }, "ParameterBuffer needs parameters of one dtype")
        self.parameters = parameters
        flat = withNoGrad { Tensor.cat(parameters.map { $0.detach().reshaped(-1) }) }
        let gradient = Tensor.zeros(like: flat)
        var offset = 0
        for p in parameters {
            let n = p.count
            let shape = p.shape
            withNoGrad { p.setData(flat.narrow(dim: 0, start: offset, length: n).view(shape)) }
            p.grad = gradient.narrow(dim: 0, start: offset, length: n).view(shape)
            offset += n
        }
        flat.grad = gradient
    }

    /// Zeroes every gradient in place (one operation).
    public func zeroGrad() { flat.grad!.zero_() }
}
