import CTorch

/// Element type of a tensor. The raw values are the C layer's codes.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 0, float64 = 1, bfloat16 = 2, float16 = 3
    case int64 = 4, int32 = 5, int16 = 6, int8 = 7, uint8 = 8, bool = 9

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .bfloat16, .float16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { [.float32, .float64, .bfloat16, .float16].contains(self) }

    /// The name PyTorch prints (`torch.float32`).
    public var description: String {
        switch self {
        case .float32: return "torch.float32"
        case .float64: return "torch.float64"
        case .bfloat16: return "torch.bfloat16"
        case .float16: return "torch.float16"
        case .int64: return "torch.int64"
        case .int32: return "torch.int32"
        case .int16: return "torch.int16"
        case .int8: return "torch.int8"
        case .uint8: return "torch.uint8"
        case .bool: return "torch.bool"
        }
    }
}

/// Where a tensor's memory lives. Every function that allocates takes one (`device:`, CPU by default).
///
/// Proxima links libtorch's CPU libraries; with them, a CUDA device is unusable and any allocation on it fails with
/// libtorch's own explanation. Call `checkAvailable()` first where the device comes from outside the program (a flag,
/// a configuration file): it throws that explanation instead. docs/gpu.md says how to link the CUDA libraries.
public enum Device: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    case cpu
    /// A CUDA device by index (PyTorch's `cuda:0`).
    case cuda(Int)

    /// Whether the linked libtorch was built with CUDA and sees a GPU.
    public static var cudaIsAvailable: Bool { ct_cuda_is_available() != 0 }

    /// The number of CUDA devices libtorch sees (0 without CUDA support).
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }

    /// Throws `TorchError` with libtorch's message when tensors cannot be created on this device.
    public func checkAvailable() throws {
        let (type, index) = code
        if ct_device_check(type, index) != 0 { throw TorchError("device \(self) is not available: \(lastTorchError)") }
    }

    var code: (Int32, Int32) {
        switch self {
        case .cpu: return (0, -1)
        case .cuda(let index): return (1, Int32(index))
        }
    }

    /// PyTorch's spelling: `cpu`, `cuda:1`.
    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let index): return "cuda:\(index)"
        }
    }

    /// Parses PyTorch's spelling: `cpu`, `cuda` (device 0) or `cuda:N`.
    public init?(_ description: String) {
        if description == "cpu" { self = .cpu; return }
        if description == "cuda" { self = .cuda(0); return }
        guard description.hasPrefix("cuda:"), let index = Int(description.dropFirst(5)), index >= 0 else { return nil }
        self = .cuda(index)
    }
}

/// A Swift number that can fill or be read from a tensor.
public protocol TensorScalar: Sendable {
    /// The dtype a tensor of these values has.
    static var dtype: DType { get }
    var ctScalar: ct_scalar { get }
    init(fromCT scalar: ct_scalar)
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 0, f: Double(self), i: 0) }
    public init(fromCT s: ct_scalar) { self = Float(s.f) }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 0, f: self, i: 0) }
    public init(fromCT s: ct_scalar) { self = s.f }
}

extension Int: TensorScalar {
    public static var dtype: DType { .int64 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 1, f: 0, i: Int64(self)) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? Int(s.f) : Int(s.i) }
}

extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 1, f: 0, i: self) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? Int64(s.f) : s.i }
}

extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 1, f: 0, i: Int64(self)) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? Int32(s.f) : Int32(truncatingIfNeeded: s.i) }
}

extension Int16: TensorScalar {
    public static var dtype: DType { .int16 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 1, f: 0, i: Int64(self)) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? Int16(s.f) : Int16(truncatingIfNeeded: s.i) }
}

extension Int8: TensorScalar {
    public static var dtype: DType { .int8 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 1, f: 0, i: Int64(self)) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? Int8(s.f) : Int8(truncatingIfNeeded: s.i) }
}

extension UInt8: TensorScalar {
    public static var dtype: DType { .uint8 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 1, f: 0, i: Int64(self)) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? UInt8(s.f) : UInt8(truncatingIfNeeded: s.i) }
}

extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public var ctScalar: ct_scalar { ct_scalar(kind: 2, f: self ? 1 : 0, i: self ? 1 : 0) }
    public init(fromCT s: ct_scalar) { self = s.kind == 0 ? s.f != 0 : s.i != 0 }
}

extension Float16: TensorScalar {
    public static var dtype: DType { .float16 }
    public var ctScalar: ct_scalar { ct_scalar(kind: 0, f: Double(self), i: 0) }
    public init(fromCT s: ct_scalar) { self = Float16(s.f) }
}
