import Foundation
import LanguageModels
import NeuralNetworks
import Torch

/// Reference log-probabilities computed once and kept on disk, keyed by the reference model's files and the
/// tokenised data, so a second run on the same model and data skips the reference pass (TRL's
/// `precompute_ref_log_probs`, persisted across runs).
public struct ReferenceCache {
    /// The cache directory: `$PROXIMA_CACHE_DIR/reference-logps`, or `~/.cache/proxima/reference-logps`.
    public let directory: URL

    public init(directory: URL? = nil) {
        if let directory { self.directory = directory; return }
        let environment = ProcessInfo.processInfo.environment
        let base = environment["PROXIMA_CACHE_DIR"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/proxima")
        self.directory = base.appendingPathComponent("reference-logps")
    }

    /// The key of a reference model (its configuration and weight files, byte for byte, plus whether adapters are
    /// disabled) and a data set's token sequences.
    public static func key(modelDirectory: URL, data: PreferenceDataset) throws -> String {
        var hash = FNV1a()
        let files = try FileManager.default.contentsOfDirectory(at: modelDirectory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "safetensors" || $0.lastPathComponent == "config.json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        for file in files {
            hash.add(Array(file.lastPathComponent.utf8))
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { chunk.withUnsafeBytes { hash.add($0) } }
        }
        hash.add(Array("data:\(data.format.rawValue)".utf8))
        func add(_ sequence: PreferenceSequence) {
            hash.add(integers: [sequence.prompt.count, sequence.completion.count] + sequence.prompt + sequence.completion)
        }
        for pair in data.pairs { add(pair.chosen); add(pair.rejected) }
        for list in data.lists { hash.add(integers: [list.responses.count]); list.responses.forEach(add) }
        for response in data.unpaired { add(response.sequence) }
        return String(hash.value, radix: 16)
    }

    func url(_ key: String) -> URL { directory.appendingPathComponent("\(key).safetensors") }

    /// The cached table for `key`, or nil (also for an unreadable file, which is then recomputed).
    public func load(_ key: String) -> ReferenceLogProbabilities? {
        guard let tensors = try? SafeTensors.load(url(key)), let flat = tensors["values"], let counts = tensors["counts"] else { return nil }
        let values = flat.scalars(as: Double.self), sizes = counts.scalars(as: Int64.self)
        guard sizes.reduce(0, +) == Int64(values.count) else { return nil }
        var table: [[Double]] = [], offset = 0
        for size in sizes {
            table.append(Array(values[offset..<(offset + Int(size))]))
            offset += Int(size)
        }
        return ReferenceLogProbabilities(values: table)
    }

    /// Stores a table under `key` in float64, exactly (written to a temporary file and renamed).
    public func store(_ table: ReferenceLogProbabilities, key: String) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try SafeTensors.write(["values": Tensor(table.values.flatMap { $0 }), "counts": Tensor(table.values.map { Int64($0.count) })], to: url(key))
    }
}

/// 64-bit FNV-1a: a fast, stable content hash for cache keys (not for security).
struct FNV1a {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        value = h
    }

    mutating func add(_ bytes: [UInt8]) { bytes.withUnsafeBytes { add($0) } }

    mutating func add(integers: [Int]) { integers.withUnsafeBytes { add($0) } }
}
