import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Training

// What the language-model trainers share: data order, restoring trained tensors from a checkpoint, and writing the
// trained model.

/// 0..<count in a seeded order for epoch `epoch` (Fisher–Yates with SplitMix64), so any step's batch follows from
/// the seed and its index alone.
func seededShuffle(count: Int, seed: Int, epoch: Int) -> [Int] {
    var rng = SplitMix64(seed: UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9 &+ UInt64(epoch))
    var order = Array(0..<count)
    if order.count > 1 {
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
    }
    return order
}

/// Readies `model` for a run of `training`: seeds the global generator, adds LoRA adapters when the settings ask for
/// them and the model has none (A drawn from the run's own seeded generator, so it does not depend on what else in
/// the process draws from the global one), sets gradient checkpointing, and makes trainable either every weight or,
/// with adapters, only their factors, whose dropout then draws from the returned generator (`lora_dropout` in the
/// run's checkpoints). `disableDropout` sets the adapters' dropout to zero.
func prepareForTraining(_ model: LanguageModel, _ training: SFTConfiguration, disableDropout: Bool = false) throws -> Generator {
    let seed = UInt64(truncatingIfNeeded: training.seed)
    LibTorch.manualSeed(seed)
    let dropoutGenerator = Generator(seed: seed &+ 0x5F7)
    if training.usesLoRA && model.adapters.isEmpty {
        try model.addAdapters(training.loraConfiguration(architecture: model.configuration.architecture),
                              generator: Generator(seed: seed &+ 0x10A))
    }
    model.decoder.gradientCheckpointing = training.gradientCheckpointing
    if model.adapters.isEmpty {
        model.decoder.unfreeze()
    } else {
        model.decoder.freeze()
        for (_, adapter) in model.adapters {
            adapter.loraA.weight.requiresGrad = true
            adapter.loraB.weight.requiresGrad = true
            adapter.dropoutGenerator = dropoutGenerator
            if disableDropout { adapter.dropout = 0 }
        }
    }
    return dropoutGenerator
}

/// Clips the gradient's global norm to `maxGradNorm` (0: no clipping) and takes one optimizer step at
/// `learningRate`; returns the norm before clipping (what TRL logs as `grad_norm`).
func optimizerStep(_ parameters: [Tensor], optimizer: Adam, maxGradNorm: Double, learningRate: Double) -> Double {
    let norm = maxGradNorm > 0
        ? clipGradNorm(parameters, maxNorm: maxGradNorm)
        : withNoGrad {
            // One reduction and one read, not a read per parameter (a LoRA model has hundreds of factors).
            let squares = parameters.compactMap(\.grad).map { $0.to(dtype: .float64).square().sum() }
            return squares.isEmpty ? 0 : Tensor.stack(squares).sum().sqrt().item(Double.self)
        }
    optimizer.setLearningRate(learningRate)
    optimizer.step()
    return norm
}

/// The checkpoint of a language-model run at a step boundary: copies of the trained tensors, the optimizer's
/// state, the dropout and global random states, the step and token counters, and the settings (compared on resume).
func trainedStateCheckpoint(parameters: [(String, Tensor)], optimizer: Adam, dropoutGenerator: Generator, step: Int, tokens: Int,
                            settings: [String: Any]) throws -> TrainingCheckpoint {
    var tensors: [String: Tensor] = [:]
    for (name, tensor) in parameters { tensors[name] = tensor.detach().clone() }
    return TrainingCheckpoint(model: tensors, optimizer: optimizer.state(),
                              randomStates: ["lora_dropout": dropoutGenerator.state, TrainingCheckpoint.globalGeneratorKey: LibTorch.globalGeneratorState],
                              counters: ["step": step, "tokens": tokens],
                              config: String(decoding: try JSONSerialization.data(withJSONObject: settings, options: [.sortedKeys]), as: UTF8.self))
}

/// Copies a checkpoint's trained tensors, optimizer state and random states into a run and returns its step and
/// token counters; errors name what does not fit, including a step beyond the run's `plannedSteps`.
func restoreTrainedState(_ checkpoint: TrainingCheckpoint, parameters: [(String, Tensor)], optimizer: Adam, dropoutGenerator: Generator,
                         plannedSteps: Int) throws -> (step: Int, tokens: Int) {
    let own = Dictionary(uniqueKeysWithValues: parameters)
    let missing = own.keys.filter { checkpoint.model[$0] == nil }.sorted()
    let unexpected = checkpoint.model.keys.filter { own[$0] == nil }.sorted()
    guard missing.isEmpty, unexpected.isEmpty else {
        throw CheckpointError(reason: "the checkpoint does not fit this run (trained tensors missing: \(missing.prefix(3)), not trained here: \(unexpected.prefix(3))); was it written with other LoRA settings?")
    }
    for (name, tensor) in own {
        let saved = checkpoint.model[name]!
        guard saved.shape == tensor.shape else { throw CheckpointError(reason: "checkpoint tensor \(name) has shape \(saved.shape), the model \(tensor.shape)") }
        withNoGrad { tensor.copy_(saved) }
    }
    guard let state = checkpoint.optimizer else { throw CheckpointError(reason: "checkpoint holds no optimizer state") }
    try optimizer.load(state: state)
    if let dropout = checkpoint.randomStates["lora_dropout"] { dropoutGenerator.state = dropout }
    if let global = checkpoint.randomStates[TrainingCheckpoint.globalGeneratorKey] { LibTorch.globalGeneratorState = global }
    let step = checkpoint.counters["step"] ?? 0
    guard step <= plannedSteps else {
        throw CheckpointError(reason: "the checkpoint is at step \(step), beyond this run's \(plannedSteps) steps")
    }
    return (step, checkpoint.counters["tokens"] ?? 0)
}

/// Writes a trained model: a full Hugging Face directory, or, when it carries LoRA adapters, a PEFT adapter
/// directory (plus the tokenizer files) that peft loads onto the base model.
func saveTrainedModel(_ model: LanguageModel, training: SFTConfiguration, to directory: URL) throws {
    model.decoder.eval()
    if model.adapters.isEmpty {
        try model.save(to: directory)
        return
    }
    let lora: LoRAConfiguration
    if training.usesLoRA {
        lora = training.loraConfiguration(architecture: model.configuration.architecture)
    } else {
        // Adapters that were on the model before training (loaded, not added): their rank, α = scale × rank.
        let first = model.adapters[0].1
        let rank = first.loraA.weight.size(0)
        lora = LoRAConfiguration(rank: rank, alpha: first.scale * Double(rank), targets: .names(model.adapters.map(\.0)))
    }
    try model.saveAdapter(to: directory, configuration: lora)
    for file in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"] {
        let source = model.directory.appendingPathComponent(file)
        guard FileManager.default.fileExists(atPath: source.path) else { continue }
        try AtomicFile.write(Data(contentsOf: source), to: directory.appendingPathComponent(file))
    }
}
