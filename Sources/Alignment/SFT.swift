import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Training

// Supervised fine-tuning as TRL's SFTTrainer does it: next-token cross-entropy on the scored tokens (the whole text,
// the completion, or the assistant's turns), averaged over every scored token of the accumulated batch, AdamW with a
// warm-up schedule and gradient clipping. One optimizer step is one step of the training loop.

/// Supervised fine-tuning of a language model (full weights or LoRA adapters) on the training skeleton.
public final class SFTTrainer: TrainingProcedure {
    public let model: LanguageModel
    public let configuration: SFTConfiguration
    public let train: SFTDataset
    public let evaluation: SFTDataset?
    public let label: String
    public var stepName: String { "optimizer step" }
    public private(set) var completedSteps = 0
    public let plannedSteps: Int
    public var completedUnits: Int { completedSteps }
    public var plannedUnits: Int { plannedSteps }
    /// Tokens (real, non-pad) of every micro-batch trained on so far.
    public private(set) var trainedTokens = 0

    /// The rows of one epoch (single examples, or packed bins).
    let rows: [SFTRow]
    let microBatchesPerEpoch: Int
    let stepsPerEpoch: Int
    let schedule: Schedule
    /// The trained tensors, by the decoder's names.
    public let trainableParameters: [(String, Tensor)]
    public let optimizer: Adam
    /// Draws LoRA's dropout masks.
    let dropoutGenerator: Generator
    var window = LoggingWindow()

    /// Prepares a run: LoRA adapters are added when `configuration.loraR` > 0 (unless the model already has
    /// adapters, which then train), else every weight of the decoder trains.
    public init(model: LanguageModel, train: SFTDataset, evaluation: SFTDataset? = nil, configuration: SFTConfiguration,
                label: String? = nil) throws {
        try configuration.validate()
        guard !train.examples.isEmpty else { throw DataError("no training rows") }
        self.model = model
        self.configuration = configuration
        self.train = train
        self.evaluation = evaluation
        self.label = label ?? "sft \(model.directory.lastPathComponent)"
        dropoutGenerator = try prepareForTraining(model, configuration)
        trainableParameters = model.decoder.namedParameters().filter { $0.1.requiresGrad }
        optimizer = Adam.adamW(parameters: trainableParameters.map(\.1), learningRate: configuration.learningRate,
                               betas: (configuration.adamBeta1, configuration.adamBeta2), eps: configuration.adamEpsilon,
                               weightDecay: configuration.weightDecay)
        rows = configuration.packing
            ? packExamples(train.examples.map(\.ids.count), capacity: configuration.maxLength)
            : train.examples.indices.map { SFTRow(examples: [$0]) }
        microBatchesPerEpoch = (rows.count + configuration.perDeviceTrainBatchSize - 1) / configuration.perDeviceTrainBatchSize
        stepsPerEpoch = (microBatchesPerEpoch + configuration.gradientAccumulationSteps - 1) / configuration.gradientAccumulationSteps
        plannedSteps = configuration.maxSteps > 0 ? configuration.maxSteps
            : Swift.max(1, Int((Double(stepsPerEpoch) * configuration.numTrainEpochs).rounded(.up)))
        schedule = try configuration.schedule(totalSteps: plannedSteps)
    }

    /// Rows of the data set in epoch `epoch`'s order (a seeded shuffle, so any step's batch follows from its index).
    func epochOrder(_ epoch: Int) -> [Int] { seededShuffle(count: rows.count, seed: configuration.seed, epoch: epoch) }

    /// The micro-batches (row lists) of optimizer step `step` (0-based).
    public func microBatches(ofStep step: Int) -> [[SFTRow]] {
        let epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        let order = epochOrder(epoch)
        let size = configuration.perDeviceTrainBatchSize, accumulation = configuration.gradientAccumulationSteps
        let first = within * accumulation, last = Swift.min(first + accumulation, microBatchesPerEpoch)
        return (first..<last).map { k in
            let start = k * size, end = Swift.min(start + size, order.count)
            return order[start..<end].map { rows[$0] }
        }
    }

    /// The loss of some micro-batches as one accumulated batch: Σ −log p over scored tokens / their count, with
    /// gradients accumulated into the trainable parameters (backward per micro-batch). Returns (loss, scored tokens,
    /// real tokens).
    func accumulate(_ microBatches: [[SFTRow]]) -> (loss: Double, targets: Int, tokens: Int) {
        let batches = microBatches.map { SFTBatch(rows: $0, examples: train.examples, padID: model.padTokenID) }
        let targets = batches.reduce(0) { $0 + $1.targets.count }
        var total = 0.0, tokens = 0
        for batch in batches where !batch.targets.isEmpty {
            let logProbabilities = model.decoder.logProbabilities(batch.ids, positions: batch.positions, mask: batch.mask,
                                                                  sources: batch.sources, targets: batch.targets)
            let loss = -logProbabilities.sum() / Double(Swift.max(1, targets))
            loss.backward()
            total += loss.item(Double.self)
            tokens += batch.tokenCount
        }
        return (total, targets, tokens)
    }

    public func step() throws -> TrainingStepResult {
        let started = DispatchTime.now().uptimeNanoseconds
        model.decoder.train()
        optimizer.zeroGrad()
        let learningRate = configuration.learningRate * schedule.factor(at: completedSteps, of: plannedSteps)
        let (loss, targets, tokens) = accumulate(microBatches(ofStep: completedSteps))
        guard loss.isFinite else {
            // Nothing is stepped: the loop stops on the non-finite loss and the last checkpoint stays.
            optimizer.zeroGrad()
            return TrainingStepResult(metrics: ["train/loss": loss])
        }
        let gradientNorm = optimizerStep(trainableParameters.map(\.1), optimizer: optimizer, maxGradNorm: configuration.maxGradNorm, learningRate: learningRate)
        completedSteps += 1
        trainedTokens += tokens
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        window.add(loss: loss, targets: targets, tokens: tokens, seconds: seconds, gradientNorm: gradientNorm)
        var metrics: [String: Double] = [:]
        if completedSteps % configuration.loggingSteps == 0 || completedSteps == plannedSteps {
            metrics = window.metrics()
            metrics["train/learning_rate"] = learningRate
            metrics["train/epoch"] = Double(completedSteps) / Double(stepsPerEpoch)
            metrics["train/num_tokens"] = Double(trainedTokens)
            window = LoggingWindow()
        }
        if let evaluation, (configuration.evalSteps > 0 && completedSteps % configuration.evalSteps == 0) || completedSteps == plannedSteps {
            let eval = evaluate(evaluation)
            metrics["eval/loss"] = eval.loss
            metrics["eval/perplexity"] = Foundation.exp(eval.loss)
            metrics["eval/mean_token_accuracy"] = eval.accuracy
        }
        return TrainingStepResult(metrics: metrics)
    }

    /// Mean next-token loss and greedy accuracy over every scored token of `data`, without gradients.
    public func evaluate(_ data: SFTDataset) -> (loss: Double, accuracy: Double) {
        model.decoder.eval()
        defer { model.decoder.train() }
        var total = 0.0, correct = 0, count = 0
        let size = configuration.perDeviceEvalBatchSize
        withInferenceMode {
            for start in stride(from: 0, to: data.examples.count, by: size) {
                let rows = (start..<Swift.min(start + size, data.examples.count)).map { SFTRow(examples: [$0]) }
                let batch = SFTBatch(rows: rows, examples: data.examples, padID: model.padTokenID)
                guard !batch.targets.isEmpty else { continue }
                let selected = model.decoder.scoredHiddenStates(batch.ids, positions: batch.positions, mask: batch.mask,
                                                                sources: batch.sources)
                let logits = selected.matmul(model.decoder.outputEmbedding.transposed(0, 1))
                let targets = Tensor(batch.targets)
                total -= tokenLogProbabilities(logits: logits, targets: targets).to(dtype: .float64).sum().item(Double.self)
                correct += (logits.argmax(dim: -1) .== targets).to(dtype: .int64).sum().item(Int.self)
                count += batch.targets.count
            }
        }
        return (total / Double(Swift.max(1, count)), Double(correct) / Double(Swift.max(1, count)))
    }

    // MARK: Checkpoints

    public func captureCheckpoint() throws -> TrainingCheckpoint {
        try trainedStateCheckpoint(parameters: trainableParameters, optimizer: optimizer, dropoutGenerator: dropoutGenerator,
                                   step: completedSteps, tokens: trainedTokens, settings: configuration.json)
    }

    /// Continues from a checkpoint of the same run (same model, data and settings): the run then goes on exactly as
    /// if it had never stopped.
    public func restore(_ checkpoint: TrainingCheckpoint) throws {
        (completedSteps, trainedTokens) = try restoreTrainedState(checkpoint, parameters: trainableParameters, optimizer: optimizer,
                                                                  dropoutGenerator: dropoutGenerator, plannedSteps: plannedSteps)
    }

    /// Writes the result: a full Hugging Face model directory, or with LoRA a PEFT adapter directory (plus the
    /// tokenizer files) that peft loads onto the base model.
    public func saveModel(to directory: URL) throws {
        try saveTrainedModel(model, training: configuration, to: directory)
    }
}

/// Sums over the steps between two logging points.
struct LoggingWindow {
    var weightedLoss = 0.0, targets = 0, tokens = 0, seconds = 0.0, gradientNorms = 0.0, steps = 0

    mutating func add(loss: Double, targets: Int, tokens: Int, seconds: Double, gradientNorm: Double) {
        weightedLoss += loss * Double(targets)
        self.targets += targets
        self.tokens += tokens
        self.seconds += seconds
        gradientNorms += gradientNorm
        steps += 1
    }

    func metrics() -> [String: Double] {
        [
            "train/loss": weightedLoss / Double(Swift.max(1, targets)),
            "train/grad_norm": gradientNorms / Double(Swift.max(1, steps)),
            "train/tokens_per_s": Double(tokens) / Swift.max(seconds, 1e-9),
        ]
    }
}

/// A small seeded generator for data order (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
