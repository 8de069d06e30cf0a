import CTorch

/// How a loss reduces over the batch (libtorch's codes).
public enum Reduction: Int64, Sendable {
    case none = 0, mean = 1, sum = 2
}

extension Tensor {
    /// Matrix product with broadcasting over batch dimensions (`torch.matmul`).
    public func matmul(_ other: Tensor) -> Tensor { binaryHandle(other, "matmul") { ct_matmul($0, $1) } }

    /// Batched matrix product of [B, n, m] and [B, m, p].
    public func bmm(_ other: Tensor) -> Tensor { binaryHandle(other, "bmm") { ct_bmm($0, $1) } }

    /// x Wᵀ + b, as `torch.nn.functional.linear`.
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        withExtendedLifetime((weight, bias)) {
            withHandle { wrap(ct_linear($0, weight.handle, bias?.handle), "linear of \(shape) with weight \(weight.shape)") }
        }
    }

    /// x Wᵀ + b + scale · (x Aᵀ) Bᵀ: a projection with a low-rank (LoRA) update, A [r, in] and B [out, r], the update
    /// accumulated into the base product by the BLAS (no separate scaling and addition passes). Differentiable; equal
    /// to `linear(weight:bias:) + linear(weight: a).linear(weight: b) * scale` to rounding.
    public func loraLinear(weight: Tensor, bias: Tensor? = nil, a: Tensor, b: Tensor, scale: Double) -> Tensor {
        withExtendedLifetime((weight, bias, a, b)) {
            withHandle {
                wrap(ct_lora_linear($0, weight.handle, bias?.handle, a.handle, b.handle, scale),
                     "LoRA linear of \(shape) with weight \(weight.shape) and factors \(a.shape), \(b.shape)")
            }
        }
    }

    /// Layer normalisation over the trailing `normalizedShape` dimensions, with optional affine weight and bias.
    public func layerNorm(normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil, eps: Double = 1e-5) -> Tensor {
        withExtendedLifetime((weight, bias)) {
            withHandle { h in
                wrap(withDims(normalizedShape) { ct_layer_norm(h, $0, $1, weight?.handle, bias?.handle, eps) },
                     "layerNorm(\(normalizedShape)) of \(shape)")
            }
        }
    }

    /// Rows of the embedding table `self` at `indices` (any shape); rows at `paddingIndex` get no gradient.
    public func embedding(_ indices: Tensor, paddingIndex: Int = -1) -> Tensor {
        binaryHandle(indices, "embedding") { ct_embedding($0, $1, Int64(paddingIndex)) }
    }

    /// The reduced QR decomposition of a matrix (or batch of matrices).
    public func qr() -> (q: Tensor, r: Tensor) {
        var q: ct_tensor?
        var r: ct_tensor?
        withHandle { check(ct_qr($0, &q, &r), "qr of \(shape)") }
        return (Tensor(owning: q!), Tensor(owning: r!))
    }

    /// The diagonal (offset 0), or one above (> 0) or below (< 0) it, of the two given dimensions.
    public func diagonal(offset: Int = 0, dim1: Int = 0, dim2: Int = 1) -> Tensor {
        withHandle { wrap(ct_diagonal($0, Int64(offset), Int64(dim1), Int64(dim2)), "diagonal") }
    }

    /// Einstein summation (`torch.einsum`), e.g. `Tensor.einsum("bij,bjk->bik", a, b)`.
    public static func einsum(_ equation: String, _ operands: Tensor...) -> Tensor {
        withHandles(operands) { handles, n in wrap(ct_einsum(equation, handles, n), "einsum(\"\(equation)\")") }
    }

    /// Cross-entropy of unnormalised `self` logits ([N, C] or [N, C, d...]) against class indices.
    public func crossEntropy(target: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean,
                             ignoreIndex: Int = -100, labelSmoothing: Double = 0) -> Tensor {
        withExtendedLifetime((target, weight)) {
            withHandle {
                wrap(ct_cross_entropy($0, target.handle, weight?.handle, reduction.rawValue, Int64(ignoreIndex), labelSmoothing),
                     "crossEntropy of logits \(shape) and target \(target.shape)")
            }
        }
    }

    /// Negative log-likelihood of log-probabilities `self` at the target classes.
    public func nllLoss(target: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean, ignoreIndex: Int = -100) -> Tensor {
        withExtendedLifetime((target, weight)) {
            withHandle {
                wrap(ct_nll_loss($0, target.handle, weight?.handle, reduction.rawValue, Int64(ignoreIndex)),
                     "nllLoss of \(shape) and target \(target.shape)")
            }
        }
    }

    /// Mean (or summed) squared error against `target`.
    public func mseLoss(_ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        binaryHandle(target, "mseLoss") { ct_mse_loss($0, $1, reduction.rawValue) }
    }

    /// Whether every element is within `atol + rtol·|other|` of `other`.
    public func allClose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8, equalNaN: Bool = false) -> Bool {
        withHandle { a in other.withHandle { b in
            let r = ct_allclose(a, b, rtol, atol, equalNaN ? 1 : 0)
            if r < 0 { torchFailure("allClose of \(shape) and \(other.shape)") }
            return r == 1
        } }
    }

    /// Same shape and identical elements.
    public func equal(_ other: Tensor) -> Bool {
        withHandle { a in other.withHandle { b in
            let r = ct_equal(a, b)
            if r < 0 { torchFailure("equal") }
            return r == 1
        } }
    }

    @inline(__always)
    func binaryHandle(_ other: Tensor, _ name: String, _ f: (ct_tensor, ct_tensor) -> ct_tensor?) -> Tensor {
        withHandle { a in other.withHandle { b in
            wrap(f(a, b), "\(name) of \(shape) and \(other.shape)")
        } }
    }
}

