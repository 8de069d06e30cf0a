import CTorch
import Foundation

/// A problem with a safetensors file: the message names the file and what is wrong with it.
public struct SafeTensorsError: ProximaError, Equatable {
    public let file: String
    public let reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
}

/// What the header says about one tensor.
public struct SafeTensorInfo: Equatable, Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Byte range inside the data section (after the header).
    public var dataOffsets: Range<Int>
}

/// Reading and writing the safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to dtype, shape and byte range (plus an optional string-to-string `__metadata__`), then the raw
/// little-endian data. Sharded checkpoints add `model.safetensors.index.json`, mapping names to shard files.
public enum SafeTensors {
    /// The format's dtype names.
    public static func formatName(of dtype: DType) -> String {
        switch dtype {
        case .float64: return "F64"
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int64: return "I64"
        case .int32: return "I32"
        case .int16: return "I16"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    static let dtypesByName: [String: DType] = Dictionary(uniqueKeysWithValues: DType.allCases.map { (formatName(of: $0), $0) })

    /// Headers larger than this are refused as corrupt rather than parsed.
    static let maximumHeaderBytes = 100 << 20

    // MARK: Reading

    /// The tensors' descriptions and the metadata, without reading tensor data.
    public static func header(of url: URL) throws -> (tensors: [String: SafeTensorInfo], metadata: [String: String]) {
        let file = try SafeTensorsFile(url)
        return (file.tensors, file.metadata)
    }

    /// Every tensor of one file, keyed by name, and the file's metadata. The file is memory-mapped and each tensor
    /// is copied once into libtorch's memory (the tensors do not keep the file mapped; `SafeTensorsFile` gives
    /// tensors that use the mapped bytes themselves).
    public static func read(_ url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try SafeTensorsFile(url)
        var tensors: [String: Tensor] = [:]
        for name in file.tensors.keys { tensors[name] = file.copy(name) }
        return (tensors, file.metadata)
    }

    /// Loads a checkpoint directory or file: `model.safetensors`, or every shard listed by
    /// `model.safetensors.index.json` (checking that each listed tensor is in its shard).
    public static func load(_ url: URL) throws -> [String: Tensor] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw SafeTensorsError(file: url.path, reason: "no such file or directory")
        }
        if !isDirectory.boolValue {
            return url.lastPathComponent.hasSuffix(".index.json") ? try readSharded(index: url) : try read(url).tensors
        }
        let index = url.appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: index.path) { return try readSharded(index: index) }
        return try read(url.appendingPathComponent("model.safetensors")).tensors
    }

    /// The safetensors files a checkpoint consists of: the file itself; the shards an `….index.json` lists (sorted);
    /// or, for a directory, the shards of its `model.safetensors.index.json` when it has one, else its
    /// `model.safetensors`.
    public static func files(of url: URL) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw SafeTensorsError(file: url.path, reason: "no such file or directory")
        }
        var index = url
        if isDirectory.boolValue {
            index = url.appendingPathComponent("model.safetensors.index.json")
            guard FileManager.default.fileExists(atPath: index.path) else { return [url.appendingPathComponent("model.safetensors")] }
        } else if !url.lastPathComponent.hasSuffix(".index.json") {
            return [url]
        }
        let directory = index.deletingLastPathComponent()
        return Set(try readIndex(index).values).sorted().map { directory.appendingPathComponent($0) }
    }

    /// Reads a sharded checkpoint through its index file.
    public static func readSharded(index: URL) throws -> [String: Tensor] {
        let weightMap = try readIndex(index)
        let directory = index.deletingLastPathComponent()
        var tensors: [String: Tensor] = [:]
        for shard in Set(weightMap.values).sorted() {
            let file = directory.appendingPathComponent(shard)
            let contents = try read(file).tensors
            for (name, target) in weightMap where target == shard {
                guard let tensor = contents[name] else {
                    throw SafeTensorsError(file: file.path, reason: "index \(index.lastPathComponent) lists tensor '\(name)' but the shard does not hold it")
                }
                tensors[name] = tensor
            }
        }
        return tensors
    }

    static func readIndex(_ index: URL) throws -> [String: String] {
        let data: Data
        do { data = try Data(contentsOf: index) } catch {
            throw SafeTensorsError(file: index.path, reason: "cannot read: \(error.localizedDescription)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SafeTensorsError(file: index.path, reason: "not a JSON object")
        }
        guard let weightMap = object["weight_map"] as? [String: String] else {
            throw SafeTensorsError(file: index.path, reason: "missing or malformed field 'weight_map' (name → shard file)")
        }
        for shard in Set(weightMap.values) where shard.contains("/") || shard.hasPrefix(".") {
            throw SafeTensorsError(file: index.path, reason: "shard name '\(shard)' must be a plain file name")
        }
        return weightMap
    }

    struct ParsedHeader {
        var tensors: [String: SafeTensorInfo]
        var metadata: [String: String]
        /// Where the data section starts in the file: 8 + the header's length.
        var dataStart: Int
    }

    /// Validates the header against the file's bytes: a well-formed JSON object with each name once; known dtypes;
    /// shapes and offsets that are exact non-negative integers; byte sizes equal to shape × element size (computed
    /// without overflow); and tensors that tile the data section exactly, in order, without overlaps or gaps — the
    /// rules of the reference implementation.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, file: String) throws -> ParsedHeader {
        func fail(_ reason: String) -> SafeTensorsError { SafeTensorsError(file: file, reason: reason) }
        guard bytes.count >= 8 else { throw fail("file is \(bytes.count) bytes, too short for the 8-byte header length") }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(maximumHeaderBytes) else { throw fail("header length \(headerLength) is implausibly large (corrupt file?)") }
        let dataStart = 8 + Int(headerLength)
        guard dataStart <= bytes.count else {
            throw fail("header claims \(headerLength) bytes but the file has only \(bytes.count - 8) after the length (truncated?)")
        }
        let json: HeaderJSON
        do { json = try HeaderJSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])) } catch let error as HeaderJSONError {
            throw fail("header is not valid JSON (byte \(error.offset) of the header: \(error.reason))")
        }
        guard case .object(let entries) = json else { throw fail("header is not a JSON object") }
        let dataSize = bytes.count - dataStart
        var tensors: [String: SafeTensorInfo] = [:]
        var metadata: [String: String]?
        for (name, value) in entries {
            if name == "__metadata__" {
                guard metadata == nil else { throw fail("__metadata__ appears more than once") }
                guard case .object(let members) = value else { throw fail("__metadata__ is not an object") }
                var map: [String: String] = [:]
                for (key, v) in members {
                    guard case .string(let s) = v else { throw fail("__metadata__ value for '\(key)' is not a string") }
                    guard map.updateValue(s, forKey: key) == nil else { throw fail("__metadata__ key '\(key)' appears more than once") }
                }
                metadata = map
                continue
            }
            guard tensors[name] == nil else { throw fail("tensor '\(name)' appears more than once in the header") }
            tensors[name] = try tensorInfo(name, value, dataSize: dataSize, fail)
        }
        let ordered = tensors.sorted { ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key) < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key) }
        var end = 0
        for (name, info) in ordered {
            guard info.dataOffsets.lowerBound >= end else { throw fail("tensor '\(name)' overlaps the tensor before it") }
            guard info.dataOffsets.lowerBound == end else {
                throw fail("tensor '\(name)' starts at byte \(info.dataOffsets.lowerBound) of the data section, leaving a gap after byte \(end)")
            }
            end = info.dataOffsets.upperBound
        }
        guard end == dataSize else {
            throw fail("the data section has \(dataSize) bytes but its tensors end at byte \(end) (trailing bytes no tensor owns)")
        }
        return ParsedHeader(tensors: tensors, metadata: metadata ?? [:], dataStart: dataStart)
    }

    private static func tensorInfo(_ name: String, _ value: HeaderJSON, dataSize: Int,
                                   _ fail: (String) -> SafeTensorsError) throws -> SafeTensorInfo {
        guard case .object(let members) = value else { throw fail("entry '\(name)' is not an object") }
        var fields: [String: HeaderJSON] = [:]
        for (key, v) in members {
            guard fields.updateValue(v, forKey: key) == nil else { throw fail("tensor '\(name)' has field '\(key)' more than once") }
        }
        guard case .string(let dtypeName)? = fields["dtype"] else { throw fail("tensor '\(name)' has no dtype") }
        guard let dtype = dtypesByName[dtypeName] else {
            throw fail("tensor '\(name)' has unsupported dtype '\(dtypeName)' (supported: \(dtypesByName.keys.sorted().joined(separator: ", ")))")
        }
        guard case .array(let shapeValues)? = fields["shape"], let shape = integers(shapeValues) else {
            throw fail("tensor '\(name)' has a malformed shape (expected an array of non-negative integers)")
        }
        guard case .array(let offsetValues)? = fields["data_offsets"], let offsets = integers(offsetValues), offsets.count == 2,
              offsets[0] <= offsets[1] else {
            throw fail("tensor '\(name)' has malformed data_offsets (expected [begin, end] with begin ≤ end)")
        }
        guard offsets[1] <= dataSize else {
            throw fail("tensor '\(name)' ends at byte \(offsets[1]) but the data section has \(dataSize) bytes (truncated?)")
        }
        var expected = dtype.byteSize
        for extent in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw fail("tensor '\(name)' has shape \(shape), whose byte size overflows") }
            expected = product
        }
        guard offsets[1] - offsets[0] == expected else {
            throw fail("tensor '\(name)' spans \(offsets[1] - offsets[0]) bytes but \(dtypeName) \(shape) needs \(expected)")
        }
        return SafeTensorInfo(dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1])
    }

    /// The values when every one is an exact non-negative integer that fits in `Int`.
    private static func integers(_ values: [HeaderJSON]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            guard case .integer(let n) = v, n <= UInt64(Int.max) else { return nil }
            out.append(Int(n))
        }
        return out
    }

    // MARK: Writing

    /// Writes `tensors` (names sorted, data packed in that order) to `url` atomically: a temporary file in the same
    /// directory is written, flushed to disk and renamed over the target, so a crash never leaves a partial file.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.count * t.dtype.byteSize
            header[name] = ["dtype": formatName(of: t.dtype), "shape": t.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        var length = UInt64(headerBytes.count).littleEndian
        var file = Data(bytes: &length, count: 8)
        file.append(headerBytes)
        file.reserveCapacity(file.count + offset)
        for name in names { file.append(tensors[name]!.rawBytes()) }
        try AtomicFile.write(file, to: url)
    }

    /// Writes a sharded checkpoint into `directory`: `model-0000i-of-0000n.safetensors` files of at most
    /// `maxShardBytes` of data each (a larger single tensor gets its own shard) and `model.safetensors.index.json`.
    public static func writeSharded(_ tensors: [String: Tensor], to directory: URL, maxShardBytes: Int,
                                    metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var shards: [[String]] = [[]]
        var shardBytes = 0
        var total = 0
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let size = t.count * t.dtype.byteSize
            if shardBytes + size > maxShardBytes && !shards[shards.count - 1].isEmpty {
                shards.append([])
                shardBytes = 0
            }
            shards[shards.count - 1].append(name)
            shardBytes += size
            total += size
        }
        var weightMap: [String: String] = [:]
        for (i, names) in shards.enumerated() {
            let fileName = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            var part: [String: Tensor] = [:]
            for name in names {
                part[name] = tensors[name]
                weightMap[name] = fileName
            }
            try write(part, metadata: metadata, to: directory.appendingPathComponent(fileName))
        }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        let data = try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys, .prettyPrinted])
        try AtomicFile.write(data, to: directory.appendingPathComponent("model.safetensors.index.json"))
    }
}

extension Tensor {
    /// The elements' bytes in row-major order in this tensor's own dtype (little-endian).
    public func rawBytes() -> Data {
        let n = count * dtype.byteSize
        var data = Data(count: n)
        let type = dtype.rawValue
        data.withUnsafeMutableBytes { buffer in
            withHandle { check(ct_copy_out($0, type, buffer.baseAddress, n), "rawBytes") }
        }
        return data
    }
}

/// Crash-safe file replacement: write a temporary sibling, fsync it, rename it over the target, fsync the directory.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw TorchError("\(url.path): cannot create temporary file: \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { unlink(temporary.path) }
        }
        try data.withUnsafeBytes { raw in
            var written = 0
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    let message = String(cString: strerror(errno))
                    close(fd)
                    throw TorchError("\(url.path): write failed: \(message)")
                }
                written += n
            }
        }
        guard fsync(fd) == 0, close(fd) == 0 else { throw TorchError("\(url.path): cannot flush to disk: \(String(cString: strerror(errno)))") }
        guard rename(temporary.path, url.path) == 0 else {
            throw TorchError("\(url.path): cannot rename into place: \(String(cString: strerror(errno)))")
        }
        ok = true
        let dirFD = open(directory.path, O_RDONLY)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }
}
