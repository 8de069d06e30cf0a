import CTorch

/// Calls `body` with the handles of `tensors`, keeping every tensor alive for the call.
@inline(__always)
@_spi(CInterop) public func withHandles<R>(_ tensors: [Tensor], _ body: (UnsafePointer<ct_tensor?>, Int64) -> R) -> R {
    withExtendedLifetime(tensors) {
        let handles: [ct_tensor?] = tensors.map { $0.handle }
        return handles.withUnsafeBufferPointer { body($0.baseAddress!, Int64(tensors.count)) }
    }
}

/// Padding modes of `Tensor.pad`.
public enum PaddingMode: Int32, Sendable {
    case constant = 0, reflect = 1, replicate = 2, circular = 3
}

extension Tensor {
    /// The same elements in a new shape (one size may be -1); copies only when it must.
    public func reshaped(_ shape: [Int]) -> Tensor {
        withHandle { h in wrap(withDims(shape) { ct_reshape(h, $0, $1) }, "reshaped(\(shape)) of \(self.shape)") }
    }

    public func reshaped(_ shape: Int...) -> Tensor { reshaped(shape) }

    /// A view with a new shape over the same storage (fails for incompatible strides).
    public func view(_ shape: [Int]) -> Tensor {
        withHandle { h in wrap(withDims(shape) { ct_view(h, $0, $1) }, "view(\(shape)) of \(self.shape)") }
    }

    public func view(_ shape: Int...) -> Tensor { view(shape) }

    public func permuted(_ dims: [Int]) -> Tensor {
        withHandle { h in wrap(withDims(dims) { ct_permute(h, $0, $1) }, "permuted(\(dims)) of \(self.shape)") }
    }

    public func permuted(_ dims: Int...) -> Tensor { permuted(dims) }

    public func transposed(_ dim0: Int, _ dim1: Int) -> Tensor {
        withHandle { wrap(ct_transpose($0, Int64(dim0), Int64(dim1)), "transposed(\(dim0), \(dim1)) of \(shape)") }
    }

    /// The matrix transpose of a 2-D tensor.
    public var T: Tensor { transposed(0, 1) }

    /// Removes every dimension of size 1 (or only `dim`).
    public func squeezed(_ dim: Int? = nil) -> Tensor {
        withHandle { h in
            if let dim { return wrap(ct_squeeze_dim(h, Int64(dim)), "squeezed(\(dim))") }
            return wrap(ct_squeeze(h), "squeezed()")
        }
    }

    public func unsqueezed(_ dim: Int) -> Tensor {
        withHandle { wrap(ct_unsqueeze($0, Int64(dim)), "unsqueezed(\(dim)) of \(shape)") }
    }

    public func flattened(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        withHandle { wrap(ct_flatten($0, Int64(startDim), Int64(endDim)), "flattened") }
    }

    /// A broadcast view to `shape` (-1 keeps a size).
    public func expanded(_ shape: [Int]) -> Tensor {
        withHandle { h in wrap(withDims(shape) { ct_expand(h, $0, $1) }, "expanded(\(shape)) of \(self.shape)") }
    }

    /// Tiles the tensor `counts[i]` times along each dimension (PyTorch's `repeat`).
    public func repeated(_ counts: [Int]) -> Tensor {
        withHandle { h in wrap(withDims(counts) { ct_repeat(h, $0, $1) }, "repeated(\(counts)) of \(shape)") }
    }

    /// Concatenates along an existing dimension.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        withHandles(tensors) { wrap(ct_cat($0, $1, Int64(dim)), "cat(dim: \(dim)) of \(tensors.map(\.shape))") }
    }

    /// Stacks along a new dimension.
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        withHandles(tensors) { wrap(ct_stack($0, $1, Int64(dim)), "stack(dim: \(dim)) of \(tensors.map(\.shape))") }
    }

    /// Pieces of the given sizes along `dim`.
    public func split(sizes: [Int], dim: Int = 0) -> [Tensor] {
        var out = [ct_tensor?](repeating: nil, count: sizes.count)
        withHandle { h in
            withDims(sizes) { d, n in check(ct_split_with_sizes(h, d, n, Int64(dim), &out), "split(sizes: \(sizes)) of \(shape)") }
        }
        return out.map { Tensor(owning: $0!) }
    }

    /// Pieces of `size` along `dim` (the last one smaller when the size does not divide).
    public func split(size: Int, dim: Int = 0) -> [Tensor] {
        precondition(size > 0, "split(size:) needs a positive size, got \(size)")
        let total = self.size(dim)
        var sizes = [Int](repeating: size, count: total / size)
        if total % size != 0 { sizes.append(total % size) }
        return split(sizes: sizes, dim: dim)
    }

    /// `chunks` nearly equal pieces along `dim`, as PyTorch's `chunk` (may return fewer).
    public func chunked(_ chunks: Int, dim: Int = 0) -> [Tensor] {
        precondition(chunks > 0, "chunked needs a positive count, got \(chunks)")
        let total = size(dim)
        let piece = Swift.max(1, (total + chunks - 1) / chunks)
        return split(size: piece, dim: dim)
    }

    /// `length` elements from `start` along `dim` (a view).
    public func narrow(dim: Int, start: Int, length: Int) -> Tensor {
        withHandle { wrap(ct_narrow($0, Int64(dim), Int64(start), Int64(length)), "narrow(dim: \(dim), start: \(start), length: \(length)) of \(shape)") }
    }

    public func indexSelect(dim: Int, index: Tensor) -> Tensor {
        withHandle { h in index.withHandle { wrap(ct_index_select(h, Int64(dim), $0), "indexSelect(dim: \(dim))") } }
    }

    public func gather(dim: Int, index: Tensor) -> Tensor {
        withHandle { h in index.withHandle { wrap(ct_gather(h, Int64(dim), $0), "gather(dim: \(dim))") } }
    }

    /// A copy with `source` values written at `index` along `dim`.
    public func scatter(dim: Int, index: Tensor, source: Tensor) -> Tensor {
        withHandle { h in index.withHandle { i in source.withHandle { wrap(ct_scatter(h, Int64(dim), i, $0), "scatter(dim: \(dim))") } } }
    }

    /// A copy with `source` values added at `index` along `dim`.
    public func scatterAdd(dim: Int, index: Tensor, source: Tensor) -> Tensor {
        withHandle { h in index.withHandle { i in source.withHandle { wrap(ct_scatter_add(h, Int64(dim), i, $0), "scatterAdd(dim: \(dim))") } } }
    }

    /// A copy with `value` where `mask` is true.
    public func maskedFill<T: TensorScalar>(_ mask: Tensor, _ value: T) -> Tensor {
        withHandle { h in mask.withHandle { wrap(ct_masked_fill(h, $0, value.ctScalar), "maskedFill") } }
    }

    /// The elements where `mask` is true, as a 1-D tensor.
    public func maskedSelect(_ mask: Tensor) -> Tensor {
        withHandle { h in mask.withHandle { wrap(ct_masked_select(h, $0), "maskedSelect") } }
    }

    /// Elements of `a` where `condition` is true, of `b` elsewhere (broadcasting).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        condition.withHandle { c in a.withHandle { x in b.withHandle { wrap(ct_where(c, x, $0), "where") } } }
    }

    public func tril(_ diagonal: Int = 0) -> Tensor { withHandle { wrap(ct_tril($0, Int64(diagonal)), "tril") } }
    public func triu(_ diagonal: Int = 0) -> Tensor { withHandle { wrap(ct_triu($0, Int64(diagonal)), "triu") } }

    /// Pads the last dimensions; `padding` lists (before, after) pairs starting from the last dimension, as
    /// `torch.nn.functional.pad`.
    public func pad(_ padding: [Int], mode: PaddingMode = .constant, value: Double = 0) -> Tensor {
        withHandle { h in wrap(withDims(padding) { ct_pad(h, $0, $1, mode.rawValue, value) }, "pad(\(padding)) of \(shape)") }
    }
}
