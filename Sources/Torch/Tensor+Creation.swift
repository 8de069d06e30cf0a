import CTorch

@inline(__always)
func withDims<R>(_ dims: [Int], _ body: (UnsafePointer<Int64>?, Int64) -> R) -> R {
    dims.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: Int64.self) { body($0.baseAddress, Int64(dims.count)) }
    }
}

/// Leaves in libtorch's error slot why `device` is unusable (CUDA without libtorch_cuda), when it is, so that a
/// failed creation there reports that instead of the operator's failed dispatch.
func explainDevice(_ device: Device) {
    guard device != .cpu else { return }
    let (type, index) = device.code
    _ = ct_device_check(type, index)
}

/// Wraps a handle created on `device`. A NULL handle is a failure, handled as `wrap` handles one (recorded inside
/// `catchingTorchErrors`, else the program stops with libtorch's message).
@inline(__always)
func wrapCreated(_ handle: ct_tensor?, on device: Device, _ operation: @autoclosure () -> String) -> Tensor {
    if let handle { return Tensor(owning: handle) }
    explainDevice(device)
    return failedHandle("\(operation()) on \(device)")
}

/// Moves a freshly made CPU handle to `device`, releasing the CPU copy (the handle itself when `device` is the CPU).
/// A failed move is handled as `wrapCreated` handles one, with an empty placeholder handle inside
/// `catchingTorchErrors`.
func moving(_ handle: ct_tensor, to device: Device, _ operation: @autoclosure () -> String) -> ct_tensor {
    if device == .cpu { return handle }
    let (type, index) = device.code
    let moved = ct_to_device(handle, type, index)
    ct_free(handle)
    if let moved { return moved }
    explainDevice(device)
    if recordTorchFailure("\(operation()) on \(device)") {
        var size: Int64 = 0
        return ct_empty(&size, 1, DType.float32.rawValue, 0, 0)!
    }
    torchFailure("\(operation()) on \(device)")
}

extension Tensor {
    /// A tensor holding `values` in row-major order with the given shape (a 1-D tensor when `shape` is nil), on
    /// `device` (copied there from the array).
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil, device: Device = .cpu) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values do not fill shape \(shape)")
        let handle = values.withUnsafeBytes { bytes in
            withDims(shape) { ct_from_data(bytes.baseAddress, $0, $1, T.dtype.rawValue) }
        }
        guard let handle else { torchFailure("Tensor(_:shape:)") }
        self.init(owning: moving(handle, to: device, "Tensor(_:shape:)"))
    }

    /// A 2-D tensor from rows of equal length.
    public convenience init<T: TensorScalar>(_ rows: [[T]], device: Device = .cpu) {
        let width = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == width }, "Tensor: rows have different lengths")
        self.init(rows.flatMap { $0 }, shape: [rows.count, width], device: device)
    }

    /// A 3-D tensor from equally shaped matrices.
    public convenience init<T: TensorScalar>(_ planes: [[[T]]], device: Device = .cpu) {
        let rows = planes.first?.count ?? 0
        let width = planes.first?.first?.count ?? 0
        precondition(planes.allSatisfy { $0.count == rows && $0.allSatisfy { $0.count == width } },
                     "Tensor: nested arrays are ragged")
        self.init(planes.flatMap { $0.flatMap { $0 } }, shape: [planes.count, rows, width], device: device)
    }

    /// A 0-dimensional tensor holding one value (of `T`'s dtype unless `dtype` is given).
    public convenience init<T: TensorScalar>(_ value: T, dtype: DType? = nil, device: Device = .cpu) {
        guard let handle = ct_scalar_tensor(value.ctScalar, (dtype ?? T.dtype).rawValue) else {
            torchFailure("Tensor(scalar)")
        }
        self.init(owning: moving(handle, to: device, "Tensor(scalar)"))
    }

    /// A tensor of raw little-endian bytes interpreted as `dtype`, copied once (to `device` when it is not the CPU).
    public convenience init(bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType, device: Device = .cpu) {
        let needed = shape.reduce(1, *) * dtype.byteSize
        precondition(bytes.count == needed, "Tensor(bytes:): \(bytes.count) bytes for \(needed) needed")
        guard let handle = withDims(shape, { ct_from_data(bytes.baseAddress, $0, $1, dtype.rawValue) }) else {
            torchFailure("Tensor(bytes:shape:dtype:)")
        }
        self.init(owning: moving(handle, to: device, "Tensor(bytes:shape:dtype:)"))
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        full(shape, value: 0, dtype: dtype, device: device)
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        full(shape, value: 1, dtype: dtype, device: device)
    }

    /// Uninitialised memory of the given shape (whatever bytes the allocator hands out).
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrapCreated(withDims(shape) { ct_empty($0, $1, dtype.rawValue, type, index) }, on: device,
                           "empty(\(shape))")
    }

    public static func full<T: TensorScalar>(_ shape: [Int], value: T, dtype: DType = .float32,
                                             device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrapCreated(withDims(shape) { ct_full($0, $1, value.ctScalar, dtype.rawValue, type, index) },
                           on: device, "full(\(shape))")
    }

    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape, dtype: other.dtype, device: other.device) }
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape, dtype: other.dtype, device: other.device) }

    /// Values from `start` up to (not including) `end` by `step`, as PyTorch's `arange`.
    public static func arange<T: TensorScalar>(_ start: T, _ end: T, step: T, dtype: DType? = nil,
                                               device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrapCreated(ct_arange_on(start.ctScalar, end.ctScalar, step.ctScalar, (dtype ?? T.dtype).rawValue,
                                        type, index), on: device, "arange")
    }

    public static func arange(_ end: Int, dtype: DType = .int64, device: Device = .cpu) -> Tensor {
        arange(0, end, step: 1, dtype: dtype, device: device)
    }

    /// `steps` evenly spaced values from `start` to `end`, both included.
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32,
                                device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrapCreated(ct_linspace_on(start, end, Int64(steps), dtype.rawValue, type, index), on: device, "linspace")
    }

    /// The identity matrix (n × m, m defaulting to n).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (type, index) = device.code
        return wrapCreated(ct_eye_on(Int64(n), Int64(m ?? n), dtype.rawValue, type, index), on: device, "eye")
    }

    // MARK: Random

    // The random functions draw on `device`, which defaults to the generator's device (the CPU without one), so a
    // generator and the tensors it fills never disagree.

    /// Uniform samples in [0, 1).
    public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device? = nil,
                            generator: Generator? = nil) -> Tensor {
        let device = device ?? generator?.device ?? .cpu
        let (type, index) = device.code
        return withGenerator(generator) { g in
            wrapCreated(withDims(shape) { ct_rand_on($0, $1, dtype.rawValue, type, index, g) }, on: device, "rand")
        }
    }

    /// Standard normal samples.
    public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device? = nil,
                             generator: Generator? = nil) -> Tensor {
        let device = device ?? generator?.device ?? .cpu
        let (type, index) = device.code
        return withGenerator(generator) { g in
            wrapCreated(withDims(shape) { ct_randn_on($0, $1, dtype.rawValue, type, index, g) }, on: device, "randn")
        }
    }

    /// Integers uniform in `low..<high`.
    public static func randint(_ low: Int, _ high: Int, shape: [Int], dtype: DType = .int64, device: Device? = nil,
                               generator: Generator? = nil) -> Tensor {
        let device = device ?? generator?.device ?? .cpu
        let (type, index) = device.code
        return withGenerator(generator) { g in
            wrapCreated(withDims(shape) { ct_randint_on(Int64(low), Int64(high), $0, $1, dtype.rawValue, type, index, g) },
                        on: device, "randint")
        }
    }

    /// A random permutation of `0..<n` (int64).
    public static func randperm(_ n: Int, device: Device? = nil, generator: Generator? = nil) -> Tensor {
        let device = device ?? generator?.device ?? .cpu
        let (type, index) = device.code
        return withGenerator(generator) { g in wrapCreated(ct_randperm_on(Int64(n), type, index, g), on: device, "randperm") }
    }
}
