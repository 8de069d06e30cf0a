import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks
import Training
@testable import Alignment
@testable import LanguageModels

/// Pairs "a+b=" → the right sum (chosen) and a wrong one (rejected).
func preferenceRows(_ count: Int, seed: Int = 3) -> [String] {
    var rng = SplitMix64(seed: UInt64(seed))
    return (0..<count).map { _ in
        let a = Int(rng.next() % 50), b = Int(rng.next() % 50)
        return "{\"prompt\": \"\(a)+\(b)=\", \"chosen\": \"\(a + b)\", \"rejected\": \"\(a + b + 1 + Int(rng.next() % 9))\"}"
    }
}

/// Ranked lists of 3 sums per prompt: right, off by one, far off.
func rankedRows(_ count: Int, seed: Int = 5) -> [String] {
    var rng = SplitMix64(seed: UInt64(seed))
    return (0..<count).map { _ in
        let a = Int(rng.next() % 50), b = Int(rng.next() % 50)
        return "{\"prompt\": \"\(a)+\(b)=\", \"responses\": [\"\(a + b + 20)\", \"\(a + b)\", \"\(a + b + 1)\"], \"scores\": [0, 2, 1]}"
    }
}

func preferenceData(_ rows: [String], _ model: LanguageModel, options: PreferenceDataOptions = PreferenceDataOptions()) throws -> PreferenceDataset {
    try PreferenceDataset(contentsOf: writeJSONL(rows), tokenizer: model.tokenizer!, eosTokenID: model.eosTokenIDs.first, options: options)
}

/// A float64 GPT-2 fixture policy, trained against a frozen float64 copy unless `reference` says otherwise.
/// How a test trainer gets its reference: a frozen float64 copy (or, with LoRA, the default), or as given.
enum TestReference { case frozenCopy, given(ReferenceSource?) }

func makePreferenceTrainer(rows: [String], method: PreferenceMethod = .dpo, reference: TestReference = .frozenCopy,
                           _ configure: (inout PreferenceConfiguration) -> Void = { _ in }) throws -> PreferenceTrainer {
    let model = try LanguageModel(directory: gpt2Directory, dtype: .float64)
    let data = try preferenceData(rows, model)
    var configuration = PreferenceConfiguration(method: method)
    configuration.training.learningRate = 1e-3
    configuration.training.lrSchedulerType = "constant"
    configuration.training.loggingSteps = 1
    configuration.training.perDeviceTrainBatchSize = 4
    configure(&configuration)
    let source: ReferenceSource?
    switch reference {
    case .given(let given): source = given
    case .frozenCopy: source = configuration.training.usesLoRA ? nil : .model(try LanguageModel(directory: gpt2Directory, dtype: .float64))
    }
    return try PreferenceTrainer(model: model, reference: source, train: data, configuration: configuration)
}

func parameterValues(_ trainer: PreferenceTrainer) -> [Double] { trainer.trainableParameters.flatMap { $0.1.doubles } }

func maxDifference(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }

@Suite("Preference trainer")
struct PreferenceTrainerTests {
    @Test("a policy equal to its reference starts at DPO's ln 2 with zero margins and no accuracy (ties count 0)")
    func startsAtLogTwo() throws {
        let trainer = try makePreferenceTrainer(rows: preferenceRows(8)) { $0.training.maxSteps = 1 }
        let metrics = try trainer.step().metrics
        #expect(abs(metrics["train/loss"]! - log(2.0)) < 1e-12)
        #expect(abs(metrics["train/rewards/margins"]!) < 1e-12)
        #expect(metrics["train/rewards/accuracies"] == 0)
        for key in ["rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected"] {
            #expect(metrics["train/" + key] != nil, "\(key) logged")
        }
    }

    @Test("summed completion log-probs through the trainer's chunked path equal the spec's sequence_logps on full logits, in value and gradient (float64)")
    func scoresEqualFullLogits() throws {
        let trainer = try makePreferenceTrainer(rows: preferenceRows(4))
        let model = trainer.model
        let sequences = trainer.train.pairs.flatMap { [$0.chosen, $0.rejected] }
        let weight = model.decoder.namedParameters().first { $0.0.hasSuffix("wte.weight") || $0.0.hasSuffix("embed_tokens.weight") }!.1
        weight.zeroGrad()
        let chunked = PreferenceTrainer.score(model, sequences).sums
        chunked.sum().backward()
        let chunkedGradient = weight.grad!.doubles
        weight.zeroGrad()
        let batch = TokenBatch(sequences.map { $0.prompt + $0.completion }, padding: .right, padID: model.padTokenID)
        let logits = model.decoder.logits(batch.ids, positions: batch.positions, mask: batch.causalMask)
        var mask = [Double](repeating: 0, count: batch.rows * batch.columns)
        for (row, sequence) in sequences.enumerated() {
            for j in 0..<sequence.completion.count { mask[row * batch.columns + sequence.prompt.count + j] = 1 }
        }
        let full = SequenceLogProbabilities.compute(logits: logits, inputIDs: batch.ids, completionMask: Tensor(mask, shape: [batch.rows, batch.columns]))
        full.summed.sum().backward()
        #expect(maxDifference(chunked.doubles, full.summed.doubles) < 1e-10)
        #expect(maxDifference(chunkedGradient, weight.grad!.doubles) < 1e-10)
    }

    @Test("shared prompts: one row per pair gives the log-probs and gradients of the two sequences apart (float64), and the path is counted")
    func sharedPrompts() throws {
        let trainer = try makePreferenceTrainer(rows: preferenceRows(5))
        let model = trainer.model
        let pairs = trainer.train.pairs
        let weight = model.decoder.namedParameters().first { $0.0.hasSuffix("wte.weight") }!.1
        func run(_ body: () -> (sums: Tensor, lengths: [Int], logitSums: [Double], tokens: Int)) -> (values: [Double], gradient: [Double], logits: [Double], lengths: [Int]) {
            weight.zeroGrad()
            let scored = body()
            (scored.sums * Tensor((0..<10).map { Double($0) + 1 })).sum().backward()
            return (scored.sums.doubles, weight.grad!.doubles, scored.logitSums, scored.lengths)
        }
        let shared = run { PreferenceTrainer.scoreSharingPrompts(model, chosen: pairs.map(\.chosen), rejected: pairs.map(\.rejected)) }
        let apart = run { PreferenceTrainer.score(model, pairs.map(\.chosen) + pairs.map(\.rejected)) }
        #expect(maxDifference(shared.values, apart.values) < 1e-10)
        #expect(maxDifference(shared.gradient, apart.gradient) < 1e-10)
        #expect(maxDifference(shared.logits, apart.logits) < 1e-10)
        #expect(shared.lengths == apart.lengths)
        // The trainer takes the shared path by default and the plain one when switched off; the run is the same.
        let off = try makePreferenceTrainer(rows: preferenceRows(8)) { $0.sharePrompts = false; $0.training.maxSteps = 2 }
        let on = try makePreferenceTrainer(rows: preferenceRows(8)) { $0.training.maxSteps = 2 }
        for _ in 0..<2 { _ = try off.step() }
        #expect(off.sharedPromptBatches == 0)
        for _ in 0..<2 { _ = try on.step() }
        #expect(on.sharedPromptBatches == 2 * 2, "policy and reference in each of two steps")
        #expect(maxDifference(parameterValues(on), parameterValues(off)) < 1e-10)
    }

    @Test("gradient accumulation: 1×8, 2×4 and 4×2 micro-batches give the same update (float64)")
    func accumulation() throws {
        var results: [[Double]] = []
        for (batch, accumulation) in [(8, 1), (4, 2), (2, 4)] {
            let trainer = try makePreferenceTrainer(rows: preferenceRows(8)) {
                $0.training.perDeviceTrainBatchSize = batch
                $0.training.gradientAccumulationSteps = accumulation
                $0.training.maxGradNorm = 0
                $0.training.maxSteps = 2
            }
            _ = try trainer.step()
            _ = try trainer.step()
            results.append(parameterValues(trainer))
        }
        let before = try parameterValues(makePreferenceTrainer(rows: preferenceRows(8)))
        let scale = maxDifference(results[0], before)
        #expect(scale > 1e-5)
        for other in results.dropFirst() { #expect(maxDifference(other, results[0]) <= 1e-6 * scale) }
    }

    @Test("LoRA: the reference 'adapters disabled' equals a separate frozen copy of the base model, step for step")
    func adaptersDisabledReference() throws {
        func configure(_ c: inout PreferenceConfiguration) { c.training.loraR = 4; c.training.maxSteps = 3 }
        let shared = try makePreferenceTrainer(rows: preferenceRows(8), configure)
        guard case .adaptersDisabled = shared.reference else { Issue.record("LoRA without a reference uses the base model"); return }
        let copied = try makePreferenceTrainer(rows: preferenceRows(8), reference: .given(.model(try LanguageModel(directory: gpt2Directory, dtype: .float64))), configure)
        var a: [Double] = [], b: [Double] = []
        for _ in 0..<3 {
            a.append(try shared.step().metrics["train/loss"]!)
            b.append(try copied.step().metrics["train/loss"]!)
        }
        #expect(maxDifference(a, b) < 1e-12)
        #expect(a[2] < a[0], "DPO lowers its loss on the training pairs")
        #expect(maxDifference(parameterValues(shared), parameterValues(copied)) < 1e-12)
        #expect(shared.trainableParameters.allSatisfy { $0.0.contains("lora_") })
    }

    @Test("precomputed reference log-probs give the same run as scoring the frozen reference live; the cache key follows model and data")
    func precomputed() throws {
        let live = try makePreferenceTrainer(rows: preferenceRows(8)) { $0.training.maxSteps = 3 }
        let table = try PreferenceTrainer.referenceLogProbabilities(of: live.train, under: LanguageModel(directory: gpt2Directory, dtype: .float64), batchSize: 3)
        #expect(table.values.count == 8 && table.values.allSatisfy { $0.count == 2 })
        let cached = try makePreferenceTrainer(rows: preferenceRows(8), reference: .given(.precomputed(train: table, evaluation: nil))) { $0.training.maxSteps = 3 }
        for _ in 0..<3 { _ = try live.step(); _ = try cached.step() }
        #expect(maxDifference(parameterValues(live), parameterValues(cached)) < 1e-12)

        let model = try LanguageModel(directory: gpt2Directory)
        let key = try ReferenceCache.key(modelDirectory: gpt2Directory, data: preferenceData(preferenceRows(8), model))
        #expect(key == (try ReferenceCache.key(modelDirectory: gpt2Directory, data: preferenceData(preferenceRows(8), model))))
        #expect(key != (try ReferenceCache.key(modelDirectory: gpt2Directory, data: preferenceData(preferenceRows(8, seed: 4), model))))
        #expect(key != (try ReferenceCache.key(modelDirectory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"), data: preferenceData(preferenceRows(8), model))))
        let cache = ReferenceCache(directory: try temporaryDirectory())
        try cache.store(table, key: key)
        #expect(cache.load(key)?.values == table.values)
    }

    @Test("resume: 2 steps, checkpoint, a fresh trainer resumes and 2 more = 4 straight (bit-identical)", arguments: [false, true])
    func resume(lora: Bool) throws {
        func configure(_ c: inout PreferenceConfiguration) {
            c.training.perDeviceTrainBatchSize = 3
            c.training.numTrainEpochs = 2
            c.training.lrSchedulerType = "cosine"
            c.training.warmupRatio = 0.2
            c.lossTypes = [.sigmoid, .sft]
            c.lossWeights = [1, 0.2]
            if lora { c.training.loraR = 2; c.training.loraDropout = 0.2; c.disableDropout = false }
        }
        let rows = preferenceRows(6)
        let straight = try makePreferenceTrainer(rows: rows, configure)
        #expect(straight.plannedSteps == 4)
        for _ in 0..<4 { _ = try straight.step() }
        let first = try makePreferenceTrainer(rows: rows, configure)
        for _ in 0..<2 { _ = try first.step() }
        let file = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        try first.captureCheckpoint().write(to: file)
        LibTorch.manualSeed(999)
        let resumed = try makePreferenceTrainer(rows: rows, configure)
        try resumed.restore(TrainingCheckpoint.read(from: file))
        for _ in 0..<2 { _ = try resumed.step() }
        #expect(parameterValues(resumed) == parameterValues(straight))
    }

    @Test("listwise: dpo_plackett_luce on lists of two equals sigmoid DPO on the same pairs")
    func plackettLuceOfTwo() throws {
        let pairs = preferenceRows(4)
        let lists = pairs.map { row -> String in
            let object = try! JSONSerialization.jsonObject(with: Data(row.utf8)) as! [String: String]
            return "{\"prompt\": \"\(object["prompt"]!)\", \"responses\": [\"\(object["rejected"]!)\", \"\(object["chosen"]!)\"], \"ranks\": [2, 1]}"
        }
        let sigmoid = try makePreferenceTrainer(rows: pairs) { $0.training.maxSteps = 2 }
        let listwise = try makePreferenceTrainer(rows: lists) { $0.lossTypes = [.dpoPlackettLuce]; $0.training.maxSteps = 2 }
        for _ in 0..<2 {
            let a = try sigmoid.step().metrics["train/loss"]!, b = try listwise.step().metrics["train/loss"]!
            #expect(abs(a - b) < 1e-12)
        }
    }

    @Test("LiPO-λ and PRO train on ranked lists and lower their loss")
    func listwiseLearns() throws {
        for loss in [PreferenceLoss.lipoLambda, .pro] {
            let trainer = try makePreferenceTrainer(rows: rankedRows(8)) { $0.lossTypes = [loss]; $0.training.maxSteps = 4; $0.training.perDeviceTrainBatchSize = 8 }
            var losses: [Double] = []
            for _ in 0..<4 { losses.append(try trainer.step().metrics["train/loss"]!) }
            #expect(losses[3] < losses[0], "\(loss.rawValue): \(losses)")
        }
    }

    @Test("sft beside a listwise loss is the token-mean NLL of each list's best response; the combination validates")
    func listwiseSFT() throws {
        let policy = Tensor([[-3.0, -5.0, -9.0], [-2.0, -4.0, -1.0]]), lengths = Tensor([[2.0, 3.0, 1.0], [4.0, 1.0, 1.0]])
        let lists = ListLogProbabilities(policy: policy, lengths: lengths, scores: Tensor([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]))
        let result = try PreferenceLoss.sft.evaluate(lists, PreferenceLossParameters())
        #expect(abs(result.loss.item(Double.self) - (3.0 + 2.0) / (2.0 + 4.0)) < 1e-12)
        var c = PreferenceConfiguration()
        c.lossTypes = [.lipoLambda, .sft]
        c.lossWeights = [1, 0.5]
        try c.validate()
        let trainer = try makePreferenceTrainer(rows: rankedRows(8)) { $0.lossTypes = [.lipoLambda, .sft]; $0.lossWeights = [1, 0.5]; $0.training.maxSteps = 1 }
        let lipoOnly = try makePreferenceTrainer(rows: rankedRows(8)) { $0.lossTypes = [.lipoLambda]; $0.training.maxSteps = 1 }
        #expect(try trainer.step().metrics["train/loss"]! > lipoOnly.step().metrics["train/loss"]!)
    }

    @Test("a ranking with ties is refused by the losses that need a strict one, naming file, line and field")
    func tiedRanks() throws {
        let rows = rankedRows(2) + ["{\"prompt\": \"1+1=\", \"responses\": [\"2\", \"3\"], \"scores\": [1, 1]}"]
        do {
            _ = try makePreferenceTrainer(rows: rows) { $0.lossTypes = [.dpoPlackettLuce] }
            Issue.record("ties accepted")
        } catch let error as DataError {
            #expect(error.message.contains(":3: field 'scores': tied scores [1.0, 1.0], but dpo_plackett_luce needs a strict ranking"), "\(error.message)")
        }
        // LiPO-λ takes graded labels, ties included.
        _ = try makePreferenceTrainer(rows: rows) { $0.lossTypes = [.lipoLambda] }
    }

    @Test("the data's layout must be the method's: pairs for sigmoid, lists for listwise losses, labelled rows for KTO")
    func layoutMismatch() throws {
        #expect(throws: DataError.self) { _ = try makePreferenceTrainer(rows: rankedRows(2)) }
        #expect(throws: DataError.self) { _ = try makePreferenceTrainer(rows: preferenceRows(2)) { $0.lossTypes = [.lipoLambda] } }
        #expect(throws: DataError.self) { _ = try makePreferenceTrainer(rows: preferenceRows(2), method: .kto) }
        #expect(throws: DataError.self) { _ = try makePreferenceTrainer(rows: preferenceRows(2)) { $0.lossTypes = [.sigmoid, .lipoLambda] } }
    }

    @Test("SimPO and ORPO need no reference; their first loss follows from the policy's own averages")
    func referenceFree() throws {
        for method in [PreferenceMethod.simpo, .orpo] {
            let trainer = try makePreferenceTrainer(rows: preferenceRows(4), method: method, reference: .given(nil)) { $0.training.maxSteps = 1 }
            guard case .none = trainer.reference else { Issue.record("\(method) keeps no reference"); continue }
            let sequences = trainer.train.pairs.map(\.chosen) + trainer.train.pairs.map(\.rejected)
            let scored = withNoGrad { PreferenceTrainer.score(trainer.model, sequences) }
            let sums = scored.sums.doubles
            let average = zip(sums, scored.lengths).map { $0 / Double($1) }
            let expected: Double
            if method == .simpo {
                var total = 0.0
                for i in 0..<4 {
                    let z: Double = 2.0 * (average[i] - average[i + 4]) - 0.5
                    total += log1p(exp(-z))
                }
                expected = total / 4
            } else {
                let nll = -sums[0..<4].reduce(0, +) / Double(scored.lengths[0..<4].reduce(0, +))
                func log1mexp(_ x: Double) -> Double { log(-expm1(x)) }
                var total = 0.0
                for i in 0..<4 {
                    let logOdds: Double = (average[i] - average[i + 4]) - (log1mexp(average[i]) - log1mexp(average[i + 4]))
                    total += 0.1 * log1p(exp(-logOdds))
                }
                expected = nll + total / 4
            }
            let loss = try trainer.step().metrics["train/loss"]!
            #expect(abs(loss - expected) < 1e-9, "\(method): \(loss) vs \(expected)")
        }
    }

    @Test("KTO: with policy = reference every response sits at the reference point, loss = mean weight × ½; the KL estimate is logged")
    func kto() throws {
        let rows = (0..<8).map { "{\"prompt\": \"\($0)+1=\", \"completion\": \"\($0 + ($0 % 2))\", \"label\": \($0 % 2 == 0)}" }
        let trainer = try makePreferenceTrainer(rows: rows, method: .kto) { $0.desirableWeight = 1.0; $0.undesirableWeight = 0.5; $0.training.maxSteps = 2; $0.training.perDeviceTrainBatchSize = 8 }
        let first = try trainer.step().metrics
        #expect(abs(first["train/loss"]! - 0.375) < 1e-12)
        #expect(first["train/kl"] == 0)
        let second = try trainer.step().metrics
        #expect(second["train/loss"]! < first["train/loss"]!)
    }

    @Test("settings: TRL's snake_case keys; SFT-only keys, unknown losses and mismatched weights are errors naming the key")
    func configuration() throws {
        var c = PreferenceConfiguration()
        #expect(c.training.learningRate == 1e-6 && c.parameters.beta == 0.1 && c.lossTypes == [.sigmoid])
        #expect(PreferenceConfiguration(method: .simpo).parameters.beta == 2.0)
        try c.set("loss_type", .string("sigmoid,sft"), source: "--loss-type")
        try c.set("loss_weights", .list(["1", "0.2"]), source: "f.yaml")
        try c.set("max_length", .null, source: "f.yaml")
        #expect(c.lossTypes == [.sigmoid, .sft] && c.lossWeights == [1, 0.2] && c.data.maxLength == nil)
        try c.validate()
        #expect(throws: DataError("--loss-type: loss_type: unknown loss 'dpo' (known: \(PreferenceLoss.allCases.map(\.rawValue).joined(separator: ", ")))")) {
            try c.set("loss_type", .string("dpo"), source: "--loss-type")
        }
        #expect(throws: DataError("f.yaml: 'packing' is an SFT setting; preference data is not packed or masked that way")) { try c.set("packing", .bool(true), source: "f.yaml") }
        c.lossWeights = [1]
        #expect(throws: DataError("loss_weights: 1 weights for 2 loss types (sigmoid,sft)")) { try c.validate() }
        var robust = PreferenceConfiguration()
        robust.lossTypes = [.robust]
        robust.parameters.labelSmoothing = 0.5
        #expect(throws: (any Error).self) { try robust.validate() }
    }
}
