import CTorch

/// An n-dimensional array on a device, backed by one libtorch tensor.
///
/// `Tensor` is a reference type that owns its C handle and frees it exactly once in `deinit`. Every operation takes
/// `Tensor` objects and reads their handles inside the call, so a temporary such as `(a + b).exp()` stays alive for
/// as long as libtorch needs it.
public final class Tensor: @unchecked Sendable {
    /// The C handle. Read it only inside a call that also keeps `self` alive (see `withHandle`). Modules that add C
    /// entry points over the same handles (FastKernels) reach it as `@_spi(CInterop) import Torch`.
    @_spi(CInterop) public let handle: ct_tensor

    /// Takes ownership of a handle a C function returned.
    @_spi(CInterop) public init(owning handle: ct_tensor) { self.handle = handle }

    deinit { ct_free(handle) }

    /// Runs `body` with the handle while guaranteeing `self` is alive for the whole call.
    @inline(__always)
    @_spi(CInterop) public func withHandle<R>(_ body: (ct_tensor) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(handle) }
    }

    // MARK: Facts

    /// Sizes of the dimensions.
    public var shape: [Int] {
        withHandle { h in
            let n = Int(ct_dim(h))
            return [Int](unsafeUninitializedCapacity: n) { buffer, count in
                buffer.withMemoryRebound(to: Int64.self) { _ = ct_sizes(h, $0.baseAddress, Int64(n)) }
                count = n
            }
        }
    }

    /// Element strides of the dimensions.
    public var strides: [Int] {
        withHandle { h in
            let n = Int(ct_dim(h))
            return [Int](unsafeUninitializedCapacity: n) { buffer, count in
                buffer.withMemoryRebound(to: Int64.self) { _ = ct_strides(h, $0.baseAddress, Int64(n)) }
                count = n
            }
        }
    }

    /// Size of one dimension (negative counts from the end).
    public func size(_ dim: Int) -> Int {
        let s = shape
        let d = dim < 0 ? dim + s.count : dim
        precondition(d >= 0 && d < s.count, "dimension \(dim) out of range for a tensor of rank \(s.count)")
        return s[d]
    }

    public var rank: Int { withHandle { Int(ct_dim($0)) } }
    public var count: Int { withHandle { Int(ct_numel($0)) } }
    public var dtype: DType { withHandle { DType(rawValue: ct_dtype($0)) ?? .float32 } }
    public var isContiguous: Bool { withHandle { ct_is_contiguous($0) != 0 } }

    public var device: Device {
        withHandle { h in ct_device_type(h) == 1 ? .cuda(Int(ct_device_index(h))) : .cpu }
    }

    // MARK: Conversion

    /// A copy converted to `dtype` (the same tensor when it already has it).
    public func to(dtype: DType) -> Tensor {
        withHandle { wrap(ct_to_dtype($0, dtype.rawValue), "to(dtype: \(dtype))") }
    }

    /// A copy on `device` (the same tensor when it is already there).
    public func to(device: Device) -> Tensor {
        let (type, index) = device.code
        return withHandle { wrap(ct_to_device($0, type, index), "to(device: \(device))") }
    }

    public func contiguous() -> Tensor { withHandle { wrap(ct_contiguous($0), "contiguous") } }
    public func clone() -> Tensor { withHandle { wrap(ct_clone($0), "clone") } }

    /// The same values, cut off from the autograd graph (shares storage).
    public func detach() -> Tensor { withHandle { wrap(ct_detach($0), "detach") } }

    /// The elements in row-major order, converted to `T`.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        let n = count
        return withHandle { h in
            [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                let status = ct_copy_out(h, T.dtype.rawValue, buffer.baseAddress, n * T.dtype.byteSize)
                check(status, "scalars(as: \(T.self))")
                initialized = n
            }
        }
    }

    public var floats: [Float] { scalars() }
    public var doubles: [Double] { scalars() }
    public var ints: [Int] { scalars() }
    public var bools: [Bool] { scalars() }

    /// The only element of a one-element tensor.
    public func item<T: TensorScalar>(_ type: T.Type = T.self) -> T {
        withHandle { h in
            var s = ct_scalar()
            check(ct_item(h, &s), "item")
            return T(fromCT: s)
        }
    }
}
