import Foundation
import Torch

/// The complete state of a training run: model parameters and buffers, optimizer state, every random generator's
/// state, extra tensors (such as normalisation statistics), step counters and the run's configuration.
///
/// It is stored as one safetensors file (tensors prefixed `model.`, `optimizer.`, `rng.`, `extra.`; counters, optimizer
/// scalars and the configuration as JSON in the header metadata), written atomically, plus a small human-readable
/// JSON copy of the metadata beside it. The safetensors file alone is authoritative.
public struct TrainingCheckpoint {
    public var model: [String: Tensor]
    public var optimizer: OptimizerState?
    public var randomStates: [String: Tensor]
    public var extra: [String: Tensor]
    public var counters: [String: Int]
    /// The run's resolved configuration as JSON text.
    public var config: String?

    public init(model: [String: Tensor], optimizer: OptimizerState? = nil, randomStates: [String: Tensor] = [:],
                extra: [String: Tensor] = [:], counters: [String: Int] = [:], config: String? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.randomStates = randomStates
        self.extra = extra
        self.counters = counters
        self.config = config
    }

    /// The name under which libtorch's global generator state is stored.
    public static let globalGeneratorKey = "torch_global"

    /// Captures the current state; values are copied, so training can continue while the checkpoint is written.
    public static func capture(model: Module, optimizer: Optimizer? = nil, generators: [String: Generator] = [:],
                               extra: [String: Tensor] = [:], counters: [String: Int] = [:],
                               config: String? = nil) -> TrainingCheckpoint {
        var random = generators.mapValues(\.state)
        random[globalGeneratorKey] = LibTorch.globalGeneratorState
        return TrainingCheckpoint(model: model.stateDict().mapValues { $0.clone() }, optimizer: optimizer?.state(),
                                  randomStates: random, extra: extra.mapValues { $0.detach().clone() },
                                  counters: counters, config: config)
    }

    /// Puts the state back into `model`, `optimizer` and `generators` (and libtorch's global generator). Throws,
    /// naming the offending keys, when the checkpoint does not fit.
    public func restore(model target: Module, optimizer targetOptimizer: Optimizer? = nil,
                        generators: [String: Generator] = [:]) throws {
        try target.load(stateDict: model)
        if let targetOptimizer {
            guard let optimizer else { throw CheckpointError(reason: "checkpoint holds no optimizer state") }
            try targetOptimizer.load(state: optimizer)
        }
        for (name, generator) in generators {
            guard let state = randomStates[name] else { throw CheckpointError(reason: "checkpoint holds no state for generator '\(name)'") }
            generator.state = state
        }
        if let global = randomStates[Self.globalGeneratorKey] { LibTorch.globalGeneratorState = global }
    }

    // MARK: Files

    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = [:]
        for (k, v) in model { tensors["model.\(k)"] = v }
        for (k, v) in optimizer?.tensors ?? [:] { tensors["optimizer.\(k)"] = v }
        for (k, v) in randomStates { tensors["rng.\(k)"] = v }
        for (k, v) in extra { tensors["extra.\(k)"] = v }
        let meta = Metadata(format: 1, counters: counters, optimizerScalars: optimizer?.scalars, hasOptimizer: optimizer != nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var metadata = ["format": "pt", "proxima.state": String(decoding: try encoder.encode(meta), as: UTF8.self)]
        if let config { metadata["proxima.config"] = config }
        try SafeTensors.write(tensors, metadata: metadata, to: url)

        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let summary = Summary(counters: counters, tensors: tensors.count, config: config)
        try AtomicFile.write(try encoder.encode(summary), to: url.deletingPathExtension().appendingPathExtension("json"))
    }

    public static func read(from url: URL) throws -> TrainingCheckpoint {
        let (tensors, metadata) = try SafeTensors.read(url)
        guard let stateText = metadata["proxima.state"] else {
            throw CheckpointError(reason: "\(url.path): not a Proxima checkpoint (no 'proxima.state' metadata)")
        }
        let meta: Metadata
        do { meta = try JSONDecoder().decode(Metadata.self, from: Data(stateText.utf8)) } catch {
            throw CheckpointError(reason: "\(url.path): malformed 'proxima.state' metadata: \(error)")
        }
        var checkpoint = TrainingCheckpoint(model: [:], counters: meta.counters, config: metadata["proxima.config"])
        var optimizerTensors: [String: Tensor] = [:]
        for (name, tensor) in tensors {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "model": checkpoint.model[parts[1]] = tensor
            case "optimizer": optimizerTensors[parts[1]] = tensor
            case "rng": checkpoint.randomStates[parts[1]] = tensor
            case "extra": checkpoint.extra[parts[1]] = tensor
            default: continue
            }
        }
        if meta.hasOptimizer { checkpoint.optimizer = OptimizerState(tensors: optimizerTensors, scalars: meta.optimizerScalars ?? [:]) }
        return checkpoint
    }

    struct Metadata: Codable {
        var format: Int
        var counters: [String: Int]
        var optimizerScalars: [String: Double]?
        var hasOptimizer: Bool
    }

    struct Summary: Codable {
        var counters: [String: Int]
        var tensors: Int
        var config: String?
    }
}

public struct CheckpointError: ProximaError {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
