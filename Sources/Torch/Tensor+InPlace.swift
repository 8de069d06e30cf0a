import CTorch

/// In-place updates, mostly for optimizers. They follow PyTorch's names with a trailing underscore; autograd still
/// refuses in-place changes to leaves that require gradients unless run under `withNoGrad`.
extension Tensor {
    /// self += alpha · other
    public func add_(_ other: Tensor, alpha: Double = 1) {
        withHandle { h in other.withHandle { check(ct_add_(h, $0, alpha.ctScalar), "add_") } }
    }
    public func add_<T: TensorScalar>(_ value: T) { withHandle { check(ct_add_scalar_($0, value.ctScalar), "add_") } }
    public func mul_(_ other: Tensor) { withHandle { h in other.withHandle { check(ct_mul_(h, $0), "mul_") } } }
    public func mul_<T: TensorScalar>(_ value: T) { withHandle { check(ct_mul_scalar_($0, value.ctScalar), "mul_") } }
    public func div_(_ other: Tensor) { withHandle { h in other.withHandle { check(ct_div_(h, $0), "div_") } } }
    public func div_<T: TensorScalar>(_ value: T) { withHandle { check(ct_div_scalar_($0, value.ctScalar), "div_") } }

    /// self += value · a · b
    public func addcmul_(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        withHandle { h in a.withHandle { x in b.withHandle { check(ct_addcmul_(h, x, $0, value.ctScalar), "addcmul_") } } }
    }

    /// self += value · a / b
    public func addcdiv_(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        withHandle { h in a.withHandle { x in b.withHandle { check(ct_addcdiv_(h, x, $0, value.ctScalar), "addcdiv_") } } }
    }

    /// self += weight · (end - self)
    public func lerp_(_ end: Tensor, weight: Double) {
        withHandle { h in end.withHandle { check(ct_lerp_(h, $0, weight.ctScalar), "lerp_") } }
    }

    /// Copies `source` (broadcast and converted) into self.
    public func copy_(_ source: Tensor) {
        withHandle { h in source.withHandle { check(ct_copy_(h, $0), "copy_ of \(source.shape) into \(shape)") } }
    }

    public func zero_() { withHandle { check(ct_zero_($0), "zero_") } }
    public func fill_<T: TensorScalar>(_ value: T) { withHandle { check(ct_fill_($0, value.ctScalar), "fill_") } }
    public func clamp_(min: Double? = nil, max: Double? = nil) {
        withHandle { check(ct_clamp_($0, optScalar(min), optScalar(max)), "clamp_") }
    }
    /// self = max(self, other) elementwise.
    public func maximum_(_ other: Tensor) { withHandle { h in other.withHandle { check(ct_maximum_(h, $0), "maximum_") } } }
    public func sqrt_() { withHandle { check(ct_sqrt_($0), "sqrt_") } }
}

/// One Adam (or, with `decoupled`, AdamW) step on `parameter` and its moment tensors, in place, by ATen's fused
/// kernel (what `torch.optim.Adam(fused=True)` runs on CPU). `step` counts from 1. Returns false, changing nothing,
/// when the tensors are not dense CPU float32/float64 tensors of one dtype and size; then use separate operations.
public func fusedAdamStep(parameter: Tensor, gradient: Tensor, exp: Tensor, expSquared: Tensor, maxExpSquared: Tensor?,
                          learningRate: Double, betas: (Double, Double), eps: Double, weightDecay: Double,
                          decoupled: Bool, step: Int) -> Bool {
    withExtendedLifetime((parameter, gradient, exp, expSquared, maxExpSquared)) {
        let status = ct_adam_step(parameter.handle, gradient.handle, exp.handle, expSquared.handle, maxExpSquared?.handle,
                                  learningRate, betas.0, betas.1, eps, weightDecay, decoupled ? 1 : 0, Int64(step))
        if status < 0 { check(status, "fusedAdamStep of \(parameter.shape)") }
        return status == 1
    }
}

/// Scales `gradients` in place so that their global p-norm is at most `maxNorm`, with the factor
/// `maxNorm / (total + 1e-6)` when below 1, as `torch.nn.utils.clip_grad_norm_` does (ATen's per-list norm and
/// multiply). Returns the norm before clipping.
public func clipGradientNorm_(_ gradients: [Tensor], maxNorm: Double, normType: Double) -> Double {
    withExtendedLifetime(gradients) {
        let handles: [ct_tensor?] = gradients.map { $0.handle }
        var total = 0.0
        check(ct_clip_grad_norm(handles, Int64(handles.count), maxNorm, normType, &total),
              "clipGradientNorm_ of \(gradients.count) tensors")
        return total
    }
}
