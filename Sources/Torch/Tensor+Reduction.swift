import CTorch

extension Tensor {
    @inline(__always)
    func reduce(_ op: ct_reduce_op, _ dims: [Int], _ keepDim: Bool, _ name: String) -> Tensor {
        withHandle { h in
            wrap(withDims(dims) { ct_reduce(Int32(op.rawValue), h, $0, $1, keepDim ? 1 : 0) }, "\(name)(dims: \(dims)) of \(shape)")
        }
    }

    /// Sum over `dims` (all dimensions when empty).
    public func sum(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_SUM, dims, keepDim, "sum") }
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { reduce(CT_SUM, [dim], keepDim, "sum") }
    public func mean(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_MEAN, dims, keepDim, "mean") }
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { reduce(CT_MEAN, [dim], keepDim, "mean") }
    public func prod(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_PROD, dims, keepDim, "prod") }
    public func prod(dim: Int, keepDim: Bool = false) -> Tensor { reduce(CT_PROD, [dim], keepDim, "prod") }
    /// Largest value over `dims` (all when empty).
    public func max(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_AMAX, dims, keepDim, "max") }
    public func min(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_AMIN, dims, keepDim, "min") }
    /// log(sum(exp(x))) over `dims`, computed stably.
    public func logSumExp(dims: [Int], keepDim: Bool = false) -> Tensor { reduce(CT_LOGSUMEXP, dims, keepDim, "logSumExp") }
    public func logSumExp(dim: Int, keepDim: Bool = false) -> Tensor { reduce(CT_LOGSUMEXP, [dim], keepDim, "logSumExp") }
    public func any(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_ANY, dims, keepDim, "any") }
    public func all(dims: [Int] = [], keepDim: Bool = false) -> Tensor { reduce(CT_ALL, dims, keepDim, "all") }

    /// Largest values along `dim` and where they are.
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) { maxMin(dim, keepDim, isMin: false) }
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) { maxMin(dim, keepDim, isMin: true) }

    private func maxMin(_ dim: Int, _ keepDim: Bool, isMin: Bool) -> (values: Tensor, indices: Tensor) {
        var values: ct_tensor?
        var indices: ct_tensor?
        withHandle { check(ct_max_dim($0, Int64(dim), keepDim ? 1 : 0, isMin ? 1 : 0, &values, &indices), isMin ? "min(dim:)" : "max(dim:)") }
        return (Tensor(owning: values!), Tensor(owning: indices!))
    }

    /// Index of the largest element along `dim` (of the flattened tensor when nil).
    public func argmax(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        withHandle { wrap(ct_argmax($0, dim == nil ? 0 : 1, Int64(dim ?? 0), keepDim ? 1 : 0, 0), "argmax") }
    }

    public func argmin(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        withHandle { wrap(ct_argmax($0, dim == nil ? 0 : 1, Int64(dim ?? 0), keepDim ? 1 : 0, 1), "argmin") }
    }

    /// Variance with Bessel's correction by default (`correction: 0` for the population variance).
    public func variance(dims: [Int] = [], correction: Int = 1, keepDim: Bool = false) -> Tensor {
        withHandle { h in wrap(withDims(dims) { ct_var(h, $0, $1, Int64(correction), keepDim ? 1 : 0, 0) }, "variance") }
    }

    public func std(dims: [Int] = [], correction: Int = 1, keepDim: Bool = false) -> Tensor {
        withHandle { h in wrap(withDims(dims) { ct_var(h, $0, $1, Int64(correction), keepDim ? 1 : 0, 1) }, "std") }
    }

    /// The vector p-norm over `dims` (all when empty); `p: .infinity` gives the largest magnitude.
    public func norm(_ p: Double = 2, dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        withHandle { h in wrap(withDims(dims) { ct_norm(h, p, $0, $1, keepDim ? 1 : 0) }, "norm") }
    }

    public func softmax(dim: Int) -> Tensor { withHandle { wrap(ct_softmax($0, Int64(dim)), "softmax") } }
    public func logSoftmax(dim: Int) -> Tensor { withHandle { wrap(ct_log_softmax($0, Int64(dim)), "logSoftmax") } }
    public func cumsum(dim: Int) -> Tensor { withHandle { wrap(ct_cumsum($0, Int64(dim)), "cumsum") } }

    /// Sorted values along `dim` and their original positions.
    public func sorted(dim: Int = -1, descending: Bool = false, stable: Bool = false) -> (values: Tensor, indices: Tensor) {
        var values: ct_tensor?
        var indices: ct_tensor?
        withHandle { check(ct_sort($0, Int64(dim), descending ? 1 : 0, stable ? 1 : 0, &values, &indices), "sorted") }
        return (Tensor(owning: values!), Tensor(owning: indices!))
    }

    /// The `k` largest (or smallest) values along `dim` with their positions.
    public func topK(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) -> (values: Tensor, indices: Tensor) {
        var values: ct_tensor?
        var indices: ct_tensor?
        withHandle { check(ct_topk($0, Int64(k), Int64(dim), largest ? 1 : 0, sorted ? 1 : 0, &values, &indices), "topK(\(k)) of \(shape)") }
        return (Tensor(owning: values!), Tensor(owning: indices!))
    }
}
