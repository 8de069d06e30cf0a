import Foundation
import LanguageModels
import NeuralNetworks
import Torch
import Training

// Offline preference optimisation (DPO and its family, listwise DPO, ORPO, SimPO, KTO) as one trainer: each step
// scores the batch's responses under the policy in one forward pass (chosen and rejected, or all K responses of a
// list, side by side), takes the reference's scores from a frozen model, from the policy with its LoRA adapters off,
// or from a table computed once; and hands both to the objectives of `Objectives/`. Only the objectives differ
// between methods.

/// Where reference log-probabilities come from.
public enum ReferenceSource {
    /// The policy with its LoRA adapters disabled: the base weights, no second copy of the model.
    case adaptersDisabled
    /// A frozen model: a copy of the policy's starting weights, or another model with the same tokenizer.
    case model(LanguageModel)
    /// Computed once before training (see `PreferenceTrainer.referenceLogProbabilities`), for the training data
    /// and the held-out data.
    case precomputed(train: ReferenceLogProbabilities, evaluation: ReferenceLogProbabilities?)
    /// The method needs none (ORPO, SimPO, SLiC-HF, PRO, SFT).
    case none
}

/// One example's summed log-probabilities under the reference: [chosen, rejected] for pairs, K values for lists.
public struct ReferenceLogProbabilities: Sendable {
    public var values: [[Double]]
    public init(values: [[Double]]) { self.values = values }
}

/// Trains a policy on preference data with the objectives its configuration names.
public final class PreferenceTrainer: TrainingProcedure {
    public let model: LanguageModel
    public let reference: ReferenceSource
    public let configuration: PreferenceConfiguration
    public let train: PreferenceDataset
    public let evaluation: PreferenceDataset?
    public let label: String
    public var stepName: String { "optimizer step" }
    public private(set) var completedSteps = 0
    public let plannedSteps: Int
    public var completedUnits: Int { completedSteps }
    public var plannedUnits: Int { plannedSteps }
    /// Forward passes (policy and reference) that scored pairs with their prompt shared, so the fast path is
    /// observable (`PreferenceConfiguration.sharePrompts`).
    public private(set) var sharedPromptBatches = 0
    /// Real tokens of every policy forward pass so far.
    public private(set) var trainedTokens = 0
    public let trainableParameters: [(String, Tensor)]
    public let optimizer: Adam
    let microBatchesPerEpoch: Int
    let stepsPerEpoch: Int
    let schedule: Schedule
    let dropoutGenerator: Generator
    let weights: [Double]
    var window = MetricWindow()

    /// Prepares a run. With `configuration.training.loraR` > 0 (or adapters already on the model) only LoRA factors
    /// train and, when no reference is given, the reference is the policy with adapters disabled; otherwise every
    /// weight trains and the caller gives the reference (`.model` of a frozen copy, or `.precomputed`).
    /// Throws when the data's format does not suit the method, or a list has tied scores that the loss forbids
    /// (naming the file and line).
    public init(model: LanguageModel, reference: ReferenceSource?, train: PreferenceDataset, evaluation: PreferenceDataset? = nil,
                configuration: PreferenceConfiguration, label: String? = nil) throws {
        try configuration.validate()
        self.model = model
        self.configuration = configuration
        self.train = train
        self.evaluation = evaluation
        self.label = label ?? "\(configuration.method.rawValue) \(model.directory.lastPathComponent)"
        for data in [train] + (evaluation.map { [$0] } ?? []) { try Self.check(data, configuration) }
        let training = configuration.training
        dropoutGenerator = try prepareForTraining(model, training, disableDropout: configuration.disableDropout)
        if configuration.method.usesReference(configuration.lossTypes) {
            switch reference {
            case nil:
                guard !model.adapters.isEmpty else {
                    throw DataError("\(configuration.method.rawValue) needs a reference model: give a frozen copy, --ref-model, or train LoRA adapters (the reference is then the base model)")
                }
                self.reference = .adaptersDisabled
            case .adaptersDisabled?:
                guard !model.adapters.isEmpty else { throw DataError("the reference is 'adapters disabled', but the policy has no adapters") }
                self.reference = .adaptersDisabled
            case .none?:
                throw DataError("\(configuration.lossTypes.map(\.rawValue).joined(separator: ",")) needs reference log-probabilities")
            case let given?:
                self.reference = given
            }
            if case .precomputed(let table, let held) = self.reference {
                guard configuration.method != .kto else { throw DataError("precompute_ref_log_probs is not available for KTO (its KL batch changes with the data order)") }
                guard table.values.count == train.count else {
                    throw DataError("precomputed reference log-probabilities cover \(table.values.count) examples, the data has \(train.count)")
                }
                if let evaluation, held?.values.count != evaluation.count {
                    throw DataError("precomputed reference log-probabilities do not cover the \(evaluation.count) held-out examples")
                }
            }
        } else {
            self.reference = .none
        }
        trainableParameters = model.decoder.namedParameters().filter { $0.1.requiresGrad }
        optimizer = Adam.adamW(parameters: trainableParameters.map(\.1), learningRate: training.learningRate,
                               betas: (training.adamBeta1, training.adamBeta2), eps: training.adamEpsilon, weightDecay: training.weightDecay)
        microBatchesPerEpoch = (train.count + training.perDeviceTrainBatchSize - 1) / training.perDeviceTrainBatchSize
        stepsPerEpoch = (microBatchesPerEpoch + training.gradientAccumulationSteps - 1) / training.gradientAccumulationSteps
        plannedSteps = training.maxSteps > 0 ? training.maxSteps
            : Swift.max(1, Int((Double(stepsPerEpoch) * training.numTrainEpochs).rounded(.up)))
        schedule = try training.schedule(totalSteps: plannedSteps)
        weights = configuration.lossWeights ?? [Double](repeating: 1, count: configuration.lossTypes.count)
    }

    /// The data's layout must be the method's; rankings must be strict where the loss needs it.
    static func check(_ data: PreferenceDataset, _ configuration: PreferenceConfiguration) throws {
        let listwise = configuration.method == .dpo && configuration.lossTypes.contains(where: \.isListwise)
        let wanted: [PreferenceDataFormat] = configuration.method == .kto ? [.unpaired] : listwise ? [.ranked] : [.paired, .implicitPrompt]
        guard wanted.contains(data.format) else {
            let what = configuration.method == .dpo ? "loss_type \(configuration.lossTypes.map(\.rawValue).joined(separator: ","))" : configuration.method.rawValue
            throw DataError("\(data.path): \(what) trains on \(wanted.map(\.rawValue).joined(separator: " or ")) rows, but the file holds \(data.format.rawValue) rows")
        }
        if let strict = configuration.lossTypes.first(where: \.forbidsTiedRanks), listwise {
            for (k, list) in data.lists.enumerated() where list.hasTies {
                throw DataError(file: data.path, line: data.lines[k], field: "scores",
                                "tied scores \(list.scores), but \(strict.rawValue) needs a strict ranking (no two responses equal)")
            }
        }
    }

    // MARK: Batches

    /// Examples in epoch `epoch`'s order (a seeded shuffle, so any step's batch follows from its index).
    func epochOrder(_ epoch: Int) -> [Int] { seededShuffle(count: train.count, seed: configuration.training.seed, epoch: epoch) }

    /// The micro-batches (example indices) of optimizer step `step` (0-based).
    public func microBatches(ofStep step: Int) -> [[Int]] {
        let epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        let order = epochOrder(epoch)
        let size = configuration.training.perDeviceTrainBatchSize, accumulation = configuration.training.gradientAccumulationSteps
        let first = within * accumulation, last = Swift.min(first + accumulation, microBatchesPerEpoch)
        return (first..<last).map { k in Array(order[(k * size)..<Swift.min((k + 1) * size, order.count)]) }
    }

    /// Summed log-probabilities [n] of each sequence's completion under `lm`, with the completion lengths, the
    /// sum of mean logits over each completion's tokens (TRL's `logits/…` metric; detached) and the real tokens.
    ///
    /// Rows are right-padded and run under plain causal attention: no real token attends to a later position, so
    /// the padding never touches a scored log-probability and the fused causal kernel applies.
    static func score(_ lm: LanguageModel, _ sequences: [PreferenceSequence], meanLogits: Bool = true) -> (sums: Tensor, lengths: [Int], logitSums: [Double], tokens: Int) {
        let batch = TokenBatch(sequences.map { $0.prompt + $0.completion }, padding: .right, padID: lm.padTokenID)
        var sources: [Int64] = [], targets: [Int64] = [], owners: [Int64] = []
        let width = batch.columns
        for (row, sequence) in sequences.enumerated() {
            for j in 0..<sequence.completion.count {
                let column = sequence.prompt.count + j
                sources.append(Int64(row * width + column - 1))
                targets.append(Int64(sequence.completion[j]))
                owners.append(Int64(row))
            }
        }
        let decoder = lm.decoder
        let selected = decoder.scoredHiddenStates(batch.ids, positions: batch.positions, mask: nil, sources: sources)
        let tokenLogProbabilities = decoder.logProbabilities(selectedHiddenStates: selected, targets: targets)
        let owner = Tensor(owners)
        let sums = Tensor.zeros([sequences.count], dtype: tokenLogProbabilities.dtype).scatterAdd(dim: 0, index: owner, source: tokenLogProbabilities)
        let logitSums: [Double] = !meanLogits ? [] : withNoGrad {
            let meanRow = decoder.outputEmbedding.detach().to(dtype: selected.dtype).mean(dim: 0)
            let perToken = selected.detach().matmul(meanRow.unsqueezed(1)).squeezed(1).to(dtype: .float64)
            return Tensor.zeros([sequences.count], dtype: .float64).scatterAdd(dim: 0, index: owner, source: perToken).scalars(as: Double.self)
        }
        return (sums, sequences.map(\.completion.count), logitSums, batch.lengths.reduce(0, +))
    }

    /// `score` for pairs whose chosen and rejected responses share their prompt, in one row per pair: the prompt,
    /// then the chosen response, then the rejected one at the positions it would have after the prompt alone. The
    /// rejected tokens attend to the prompt and to themselves, never to the chosen ones, so every log-probability is
    /// the one `score` gives the two sequences apart, while the prompt runs through the model once instead of twice.
    /// Returns the same layout as `score(chosen + rejected)`.
    static func scoreSharingPrompts(_ lm: LanguageModel, chosen: [PreferenceSequence], rejected: [PreferenceSequence],
                                    meanLogits: Bool = true) -> (sums: Tensor, lengths: [Int], logitSums: [Double], tokens: Int) {
        let b = chosen.count
        let rows = (0..<b).map { chosen[$0].prompt + chosen[$0].completion + rejected[$0].completion }
        let width = Swift.max(1, rows.map(\.count).max() ?? 1)
        var ids = [Int64](repeating: Int64(lm.padTokenID), count: b * width)
        var positions = [Int64](repeating: 0, count: b * width)
        // Segment of each column: 0 prompt, 1 chosen, 2 rejected; padding −1 − column (a segment of its own).
        var segments = (0..<(b * width)).map { -Int64($0 % width) - 1 }
        var sources: [Int64] = [], targets: [Int64] = [], owners: [Int64] = []
        for r in 0..<b {
            let prompt = chosen[r].prompt.count, c = chosen[r].completion.count
            for (column, id) in rows[r].enumerated() {
                let flat = r * width + column
                ids[flat] = Int64(id)
                let segment = column < prompt ? 0 : column < prompt + c ? 1 : 2
                segments[flat] = Int64(segment)
                positions[flat] = Int64(segment == 2 ? column - c : column)
            }
            for j in 0..<c {
                sources.append(Int64(r * width + prompt + j - 1)); targets.append(Int64(chosen[r].completion[j])); owners.append(Int64(r))
            }
            for j in 0..<rejected[r].completion.count {
                // The first rejected token follows the prompt's last token; the others follow their own predecessor.
                let source = j == 0 ? prompt - 1 : prompt + c + j - 1
                sources.append(Int64(r * width + source)); targets.append(Int64(rejected[r].completion[j])); owners.append(Int64(b + r))
            }
        }
        let segment = Tensor(segments, shape: [b, width])
        let query = segment.unsqueezed(2), key = segment.unsqueezed(1)
        // Same segment, or a prompt key seen from a response; and causal.
        let visible = (query .== key).logicalOr((key .== Tensor(Int64(0))).logicalAnd(query .>= Tensor(Int64(0))))
        let mask = visible.logicalAnd(Tensor.ones([width, width], dtype: .bool).tril()).unsqueezed(1)
        let decoder = lm.decoder
        let selected = decoder.scoredHiddenStates(Tensor(ids, shape: [b, width]), positions: Tensor(positions, shape: [b, width]),
                                                  mask: mask, sources: sources)
        let tokenLogProbabilities = decoder.logProbabilities(selectedHiddenStates: selected, targets: targets)
        let owner = Tensor(owners)
        let sums = Tensor.zeros([2 * b], dtype: tokenLogProbabilities.dtype).scatterAdd(dim: 0, index: owner, source: tokenLogProbabilities)
        let logitSums: [Double] = !meanLogits ? [] : withNoGrad {
            let meanRow = decoder.outputEmbedding.detach().to(dtype: selected.dtype).mean(dim: 0)
            let perToken = selected.detach().matmul(meanRow.unsqueezed(1)).squeezed(1).to(dtype: .float64)
            return Tensor.zeros([2 * b], dtype: .float64).scatterAdd(dim: 0, index: owner, source: perToken).scalars(as: Double.self)
        }
        return (sums, chosen.map(\.completion.count) + rejected.map(\.completion.count), logitSums, rows.reduce(0) { $0 + $1.count })
    }

    /// Scores a micro-batch's pairs: sharing prompts when `configuration.sharePrompts` and every pair's chosen and
    /// rejected prompts are equal, else as 2B separate sequences. Same layout either way (chosen rows, then rejected).
    func scorePairs(_ lm: LanguageModel, _ pairs: [PreferencePair], meanLogits: Bool) -> (sums: Tensor, lengths: [Int], logitSums: [Double], tokens: Int) {
        if configuration.sharePrompts && pairs.allSatisfy({ $0.chosen.prompt == $0.rejected.prompt }) {
            sharedPromptBatches += 1
            return Self.scoreSharingPrompts(lm, chosen: pairs.map(\.chosen), rejected: pairs.map(\.rejected), meanLogits: meanLogits)
        }
        return Self.score(lm, pairs.map(\.chosen) + pairs.map(\.rejected), meanLogits: meanLogits)
    }

    /// Reference log-probabilities [n] of some examples' sequences (detached, in `scoreDType`). A precomputed table is
    /// read slot-major (every example's first response, then every example's second, …) for `data`'s examples.
    func referenceScores(_ indices: [Int], _ sequences: [PreferenceSequence], pairs: [PreferencePair]? = nil, data: PreferenceDataset,
                         isTraining: Bool) -> Tensor? {
        func live(_ lm: LanguageModel) -> Tensor {
            pairs.map { scorePairs(lm, $0, meanLogits: false).sums } ?? Self.score(lm, sequences, meanLogits: false).sums
        }
        switch reference {
        case .none: return nil
        case .precomputed(let trainTable, let heldTable):
            let table = isTraining ? trainTable : heldTable!
            let perExample = table.values[indices[0]].count
            var flat: [Double] = []
            for slot in 0..<perExample { for i in indices { flat.append(table.values[i][slot]) } }
            return Tensor(flat, shape: [flat.count]).to(dtype: scoreDType)
        case .adaptersDisabled:
            return withInferenceMode { withAdaptersDisabled(model) { live(model) } }
        case .model(let frozen):
            return withInferenceMode { live(frozen).to(dtype: scoreDType) }
        }
    }

    /// The dtype log-probabilities are computed in: float64 for a float64 model, else float32.
    var scoreDType: DType { model.dtype == .float64 ? .float64 : .float32 }

    /// The loss summed over a micro-batch's examples (gradients flow from it), with metrics weighted by example.
    func microBatchLoss(_ indices: [Int], data: PreferenceDataset, isTraining: Bool) throws -> (lossSum: Tensor, metrics: [String: Double], tokens: Int) {
        let b = indices.count
        let parameters = configuration.parameters
        var metrics: [String: Double] = [:]
        func add(_ result: ObjectiveResult, weight: Double, first: Bool) -> Tensor {
            if first { for (k, v) in result.metrics { metrics[k] = v } }
            return result.losses.sum() * weight
        }
        switch configuration.method {
        case .dpo where data.format == .ranked:
            let k = data.lists[indices[0]].responses.count
            guard indices.allSatisfy({ data.lists[$0].responses.count == k }) else {
                throw DataError("\(data.path): lists of different lengths in one batch (listwise losses need equal K; give lists of one length)")
            }
            // Sequences ordered example-major: list b's response j at b·K + j.
            let sequences = indices.flatMap { data.lists[$0].responses }
            let scored = Self.score(model, sequences)
            var referenceFlat: Tensor? = nil
            if case .precomputed(let trainTable, let heldTable) = reference {
                let table = isTraining ? trainTable : heldTable!
                referenceFlat = Tensor(indices.flatMap { table.values[$0] }, shape: [b * k]).to(dtype: scoreDType)
            } else {
                referenceFlat = referenceScores(indices, sequences, data: data, isTraining: isTraining)
            }
            let lists = ListLogProbabilities(policy: scored.sums.reshaped([b, k]), reference: referenceFlat?.reshaped([b, k]),
                                             lengths: Tensor(scored.lengths.map(Double.init), shape: [b, k]).to(dtype: scoreDType),
                                             scores: Tensor(indices.flatMap { data.lists[$0].scores }, shape: [b, k]).to(dtype: scoreDType))
            var total = Tensor.zeros([], dtype: scored.sums.dtype)
            for (n, loss) in configuration.lossTypes.enumerated() {
                total = total + add(try loss.evaluate(lists, parameters), weight: weights[n], first: n == 0)
            }
            for key in metrics.keys { metrics[key]! *= Double(b) }
            return (total, metrics, scored.tokens)
        case .dpo, .orpo, .simpo:
            let batchPairs = indices.map { data.pairs[$0] }
            let sequences = batchPairs.map(\.chosen) + batchPairs.map(\.rejected)
            let scored = scorePairs(model, batchPairs, meanLogits: true)
            let chosen = scored.sums.narrow(dim: 0, start: 0, length: b), rejected = scored.sums.narrow(dim: 0, start: b, length: b)
            let lengths = Tensor(scored.lengths.map(Double.init), shape: [2 * b]).to(dtype: scoreDType)
            let chosenLengths = lengths.narrow(dim: 0, start: 0, length: b), rejectedLengths = lengths.narrow(dim: 0, start: b, length: b)
            let chosenTokens = Double(scored.lengths[..<b].reduce(0, +)), rejectedTokens = Double(scored.lengths[b...].reduce(0, +))
            metrics["logits/chosen"] = scored.logitSums[..<b].reduce(0, +) / Swift.max(1, chosenTokens) * Double(b)
            metrics["logits/rejected"] = scored.logitSums[b...].reduce(0, +) / Swift.max(1, rejectedTokens) * Double(b)
            var total = Tensor.zeros([], dtype: scored.sums.dtype)
            switch configuration.method {
            case .orpo, .simpo:
                let averageChosen = chosen / chosenLengths.clamp(min: 1), averageRejected = rejected / rejectedLengths.clamp(min: 1)
                let result: (losses: Tensor, metrics: [String: Double])
                if configuration.method == .orpo {
                    let nll = -chosen.sum() / chosenLengths.sum().clamp(min: 1)
                    let orpo = try ORPO.evaluate(policyChosenAverage: averageChosen, policyRejectedAverage: averageRejected, chosenNLL: nll,
                                                 lambda: parameters.beta)
                    result = (orpo.losses, orpo.metrics)
                } else {
                    result = SimPO.evaluate(policyChosenAverage: averageChosen, policyRejectedAverage: averageRejected, beta: parameters.beta,
                                            gamma: configuration.simpoGamma, labelSmoothing: parameters.labelSmoothing)
                }
                for (k, v) in result.metrics { metrics[k] = v }
                total = result.losses.sum()
            default:
                let referenceBoth = referenceScores(indices, sequences, pairs: batchPairs, data: data, isTraining: isTraining)
                let pairs = PairLogProbabilities(
                    policyChosen: chosen, policyRejected: rejected,
                    referenceChosen: referenceBoth?.narrow(dim: 0, start: 0, length: b), referenceRejected: referenceBoth?.narrow(dim: 0, start: b, length: b),
                    chosenLengths: chosenLengths, rejectedLengths: rejectedLengths)
                for (n, loss) in configuration.lossTypes.enumerated() {
                    total = total + add(try loss.evaluate(pairs, parameters), weight: weights[n], first: n == 0)
                }
            }
            // Batch means → sums over examples, so micro-batches of a step add up to the step's mean.
            for key in metrics.keys where key != "logits/chosen" && key != "logits/rejected" { metrics[key]! *= Double(b) }
            return (total, metrics, scored.tokens)
        case .kto:
            let responses = indices.map { data.unpaired[$0] }
            let sequences = responses.map(\.sequence)
            // KL batch: each prompt with the previous example's completion (cyclically), scored without gradients.
            let mismatched = sequences.indices.map { i in
                PreferenceSequence(prompt: sequences[i].prompt, completion: sequences[(i + b - 1) % b].completion)
            }
            let scored = Self.score(model, sequences)
            let policyKL = withInferenceMode { Self.score(model, mismatched, meanLogits: false).sums }
            let reference = referenceScores(indices, sequences, data: data, isTraining: isTraining)!
            let referenceKL = referenceScores(indices, mismatched, data: data, isTraining: isTraining)!
            let labels = Tensor(responses.map { $0.desirable ? 1.0 : 0 }, shape: [b]).to(dtype: scoreDType)
            let result = KTO.evaluate(policy: scored.sums, reference: reference, labels: labels, policyKL: policyKL, referenceKL: referenceKL,
                                      beta: configuration.parameters.beta, desirableWeight: configuration.desirableWeight,
                                      undesirableWeight: configuration.undesirableWeight)
            let desirable = Double(responses.filter(\.desirable).count), undesirable = Double(b) - desirable
            for (key, value) in result.metrics {
                let weight = key.hasSuffix("chosen") ? desirable : key.hasSuffix("rejected") ? undesirable : Double(b)
                metrics[key] = value * weight
                metrics[key + "#count"] = weight
            }
            return (result.losses.sum(), metrics, scored.tokens)
        }
    }

    public func step() throws -> TrainingStepResult {
        let started = DispatchTime.now().uptimeNanoseconds
        model.decoder.train()
        optimizer.zeroGrad()
        let training = configuration.training
        let learningRate = training.learningRate * schedule.factor(at: completedSteps, of: plannedSteps)
        let batches = microBatches(ofStep: completedSteps)
        let examples = batches.reduce(0) { $0 + $1.count }
        var loss = 0.0, tokens = 0
        var sums = MetricSums()
        for indices in batches {
            let (lossSum, metrics, batchTokens) = try microBatchLoss(indices, data: train, isTraining: true)
            let scaled = lossSum / Double(examples)
            scaled.backward()
            loss += scaled.item(Double.self)
            tokens += batchTokens
            sums.add(metrics, examples: indices.count)
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
        var metrics: [String: Double] = [:]
        if completedSteps % training.loggingSteps == 0 || completedSteps == plannedSteps {
            metrics = window.metrics(prefix: "train/")
            metrics["train/learning_rate"] = learningRate
            metrics["train/epoch"] = Double(completedSteps) / Double(stepsPerEpoch)
            metrics["train/num_tokens"] = Double(trainedTokens)
            window = MetricWindow()
        }
        if let evaluation, (training.evalSteps > 0 && completedSteps % training.evalSteps == 0) || completedSteps == plannedSteps {
            for (key, value) in try evaluate(evaluation) { metrics["eval/" + key] = value }
        }
        return TrainingStepResult(metrics: metrics)
    }

    /// The mean loss and metrics over every example of `data`, without gradients.
    public func evaluate(_ data: PreferenceDataset) throws -> [String: Double] {
        model.decoder.eval()
        defer { model.decoder.train() }
        var sums = MetricSums(), loss = 0.0
        let size = configuration.training.perDeviceEvalBatchSize
        try withInferenceMode {
            for start in stride(from: 0, to: data.count, by: size) {
                let indices = Array(start..<Swift.min(start + size, data.count))
                let (lossSum, metrics, _) = try microBatchLoss(indices, data: data, isTraining: false)
                loss += lossSum.item(Double.self)
                sums.add(metrics, examples: indices.count)
            }
        }
        var result = sums.means()
        result["loss"] = loss / Double(Swift.max(1, data.count))
        return result
    }

    // MARK: Checkpoints

    public func captureCheckpoint() throws -> TrainingCheckpoint {
        try trainedStateCheckpoint(parameters: trainableParameters, optimizer: optimizer, dropoutGenerator: dropoutGenerator,
                                   step: completedSteps, tokens: trainedTokens, settings: configuration.json)
    }

    /// Continues from a checkpoint of the same run: the run then goes on exactly as if it had never stopped.
    public func restore(_ checkpoint: TrainingCheckpoint) throws {
        (completedSteps, trainedTokens) = try restoreTrainedState(checkpoint, parameters: trainableParameters, optimizer: optimizer,
                                                                  dropoutGenerator: dropoutGenerator, plannedSteps: plannedSteps)
    }

    /// Writes the result: a full Hugging Face directory, or with LoRA a PEFT adapter directory.
    public func saveModel(to directory: URL) throws {
        try saveTrainedModel(model, training: configuration.training, to: directory)
    }

    // MARK: Reference precomputation

    /// Summed log-probabilities of every example's responses under `lm` (no gradients), `batchSize` examples at a time.
    public static func referenceLogProbabilities(of data: PreferenceDataset, under lm: LanguageModel, batchSize: Int) -> ReferenceLogProbabilities {
        lm.decoder.eval()
        var values: [[Double]] = []
        withInferenceMode {
            for start in stride(from: 0, to: data.count, by: Swift.max(1, batchSize)) {
                let indices = Array(start..<Swift.min(start + batchSize, data.count))
                let groups: [[PreferenceSequence]] = indices.map { i in
                    switch data.format {
                    case .ranked: data.lists[i].responses
                    case .unpaired: [data.unpaired[i].sequence]
                    default: [data.pairs[i].chosen, data.pairs[i].rejected]
                    }
                }
                let sums = score(lm, groups.flatMap { $0 }, meanLogits: false).sums.to(dtype: .float64).scalars(as: Double.self)
                var offset = 0
                for group in groups {
                    values.append(Array(sums[offset..<(offset + group.count)]))
                    offset += group.count
                }
            }
        }
        return ReferenceLogProbabilities(values: values)
    }
}

/// Runs `body` with every LoRA adapter of `lm` disabled (the base model), restoring them afterwards.
public func withAdaptersDisabled<R>(_ lm: LanguageModel, _ body: () throws -> R) rethrows -> R {
    let adapters = lm.adapters.map(\.1)
    let states = adapters.map(\.isAdapterEnabled)
    for adapter in adapters { adapter.isAdapterEnabled = false }
    defer { for (adapter, state) in zip(adapters, states) { adapter.isAdapterEnabled = state } }
    return try body()
}

/// Metric sums over micro-batches: each value weighted by its examples (or by the `key#count` weight given).
struct MetricSums {
    var sums: [String: Double] = [:], counts: [String: Double] = [:]

    /// `metrics` hold sums over the micro-batch's examples (`key#count` gives a key's own count).
    mutating func add(_ metrics: [String: Double], examples: Int) {
        for (key, value) in metrics where !key.hasSuffix("#count") {
            sums[key, default: 0] += value
            counts[key, default: 0] += metrics[key + "#count"] ?? Double(examples)
        }
    }

    func means() -> [String: Double] {
        var result: [String: Double] = [:]
        for (key, sum) in sums where (counts[key] ?? 0) > 0 { result[key] = sum / counts[key]! }
        return result
    }
}

/// Sums over the steps between two logging points.
struct MetricWindow {
    var weightedLoss = 0.0, examples = 0, tokens = 0, seconds = 0.0, gradientNorms = 0.0, steps = 0
    var sums = MetricSums()

    mutating func add(loss: Double, examples: Int, tokens: Int, seconds: Double, gradientNorm: Double, sums step: MetricSums) {
        weightedLoss += loss * Double(examples)
        self.examples += examples
        self.tokens += tokens
        self.seconds += seconds
        gradientNorms += gradientNorm
        steps += 1
        for (key, value) in step.sums { sums.sums[key, default: 0] += value; sums.counts[key, default: 0] += step.counts[key] ?? 0 }
    }

    func metrics(prefix: String) -> [String: Double] {
        var result = [
            prefix + "loss": weightedLoss / Double(Swift.max(1, examples)),
            prefix + "grad_norm": gradientNorms / Double(Swift.max(1, steps)),
            prefix + "tokens_per_s": Double(tokens) / Swift.max(seconds, 1e-9),
            prefix + "examples_per_s": Double(examples) / Swift.max(seconds, 1e-9),
        ]
        for (key, value) in sums.means() { result[prefix + key] = value }
        return result
    }
}
