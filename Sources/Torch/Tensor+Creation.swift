import CTorch

@inline(__always)
func withDims<R>(_ dims: [Int], _ body: (UnsafePointer<Int64>?, Int64) -> R) -> R {
    dims.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: Int64.self) { body($0.baseAddress, Int64(dims.count)) }
    }
}

extension Tensor {
    /// A tensor holding `values` in row-major order with the given shape (a 1-D tensor when `shape` is nil).
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values do not fill shape \(shape)")
        let handle = values.withUnsafeBytes { bytes in
            withDims(shape) { ct_from_data(bytes.baseAddress, $0, $1, T.dtype.rawValue) }
        }
        guard let handle else { torchFailure("Tensor(_:shape:)") }
        self.init(owning: handle)
    }

    /// A 2-D tensor from rows of equal length.
    public convenience init<T: TensorScalar>(_ rows: [[T]]) {
        let width = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == width }, "Tensor: rows have different lengths")
        self.init(rows.flatMap { $0 }, shape: [rows.count, width])
    }

    /// A 3-D tensor from equally shaped matrices.
    public convenience init<T: TensorScalar>(_ planes: [[[T]]]) {
        let rows = planes.first?.count ?? 0
        let width = planes.first?.first?.count ?? 0
        precondition(planes.allSatisfy { $0.count == rows && $0.allSatisfy { $0.count == width } },
                     "Tensor: nested arrays are ragged")
        self.init(planes.flatMap { $0.flatMap { $0 } }, shape: [planes.count, rows, width])
    }

    /// A 0-dimensional tensor holding one value (of `T`'s dtype unless `dtype` is given).
    public convenience init<T: TensorScalar>(_ value: T, dtype: DType? = nil) {
        guard let handle = ct_scalar_tensor(value.ctScalar, (dtype ?? T.dtype).rawValue) else {
            torchFailure("Tensor(scalar)")
        }
        self.init(owning: handle)
    }

    /// A tensor of raw little-endian bytes interpreted as `dtype` (used by safetensors).
    public convenience init(bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) {
        let needed = shape.reduce(1, *) * dtype.byteSize
        precondition(bytes.count == needed, "Tensor(bytes:): \(bytes.count) bytes for \(needed) needed")
        guard let handle = withDims(shape, { ct_from_data(bytes.baseAddress, $0, $1, dtype.rawValue) }) else {
            torchFailure("Tensor(bytes:shape:dtype:)")
        }
        self.init(owning: handle)
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        full(shape, value: 0, dtype: dtype, device: device)
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        full(shape, value: 1, dtype: dtype, device: device)
    }

    /// Uninitialised memory of the given shape.
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrap(withDims(shape) { ct_empty($0, $1, dtype.rawValue, type, index) }, "empty(\(shape))")
    }

    public static func full<T: TensorScalar>(_ shape: [Int], value: T, dtype: DType = .float32,
                                             device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrap(withDims(shape) { ct_full($0, $1, value.ctScalar, dtype.rawValue, type, index) },
                    "full(\(shape))")
    }

    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape, dtype: other.dtype, device: other.device) }
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape, dtype: other.dtype, device: other.device) }

    /// Values from `start` up to (not including) `end` by `step`, as PyTorch's `arange`.
    public static func arange<T: TensorScalar>(_ start: T, _ end: T, step: T, dtype: DType? = nil) -> Tensor {
        wrap(ct_arange(start.ctScalar, end.ctScalar, step.ctScalar, (dtype ?? T.dtype).rawValue), "arange")
    }

    public static func arange(_ end: Int, dtype: DType = .int64) -> Tensor { arange(0, end, step: 1, dtype: dtype) }

    /// `steps` evenly spaced values from `start` to `end`, both included.
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32) -> Tensor {
        wrap(ct_linspace(start, end, Int64(steps), dtype.rawValue), "linspace")
    }

    /// The identity matrix (n × m, m defaulting to n).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        wrap(ct_eye(Int64(n), Int64(m ?? n), dtype.rawValue), "eye")
    }
}
