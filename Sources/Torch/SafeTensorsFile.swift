import CTorch
import Foundation

/// One safetensors file mapped into memory, with its header validated (see `SafeTensors.parseHeader`).
///
/// Tensors taken from it view the mapped bytes instead of copying them whenever their dtype, device and alignment
/// allow, so loading a checkpoint costs about one copy of the weights: the file's pages, read in by the kernel as the
/// tensors are used. The mapping is copy-on-write: writing into such a tensor (an optimizer step on adopted weights)
/// copies only the pages written and never changes the file. It stays mapped for as long as this object or any tensor
/// viewing it lives. As with every memory-mapped file, truncating the file while it is mapped makes later reads of the
/// lost pages crash the process; replacing it by renaming a new file over it (what `SafeTensors.write` does) is safe.
public final class SafeTensorsFile {
    /// How a tensor's values reached the memory it now uses.
    public enum LoadMethod: String, Sendable, Equatable {
        /// The tensor views the mapped file: nothing was copied.
        case adopted
        /// Copied once unchanged: to another device, or off the mapping because its offset is not a multiple of the
        /// element size.
        case copied
        /// Converted to another dtype in one pass from the mapped bytes (two passes for a misaligned tensor: a copy,
        /// then the conversion).
        case converted
    }

    public let url: URL
    /// Each tensor's dtype, shape and byte range, as the header gives them.
    public let tensors: [String: SafeTensorInfo]
    /// The header's `__metadata__` (empty when it has none).
    public let metadata: [String: String]

    private let mapping: ct_mapping
    private let base: UnsafeRawPointer?
    private let size: Int
    private let dataStart: Int
    /// Names whose bytes some tensor views: their pages must never be discarded.
    private var viewed = Set<String>()

    /// Maps the file and validates its header, throwing `SafeTensorsError` (naming the file and the tensor at fault)
    /// when it cannot be read or the header does not describe its bytes exactly.
    public init(_ url: URL) throws {
        guard let mapping = url.path.withCString({ ct_mapping_open($0) }) else {
            var reason = lastTorchError
            if reason.hasPrefix(url.path + ": ") { reason.removeFirst(url.path.count + 2) }
            throw SafeTensorsError(file: url.path, reason: reason)
        }
        let base = ct_mapping_data(mapping)
        let size = Int(ct_mapping_size(mapping))
        let parsed: SafeTensors.ParsedHeader
        do {
            parsed = try SafeTensors.parseHeader(UnsafeRawBufferPointer(start: base, count: size), file: url.path)
        } catch {
            ct_mapping_release(mapping)
            throw error
        }
        self.url = url
        self.mapping = mapping
        self.base = base
        self.size = size
        self.dataStart = parsed.dataStart
        self.tensors = parsed.tensors
        self.metadata = parsed.metadata
    }

    deinit { ct_mapping_release(mapping) }

    /// The tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor `name` as stored (CPU, the file's dtype): a view of the mapped bytes, or one copy when they are
    /// misaligned for the dtype.
    public func tensor(_ name: String) throws -> Tensor {
        let info = try self.info(name)
        return isAligned(info) ? view(name, info) : copy(name, info)
    }

    /// The tensor `name` as `dtype` on `device` with at most one pass over its bytes: a view of the mapping when the
    /// file already holds `dtype` and `device` is the CPU; otherwise one conversion (or copy) straight from the mapped
    /// bytes, after which the kernel may drop the pages it read.
    public func load(_ name: String, as dtype: DType, on device: Device = .cpu) throws -> (tensor: Tensor, method: LoadMethod) {
        let info = try self.info(name)
        let (type, index) = device.code
        guard isAligned(info) else {
            let copied = copy(name, info)
            if info.dtype == dtype && device == .cpu { return (copied, .copied) }
            let moved = copied.withHandle { wrapCreated(ct_to_dtype_device($0, dtype.rawValue, type, index), on: device, "loading '\(name)'") }
            return (moved, info.dtype == dtype ? .copied : .converted)
        }
        if info.dtype == dtype && device == .cpu { return (view(name, info), .adopted) }
        let source = mappedView(info)
        let result = source.withHandle {
            wrapCreated(ct_to_dtype_device($0, dtype.rawValue, type, index), on: device, "loading '\(name)' as \(dtype)")
        }
        if !viewed.contains(name) {
            check(ct_mapping_discard(mapping, UInt64(dataStart + info.dataOffsets.lowerBound), UInt64(info.dataOffsets.count)),
                  "discarding the pages of '\(name)'")
        }
        return (result, info.dtype == dtype ? .copied : .converted)
    }

    /// Whether `tensor`'s first element lies in this file's mapped memory (that is, the tensor was adopted from it).
    public func contains(_ tensor: Tensor) -> Bool {
        guard let base, let address = tensor.withHandle({ ct_data_ptr($0) }) else { return false }
        return address >= base && address < base + size
    }

    /// How many tensor storages hold the mapping, plus one for this object (for lifetime tests).
    var mappingUseCount: Int { Int(ct_mapping_use_count(mapping)) }

    /// A copy of `name`'s bytes that does not keep the mapping alive.
    func copy(_ name: String) -> Tensor { copy(name, tensors[name]!) }

    private func info(_ name: String) throws -> SafeTensorInfo {
        guard let info = tensors[name] else { throw SafeTensorsError(file: url.path, reason: "no tensor named '\(name)'") }
        return info
    }

    private func isAligned(_ info: SafeTensorInfo) -> Bool { (dataStart + info.dataOffsets.lowerBound) % info.dtype.byteSize == 0 }

    private func view(_ name: String, _ info: SafeTensorInfo) -> Tensor {
        viewed.insert(name)
        return mappedView(info)
    }

    private func mappedView(_ info: SafeTensorInfo) -> Tensor {
        let offset = UInt64(dataStart + info.dataOffsets.lowerBound)
        return wrap(withDims(info.shape) { ct_mapping_tensor(mapping, offset, $0, $1, info.dtype.rawValue) }, "viewing \(url.path)")
    }

    private func copy(_ name: String, _ info: SafeTensorInfo) -> Tensor {
        let start = dataStart + info.dataOffsets.lowerBound
        return Tensor(bytes: UnsafeRawBufferPointer(start: base.map { $0 + start }, count: info.dataOffsets.count),
                      shape: info.shape, dtype: info.dtype)
    }
}
