import Foundation
import Torch

/// What `Module.load(safetensors:)` did, name by name (model names, sorted, except `skipped`).
public struct SafeTensorsLoadReport: Sendable, Equatable {
    /// Tensors that now view the mapped file: no copy was made.
    public var adopted: [String] = []
    /// Tensors copied once unchanged (to another device, or misaligned in the file).
    public var copied: [String] = []
    /// Tensors converted once to the model's dtype.
    public var converted: [String] = []
    /// Model tensors no file provided (left as they were).
    public var missing: [String] = []
    /// Checkpoint tensors whose (mapped) name the model does not have, as `file key` or `file key → name`.
    public var unexpected: [String] = []
    /// Checkpoint keys the mapping dropped (returned nil for).
    public var skipped: [String] = []

    public init() {}
}

extension Module {
    /// Loads a checkpoint — a `.safetensors` file, a `….index.json`, or a directory holding either — into the
    /// module's parameters and buffers; see `load(safetensors:mapping:strict:)` for files.
    @discardableResult
    public func load(safetensors url: URL, mapping: (String) -> String? = { $0 }, strict: Bool = true) throws -> SafeTensorsLoadReport {
        try load(safetensors: SafeTensors.files(of: url).map { try SafeTensorsFile($0) }, mapping: mapping, strict: strict)
    }

    /// Loads safetensors files (a checkpoint's shards) into the module's parameters and buffers by name.
    ///
    /// `mapping` turns each checkpoint key into the model's dotted name, or nil to skip the tensor (rename
    /// `transformer.h.0.attn.c_attn.weight`, drop `rotary_emb.inv_freq`). Every tensor keeps its `Tensor` object, dtype
    /// and device; only its storage changes. A checkpoint tensor with the model tensor's dtype, for a model on the
    /// CPU, is adopted: the model tensor then views the mapped file and nothing is copied. Otherwise it is converted
    /// (or copied to the device) once, straight from the mapped bytes. Loading thus needs about one copy of the
    /// weights: build the model inside `withoutInitialization` so that its own parameters are never filled.
    ///
    /// Everything is checked before anything is assigned. Throws `StateDictError` when shapes differ (always) or,
    /// with `strict`, when model tensors are missing or checkpoint tensors are unexpected; `SafeTensorsError` when two
    /// checkpoint tensors map to the same name. Names under which the model holds one shared tensor (tied weights)
    /// count as provided when any of them is. A conversion that libtorch refuses (out of memory on the device) throws
    /// `TorchError` naming the tensor; the tensors assigned before it keep their new values.
    @discardableResult
    public func load(safetensors files: [SafeTensorsFile], mapping: (String) -> String? = { $0 },
                     strict: Bool = true) throws -> SafeTensorsLoadReport {
        var own: [String: Tensor] = [:]
        for entry in namedTensors() { own[entry.name] = entry.tensor }
        var report = SafeTensorsLoadReport()
        var sources: [String: (file: SafeTensorsFile, key: String)] = [:]
        var mismatched: [String] = []
        for file in files {
            let fileName = file.url.lastPathComponent
            for key in file.names {
                guard let name = mapping(key) else {
                    report.skipped.append(key)
                    continue
                }
                guard let target = own[name] else {
                    report.unexpected.append(name == key ? "\(fileName) \(key)" : "\(fileName) \(key) → \(name)")
                    continue
                }
                if let previous = sources[name] {
                    throw SafeTensorsError(file: file.url.path, reason: "tensor '\(key)' maps to '\(name)', which '\(previous.key)' in \(previous.file.url.lastPathComponent) already provides")
                }
                let shape = file.tensors[key]!.shape
                if shape != target.shape {
                    mismatched.append("\(name) (model \(target.shape), given \(shape) by '\(key)' in \(fileName))")
                }
                sources[name] = (file, key)
            }
        }
        let provided = Set(sources.keys.map { ObjectIdentifier(own[$0]!) })
        report.missing = own.filter { !provided.contains(ObjectIdentifier($0.value)) }.map(\.key).sorted()
        report.unexpected.sort()
        if !mismatched.isEmpty || (strict && (!report.missing.isEmpty || !report.unexpected.isEmpty)) {
            throw StateDictError(missing: strict ? report.missing : [], unexpected: strict ? report.unexpected : [],
                                 shapeMismatched: mismatched.sorted())
        }
        for name in sources.keys.sorted() {
            let (file, key) = sources[name]!
            let target = own[name]!
            let (value, method) = try catchingTorchErrors("loading '\(key)' from \(file.url.path)") {
                try file.load(key, as: target.dtype, on: target.device)
            }
            target.setData(value)
            switch method {
            case .adopted: report.adopted.append(name)
            case .copied: report.copied.append(name)
            case .converted: report.converted.append(name)
            }
        }
        return report
    }
}
