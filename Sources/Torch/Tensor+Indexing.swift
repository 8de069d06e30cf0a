import CTorch

/// One entry of a tensor subscript: write `.all`, `.ellipsis`, `.newAxis`, `.slice(start:end:step:)`, an `Int`, a
/// Swift range or a `Tensor` (boolean mask or integer indices) inside `tensor[…]`.
public struct TensorIndex {
    enum Kind {
        case index(Int)
        case slice(start: Int?, end: Int?, step: Int)
        case ellipsis
        case newAxis
        case tensor(Tensor)
    }

    let kind: Kind
}

/// Values usable inside `tensor[...]`: integers, Swift ranges, `TensorIndex` and tensors.
public protocol TensorIndexConvertible {
    var tensorIndex: TensorIndex { get }
}

extension TensorIndex: TensorIndexConvertible { public var tensorIndex: TensorIndex { self } }
extension Int: TensorIndexConvertible { public var tensorIndex: TensorIndex { .index(self) } }
extension Range: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound) }
}
extension ClosedRange: TensorIndexConvertible where Bound == Int {
    /// `a...b` includes `b`; `a...(-1)` runs to the end.
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound == -1 ? nil : upperBound + 1) }
}
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound) }
}
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(end: upperBound) }
}
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int {
    public var tensorIndex: TensorIndex { .slice(end: upperBound == -1 ? nil : upperBound + 1) }
}
extension Tensor: TensorIndexConvertible { public var tensorIndex: TensorIndex { .tensor(self) } }

extension Tensor {
    /// NumPy-style subscripts: `t[0]`, `t[1..<3, .all]`, `t[.ellipsis, -1]`, `t[.slice(step: 2)]`, `t[mask]`.
    /// Setting writes into the tensor in place (broadcasting the new value).
    public subscript(_ indices: TensorIndexConvertible...) -> Tensor {
        get { index(indices.map(\.tensorIndex)) }
        set { assign(indices.map(\.tensorIndex), newValue) }
    }

    /// The elements selected by `indices`.
    public func index(_ indices: [TensorIndex]) -> Tensor {
        withIndexItems(indices) { items, n in withHandle { wrap(ct_index($0, items, n), "subscript \(indices)") } }
    }

    /// Writes `value` into the elements selected by `indices`.
    public func assign(_ indices: [TensorIndex], _ value: Tensor) {
        withIndexItems(indices) { items, n in
            withHandle { h in value.withHandle { check(ct_index_put(h, items, n, $0), "subscript assignment \(indices)") } }
        }
    }
}

private func withIndexItems<R>(_ indices: [TensorIndex], _ body: (UnsafePointer<ct_index_item>, Int64) -> R) -> R {
    var tensors: [Tensor] = []
    let items: [ct_index_item] = indices.map { index in
        switch index.kind {
        case .index(let i):
            return ct_index_item(kind: 0, has_a: 1, has_b: 0, a: Int64(i), b: 0, c: 1, tensor: nil)
        case .slice(let start, let end, let step):
            precondition(step > 0, "slice step must be positive (libtorch has no negative steps), got \(step)")
            return ct_index_item(kind: 1, has_a: start == nil ? 0 : 1, has_b: end == nil ? 0 : 1,
                                 a: Int64(start ?? 0), b: Int64(end ?? 0), c: Int64(step), tensor: nil)
        case .ellipsis:
            return ct_index_item(kind: 2, has_a: 0, has_b: 0, a: 0, b: 0, c: 1, tensor: nil)
        case .newAxis:
            return ct_index_item(kind: 3, has_a: 0, has_b: 0, a: 0, b: 0, c: 1, tensor: nil)
        case .tensor(let t):
            tensors.append(t)
            return ct_index_item(kind: 4, has_a: 0, has_b: 0, a: 0, b: 0, c: 1, tensor: t.handle)
        }
    }
    return withExtendedLifetime(tensors) {
        items.withUnsafeBufferPointer { body($0.baseAddress!, Int64(items.count)) }
    }
}

// The spellings of `TensorIndex`, usable directly inside `tensor[…]`.
extension TensorIndexConvertible where Self == TensorIndex {
    /// Every position of one dimension (`:` in Python).
    public static var all: TensorIndex { TensorIndex(kind: .slice(start: nil, end: nil, step: 1)) }
    /// As many full dimensions as needed (`...` in Python).
    public static var ellipsis: TensorIndex { TensorIndex(kind: .ellipsis) }
    /// Inserts a dimension of size 1 (`None` in Python).
    public static var newAxis: TensorIndex { TensorIndex(kind: .newAxis) }
    /// Positions `start..<end` by `step`; nil bounds mean the ends of the dimension; negatives count from the end.
    public static func slice(start: Int? = nil, end: Int? = nil, step: Int = 1) -> TensorIndex {
        TensorIndex(kind: .slice(start: start, end: end, step: step))
    }
    /// A single position (negative counts from the end); removes the dimension.
    public static func index(_ i: Int) -> TensorIndex { TensorIndex(kind: .index(i)) }
    /// A boolean mask or integer index tensor (advanced indexing).
    public static func tensor(_ t: Tensor) -> TensorIndex { TensorIndex(kind: .tensor(t)) }
}
