import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Training

// Reward-model training as TRL's RewardTrainer does it: a score model (a decoder with a one-label score head) reads
// each sequence (prompt + response + EOS) at its last real token, and the Bradley-Terry loss of Objectives/ pushes the
// chosen response's score above the rejected one's (by the row's `margin`, when the data has one). Ranked lists train
// with the Plackett-Luce loss, its listwise generalisation. One optimizer step is one step of the training loop.

/// Trains a score model on preference pairs (Bradley-Terry) or ranked lists (Plackett-Luce).
///
/// Metrics (TRL's names, logged as `train/…` and `eval/…`): `loss`, `accuracy` (strict: chosen above rejected),
/// `margin` (mean chosen − rejected score), `mean_reward`, and `min_reward` / `max_reward`, the extremes over every
/// score of the logging window (TRL averages per-batch extremes instead; these do not depend on the micro-batching).
/// For ranked lists, `accuracy` is the fraction of ordered response pairs scored in the right order and `margin` the
/// mean gap between neighbours, (r_first − r_last)/(K − 1), so lists of two log exactly what pairs do.
public final class RewardTrainer: TrainingProcedure {
    /// The score model being trained (`scoreHead` with one label).
    public let model: LanguageModel
    public let configuration: RewardConfiguration
    public let train: PreferenceDataset
    public let evaluation: PreferenceDataset?
    public let label: String
    public var stepName: String { "optimizer step" }
    public private(set) var completedSteps = 0
    public let plannedSteps: Int
    public var completedUnits: Int { completedSteps }
    public var plannedUnits: Int { plannedSteps }
    /// Real tokens of every training forward pass so far.
    public private(set) var trainedTokens = 0
    /// The trained tensors by checkpoint name: the decoder's (or its LoRA factors) and `score.weight`.
    public let trainableParameters: [(String, Tensor)]
    public let optimizer: Adam
    /// The training examples kept (indices into `train`): those within `max_length`.
    public let trainingExamples: [Int]
    /// The held-out examples kept.
    public let evaluationExamples: [Int]
    /// Training examples left out for a sequence over `max_length`.
    public var filteredCount: Int { train.count - trainingExamples.count }
    let microBatchesPerEpoch: Int
    let stepsPerEpoch: Int
    let schedule: Schedule
    let dropoutGenerator: Generator
    var window = MetricWindow()
    var windowExtremes = Extremes()

    /// Prepares a run on a score model: `LanguageModel(directory:scoreLabels: 1)` of a causal LM (its new head is
    /// drawn from the global generator when the model loads: seed it first for a reproducible run, as the CLI does)
    /// or of a `…ForSequenceClassification` directory. With `configuration.training.loraR` > 0 (or adapters already
    /// on the model) only the LoRA factors and the score head train, new factors drawn from a generator seeded with
    /// `seed`; otherwise every weight does.
    ///
    /// Throws when the model has no one-label score head, the data holds unpaired rows, a ranked list has tied
    /// scores (Plackett-Luce needs a strict ranking; the error names file, line and field), or every training
    /// example is longer than `max_length`.
    public init(model: LanguageModel, train: PreferenceDataset, evaluation: PreferenceDataset? = nil,
                configuration: RewardConfiguration, label: String? = nil) throws {
        try configuration.validate()
        guard let head = model.scoreHead, head.labels == 1 else {
            throw DataError("\(model.directory.path): a reward model needs a score head with one label; load it with LanguageModel(directory:scoreLabels: 1)")
        }
        self.model = model
        self.configuration = configuration
        self.train = train
        self.evaluation = evaluation
        self.label = label ?? "reward \(model.directory.lastPathComponent)"
        for data in [train] + (evaluation.map { [$0] } ?? []) { try Self.check(data) }
        trainingExamples = Self.within(configuration.maxLength, train)
        evaluationExamples = evaluation.map { Self.within(configuration.maxLength, $0) } ?? []
        guard !trainingExamples.isEmpty else {
            throw DataError("\(train.path): every example has a sequence longer than max_length (\(configuration.maxLength ?? 0) tokens); raise --max-length")
        }
        let training = configuration.training
        dropoutGenerator = try prepareForTraining(model, training, disableDropout: configuration.disableDropout)
        head.unfreeze()
        trainableParameters = model.decoder.namedParameters().filter { $0.1.requiresGrad } + head.namedParameters()
        optimizer = Adam.adamW(parameters: trainableParameters.map(\.1), learningRate: training.learningRate,
                               betas: (training.adamBeta1, training.adamBeta2), eps: training.adamEpsilon, weightDecay: training.weightDecay)
        microBatchesPerEpoch = (trainingExamples.count + training.perDeviceTrainBatchSize - 1) / training.perDeviceTrainBatchSize
        stepsPerEpoch = (microBatchesPerEpoch + training.gradientAccumulationSteps - 1) / training.gradientAccumulationSteps
        plannedSteps = training.maxSteps > 0 ? training.maxSteps
            : Swift.max(1, Int((Double(stepsPerEpoch) * training.numTrainEpochs).rounded(.up)))
        schedule = try training.schedule(totalSteps: plannedSteps)
    }

    /// Pairs or strict rankings; nothing else trains a reward model.
    static func check(_ data: PreferenceDataset) throws {
        guard data.format != .unpaired else {
            throw DataError("\(data.path): a reward model trains on prompt/chosen/rejected pairs or ranked lists, but the file holds \(data.format.rawValue) rows")
        }
        for (k, list) in data.lists.enumerated() where list.hasTies {
            throw DataError(file: data.path, line: data.lines[k], field: "scores",
                            "tied scores \(list.scores), but the Plackett-Luce loss needs a strict ranking (no two responses equal)")
        }
    }

    /// Indices of the examples whose every sequence fits in `limit` tokens (all of them for no limit).
    static func within(_ limit: Int?, _ data: PreferenceDataset) -> [Int] {
        guard let limit else { return Array(0..<data.count) }
        func fits(_ s: PreferenceSequence) -> Bool { s.prompt.count + s.completion.count <= limit }
        return (0..<data.count).filter { i in
            data.format == .ranked ? data.lists[i].responses.allSatisfy(fits) : fits(data.pairs[i].chosen) && fits(data.pairs[i].rejected)
        }
    }

    // MARK: Batches

    /// The micro-batches (indices into `train`) of optimizer step `step` (0-based), in a seeded order per epoch.
    public func microBatches(ofStep step: Int) -> [[Int]] {
        let epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        let order = seededShuffle(count: trainingExamples.count, seed: configuration.training.seed, epoch: epoch).map { trainingExamples[$0] }
        let size = configuration.training.perDeviceTrainBatchSize, accumulation = configuration.training.gradientAccumulationSteps
        let first = within * accumulation, last = Swift.min(first + accumulation, microBatchesPerEpoch)
        return (first..<last).map { k in Array(order[(k * size)..<Swift.min((k + 1) * size, order.count)]) }
    }

    /// Scores [n] of `lm` for each sequence (prompt + completion), read at its last token, with the batch's real
    /// tokens. One right-padded forward pass under plain causal attention (padding comes after every scored
    /// position, so it never touches a score); the head sees only the n hidden states it reads. Differentiable.
    public static func scores(_ lm: LanguageModel, _ sequences: [PreferenceSequence]) -> (scores: Tensor, tokens: Int) {
        guard let head = lm.scoreHead else { preconditionFailure("\(lm.directory.path) has no score head") }
        let batch = TokenBatch(sequences.map { $0.prompt + $0.completion }, padding: .right, padID: lm.padTokenID)
        let hidden = lm.decoder.hiddenStates(batch.ids, positions: batch.positions, mask: nil, caches: nil)
        let last = batch.lengths.enumerated().map { Int64($0.offset * batch.columns + $0.element - 1) }
        let selected = hidden.reshaped([-1, hidden.size(-1)]).indexSelect(dim: 0, index: Tensor(last))
        let scores = head.projection(selected).squeezed(-1)
        let dtype: DType = lm.dtype == .float64 ? .float64 : .float32
        return (scores.dtype == dtype ? scores : scores.to(dtype: dtype), batch.lengths.reduce(0, +))
    }

    /// The loss summed over a micro-batch's examples (gradients flow from it), metric sums weighted by example (or
    /// by `key#count`), the extremes of its scores, and its real tokens.
    func microBatchLoss(_ indices: [Int], data: PreferenceDataset) throws
        -> (lossSum: Tensor, metrics: [String: Double], extremes: Extremes, tokens: Int) {
        let b = indices.count
        var metrics: [String: Double] = [:]
        var extremes = Extremes()
        if data.format == .ranked {
            // Lists side by side, list i's response j at offsets[i] + j; lists of one length share a loss call.
            let lists = indices.map { data.lists[$0] }
            let scored = Self.scores(model, lists.flatMap(\.responses))
            var offsets: [Int] = [], offset = 0
            for list in lists { offsets.append(offset); offset += list.responses.count }
            var total = Tensor.zeros([], dtype: scored.scores.dtype)
            for k in Set(lists.map(\.responses.count)).sorted() {
                let members = lists.indices.filter { lists[$0].responses.count == k }
                let positions = members.flatMap { i in (0..<k).map { Int64(offsets[i] + $0) } }
                let rewards = scored.scores.indexSelect(dim: 0, index: Tensor(positions)).reshaped([members.count, k])
                var losses = PlackettLuceReward.losses(rewards: rewards)
                if let c = configuration.centerRewardsCoefficient { losses = losses + c * rewards.sum(dim: 1).square() }
                total = total + losses.sum()
            }
            let values = scored.scores.doubles
            var correct = 0.0, gaps = 0.0
            for (i, list) in lists.enumerated() {
                let r = Array(values[offsets[i]..<(offsets[i] + list.responses.count)])
                var right = 0, pairs = 0
                for a in 0..<r.count { for z in (a + 1)..<r.count { pairs += 1; if r[a] > r[z] { right += 1 } } }
                correct += Double(right) / Double(pairs)
                gaps += (r[0] - r[r.count - 1]) / Double(r.count - 1)
            }
            metrics["accuracy"] = correct
            metrics["margin"] = gaps
            metrics["mean_reward"] = values.reduce(0, +)
            metrics["mean_reward#count"] = Double(values.count)
            extremes.add(values)
            return (total, metrics, extremes, scored.tokens)
        }
        let pairs = indices.map { data.pairs[$0] }
        let scored = Self.scores(model, pairs.map(\.chosen) + pairs.map(\.rejected))
        let chosen = scored.scores.narrow(dim: 0, start: 0, length: b), rejected = scored.scores.narrow(dim: 0, start: b, length: b)
        // A data set with a margin column: rows without one have margin 0 (the spec's null).
        let margin = data.pairs.contains { $0.margin != nil }
            ? Tensor(pairs.map { $0.margin ?? 0 }, shape: [b]).to(dtype: chosen.dtype) : nil
        let result = BradleyTerryReward.evaluate(chosen: chosen, rejected: rejected, margin: margin,
                                                 centerCoefficient: configuration.centerRewardsCoefficient)
        // Batch means → sums, so micro-batches of a step add up to the step's mean.
        metrics["accuracy"] = result.metrics["accuracy"]! * Double(b)
        metrics["margin"] = result.metrics["margin"]! * Double(b)
        metrics["mean_reward"] = result.metrics["mean_reward"]! * Double(2 * b)
        metrics["mean_reward#count"] = Double(2 * b)
        extremes.add([result.metrics["min_reward"]!, result.metrics["max_reward"]!])
        return (result.losses.sum(), metrics, extremes, scored.tokens)
    }

    public func step() throws -> TrainingStepResult {
        let started = DispatchTime.now().uptimeNanoseconds
        for module in model.modules { module.train() }
        optimizer.zeroGrad()
        let training = configuration.training
        let learningRate = training.learningRate * schedule.factor(at: completedSteps, of: plannedSteps)
        let batches = microBatches(ofStep: completedSteps)
        let examples = batches.reduce(0) { $0 + $1.count }
        var loss = 0.0, tokens = 0
        var sums = MetricSums(), extremes = Extremes()
        for indices in batches {
            let (lossSum, metrics, batchExtremes, batchTokens) = try microBatchLoss(indices, data: train)
            let scaled = lossSum / Double(examples)
            scaled.backward()
            loss += scaled.item(Double.self)
            tokens += batchTokens
            sums.add(metrics, examples: indices.count)
            extremes.add(batchExtremes)
        }
        guard loss.isFinite else {
            optimizer.zeroGrad()
            return TrainingStepResult(metrics: ["train/loss": loss])
        }
        let gradientNorm = optimizerStep(trainableParameters.map(\.1), optimizer: optimizer, maxGradNorm: training.maxGradNorm, learningRate: learningRate)
        completedSteps += 1
        trainedTokens += tokens
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        window.add(loss: loss, examples: examples, tokens: tokens, seconds: seconds, gradientNorm: gradientNorm, sums: sums)
        windowExtremes.add(extremes)
        var metrics: [String: Double] = [:]
        if completedSteps % training.loggingSteps == 0 || completedSteps == plannedSteps {
            metrics = window.metrics(prefix: "train/")
            for (key, value) in windowExtremes.metrics { metrics["train/" + key] = value }
            metrics["train/learning_rate"] = learningRate
            metrics["train/epoch"] = Double(completedSteps) / Double(stepsPerEpoch)
            metrics["train/num_tokens"] = Double(trainedTokens)
            window = MetricWindow()
            windowExtremes = Extremes()
        }
        if let evaluation, !evaluationExamples.isEmpty,
           (training.evalSteps > 0 && completedSteps % training.evalSteps == 0) || completedSteps == plannedSteps {
            for (key, value) in try evaluate(evaluation, examples: evaluationExamples) { metrics["eval/" + key] = value }
        }
        return TrainingStepResult(metrics: metrics)
    }

    /// The mean loss and the metrics over `examples` of `data` (when nil, every example within `max_length`),
    /// without gradients; `min_reward` and `max_reward` are the extremes over all of them.
    public func evaluate(_ data: PreferenceDataset, examples: [Int]? = nil) throws -> [String: Double] {
        try Self.check(data)
        let chosen = examples ?? Self.within(configuration.maxLength, data)
        for module in model.modules { module.eval() }
        defer { for module in model.modules { module.train() } }
        var sums = MetricSums(), extremes = Extremes(), loss = 0.0
        let size = configuration.training.perDeviceEvalBatchSize
        try withInferenceMode {
            for start in stride(from: 0, to: chosen.count, by: size) {
                let indices = Array(chosen[start..<Swift.min(start + size, chosen.count)])
                let (lossSum, metrics, batchExtremes, _) = try microBatchLoss(indices, data: data)
                loss += lossSum.item(Double.self)
                sums.add(metrics, examples: indices.count)
                extremes.add(batchExtremes)
            }
        }
        var result = sums.means()
        for (key, value) in extremes.metrics { result[key] = value }
        result["loss"] = loss / Double(Swift.max(1, chosen.count))
        return result
    }

    // MARK: Checkpoints

    public func captureCheckpoint() throws -> TrainingCheckpoint {
        try trainedStateCheckpoint(parameters: trainableParameters, optimizer: optimizer, dropoutGenerator: dropoutGenerator,
                                   step: completedSteps, tokens: trainedTokens, settings: configuration.json)
    }

    /// Continues from a checkpoint of the same run (score head included): the run then goes on exactly as if it
    /// had never stopped.
    public func restore(_ checkpoint: TrainingCheckpoint) throws {
        (completedSteps, trainedTokens) = try restoreTrainedState(checkpoint, parameters: trainableParameters, optimizer: optimizer,
                                                                  dropoutGenerator: dropoutGenerator, plannedSteps: plannedSteps)
    }

    /// Writes the result. Full fine-tuning: a Hugging Face `…ForSequenceClassification` directory (config.json,
    /// model.safetensors with `score.weight`, tokenizer files), which transformers and `LanguageModel(directory:)`
    /// load as a score model. LoRA: a PEFT adapter directory following PEFT's convention for a trained head,
    /// `task_type` SEQ_CLS with `modules_to_save: ["score"]` and the head stored as `base_model.model.score.weight`
    /// beside the factors, plus the tokenizer files; peft loads it onto `AutoModelForSequenceClassification` of the
    /// base model (`num_labels=1`), and `LanguageModel.scoreModel(at:)` loads it here.
    ///
    /// transformers reads a padded batch's score at the last id that is not `pad_token_id`; when the pad id is the
    /// EOS id (GPT-2, and any tokenizer without a pad token of its own) that is the token before the EOS, not the
    /// EOS this trainer scores. The weights are the same: read the score at the row's last position (here
    /// `ScoreReadout.lastRealToken`) to get the trained scores.
    public func saveModel(to directory: URL) throws {
        try saveTrainedModel(model, training: configuration.training, to: directory)
        guard !model.adapters.isEmpty, let head = model.scoreHead else { return }
        let weightsURL = directory.appendingPathComponent("adapter_model.safetensors")
        var tensors = try SafeTensors.read(weightsURL).tensors
        tensors["base_model.model.score.weight"] = head.projection.weight.detach().contiguous()
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: weightsURL)
        let configURL = directory.appendingPathComponent("adapter_config.json")
        guard var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any] else {
            throw DataError("\(configURL.path): not a JSON object")
        }
        config["task_type"] = "SEQ_CLS"
        config["modules_to_save"] = ["score"]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]), to: configURL)
    }
}

/// The smallest and largest score seen (`min_reward`, `max_reward`).
struct Extremes {
    var minimum = Double.infinity, maximum = -Double.infinity

    mutating func add(_ values: [Double]) {
        for value in values { minimum = Swift.min(minimum, value); maximum = Swift.max(maximum, value) }
    }

    mutating func add(_ other: Extremes) { minimum = Swift.min(minimum, other.minimum); maximum = Swift.max(maximum, other.maximum) }

    /// Nothing before any score was seen.
    var metrics: [String: Double] { minimum <= maximum ? ["min_reward": minimum, "max_reward": maximum] : [:] }
}
