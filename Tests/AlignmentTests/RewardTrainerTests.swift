import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks
import Training
@testable import Alignment
@testable import LanguageModels

/// A score model made from the GPT-2 fixture and a reward trainer on `rows`. The new head is redrawn from its own
/// generator, so every call starts alike even while other tests draw from the global one in parallel.
func makeRewardTrainer(rows: [String], dtype: DType = .float64, _ configure: (inout RewardConfiguration) -> Void = { _ in }) throws -> RewardTrainer {
    let model = try LanguageModel(directory: gpt2Directory, dtype: dtype, scoreLabels: 1)
    let head = model.scoreHead!.projection.weight
    Initializer.uniform(low: -0.125, high: 0.125).apply(to: head, generator: Generator(seed: 11))
    var configuration = RewardConfiguration()
    configuration.training.learningRate = 1e-3
    configuration.training.lrSchedulerType = "constant"
    configuration.training.loggingSteps = 1
    configuration.training.perDeviceTrainBatchSize = 4
    configure(&configuration)
    let data = try PreferenceDataset(contentsOf: writeJSONL(rows), tokenizer: model.tokenizer!, eosTokenID: model.eosTokenIDs.first,
                                     options: configuration.dataOptions)
    return try RewardTrainer(model: model, train: data, configuration: configuration)
}

func rewardParameters(_ trainer: RewardTrainer) -> [Double] { trainer.trainableParameters.flatMap { $0.1.doubles } }

/// Scores [n] through the public readout (`LanguageModel.scores`, last real token of a right-padded batch).
func readoutScores(_ model: LanguageModel, _ sequences: [PreferenceSequence]) -> Tensor {
    withNoGrad {
        model.scores(TokenBatch(sequences.map { $0.prompt + $0.completion }, padding: .right, padID: model.padTokenID)).squeezed(-1)
    }
}

/// Adds `"margin": value` (or nothing for nil) to JSONL object literals.
func withMargins(_ rows: [String], _ margins: [Double?]) -> [String] {
    zip(rows, margins).map { row, margin in margin.map { String(row.dropLast()) + ", \"margin\": \($0)}" } ?? row }
}

/// The pairs as ranked lists of two, worse response first in the file (`ranks` put them in order).
func listsOfTwo(_ rows: [String]) -> [String] {
    rows.map { row in
        let object = try! JSONSerialization.jsonObject(with: Data(row.utf8)) as! [String: Any]
        return "{\"prompt\": \"\(object["prompt"]!)\", \"responses\": [\"\(object["rejected"]!)\", \"\(object["chosen"]!)\"], \"ranks\": [2, 1]}"
    }
}

func softplus(_ x: Double) -> Double { Swift.max(x, 0) + log1p(exp(-abs(x))) }

@Suite("Reward trainer")
struct RewardTrainerTests {
    @Test("a step's loss and metrics are BradleyTerryReward.evaluate on the scores LanguageModel.scores gives the chosen and rejected sequences (float64)")
    func lossIsBradleyTerry() throws {
        let trainer = try makeRewardTrainer(rows: preferenceRows(8)) { $0.training.perDeviceTrainBatchSize = 8; $0.training.maxSteps = 1 }
        let pairs = trainer.microBatches(ofStep: 0)[0].map { trainer.train.pairs[$0] }
        let expected = BradleyTerryReward.evaluate(chosen: readoutScores(trainer.model, pairs.map(\.chosen)),
                                                   rejected: readoutScores(trainer.model, pairs.map(\.rejected)))
        // The trainer's own scoring path gives the readout's scores.
        let own = withNoGrad { RewardTrainer.scores(trainer.model, pairs.map(\.chosen)).scores }
        #expect(maxDifference(own.doubles, readoutScores(trainer.model, pairs.map(\.chosen)).doubles) < 1e-12)
        let metrics = try trainer.step().metrics
        #expect(abs(metrics["train/loss"]! - expected.losses.mean().item(Double.self)) < 1e-12)
        for key in ["accuracy", "margin", "min_reward", "mean_reward", "max_reward"] {
            #expect(abs(metrics["train/" + key]! - expected.metrics[key]!) < 1e-12, "\(key)")
        }
        #expect(metrics["train/grad_norm"]! > 0 && metrics["train/num_tokens"]! > 0)
    }

    @Test("the margin column is subtracted from the gap (a row without one counts 0), and centring adds c·(r_c + r_r)² per pair")
    func marginAndCentring() throws {
        let margins: [Double?] = [0.5, 1.0, nil, 2.0, 0.25, 0, 3.0, 1.5]
        let rows = withMargins(preferenceRows(8), margins)
        for c in [nil, 0.01] as [Double?] {
            let trainer = try makeRewardTrainer(rows: rows) {
                $0.training.perDeviceTrainBatchSize = 8; $0.training.maxSteps = 1; $0.centerRewardsCoefficient = c
            }
            let batch = trainer.microBatches(ofStep: 0)[0]
            let pairs = batch.map { trainer.train.pairs[$0] }
            #expect(pairs.map(\.margin) == batch.map { margins[$0] })
            let chosen = readoutScores(trainer.model, pairs.map(\.chosen)).doubles
            let rejected = readoutScores(trainer.model, pairs.map(\.rejected)).doubles
            var expected = 0.0
            for i in 0..<8 {
                expected += softplus(-(chosen[i] - rejected[i] - (pairs[i].margin ?? 0)))
                if let c { expected += c * (chosen[i] + rejected[i]) * (chosen[i] + rejected[i]) }
            }
            let loss = try trainer.step().metrics["train/loss"]!
            #expect(abs(loss - expected / 8) < 1e-12, "c = \(String(describing: c)): \(loss) vs \(expected / 8)")
        }
        // Without the column, the same pairs give the plain loss.
        let plain = try makeRewardTrainer(rows: preferenceRows(8)) { $0.training.perDeviceTrainBatchSize = 8; $0.training.maxSteps = 1 }
        let pairs = plain.microBatches(ofStep: 0)[0].map { plain.train.pairs[$0] }
        let chosen = readoutScores(plain.model, pairs.map(\.chosen)).doubles, rejected = readoutScores(plain.model, pairs.map(\.rejected)).doubles
        let expected = zip(chosen, rejected).reduce(0.0) { $0 + softplus(-($1.0 - $1.1)) } / 8
        #expect(abs(try plain.step().metrics["train/loss"]! - expected) < 1e-12)
    }

    @Test("Plackett-Luce on ranked lists of two equals Bradley-Terry on the pairs, with and without centring: losses, metrics, updates")
    func plackettLuceOfTwo() throws {
        for c in [nil, 0.01] as [Double?] {
            func configure(_ x: inout RewardConfiguration) { x.training.maxSteps = 2; x.centerRewardsCoefficient = c }
            let pairs = try makeRewardTrainer(rows: preferenceRows(8), configure)
            let lists = try makeRewardTrainer(rows: listsOfTwo(preferenceRows(8)), configure)
            #expect(lists.train.format == .ranked)
            for _ in 0..<2 {
                let a = try pairs.step().metrics, b = try lists.step().metrics
                for key in ["loss", "accuracy", "margin", "min_reward", "mean_reward", "max_reward"] {
                    #expect(abs(a["train/" + key]! - b["train/" + key]!) < 1e-10, "\(key): \(a["train/" + key]!) vs \(b["train/" + key]!)")
                }
            }
            #expect(maxDifference(rewardParameters(pairs), rewardParameters(lists)) < 1e-10)
        }
    }

    @Test("Plackett-Luce on lists of three (and of mixed lengths in one batch) lowers its loss; tied scores are refused naming file, line and field")
    func rankedLists() throws {
        let mixed = rankedRows(6) + ["{\"prompt\": \"1+1=\", \"responses\": [\"2\", \"7\"], \"scores\": [1, 0]}",
                                     "{\"prompt\": \"2+2=\", \"responses\": [\"9\", \"4\"], \"scores\": [0, 1]}"]
        let trainer = try makeRewardTrainer(rows: mixed) { $0.training.maxSteps = 6; $0.training.perDeviceTrainBatchSize = 8 }
        var losses: [Double] = []
        for _ in 0..<6 { losses.append(try trainer.step().metrics["train/loss"]!) }
        #expect(losses[5] < losses[0], "\(losses)")
        let tied = rankedRows(2) + ["{\"prompt\": \"1+1=\", \"responses\": [\"2\", \"3\"], \"scores\": [1, 1]}"]
        do {
            _ = try makeRewardTrainer(rows: tied)
            Issue.record("ties accepted")
        } catch let error as DataError {
            #expect(error.message.contains(":3: field 'scores': tied scores [1.0, 1.0], but the Plackett-Luce loss needs a strict ranking"), "\(error.message)")
        }
        let unpaired = (0..<4).map { "{\"prompt\": \"\($0)+1=\", \"completion\": \"\($0 + 1)\", \"label\": true}" }
        #expect(throws: DataError.self) { _ = try makeRewardTrainer(rows: unpaired) }
    }

    @Test("gradient accumulation: 1×8, 2×4 and 4×2 micro-batches give the same update and the same logged metrics (float64)")
    func accumulation() throws {
        var results: [[Double]] = [], logged: [[String: Double]] = []
        for (batch, accumulation) in [(8, 1), (4, 2), (2, 4)] {
            let trainer = try makeRewardTrainer(rows: withMargins(preferenceRows(8), [1, nil, 0.5, 0, 2, nil, 1, 0.1])) {
                $0.training.perDeviceTrainBatchSize = batch
                $0.training.gradientAccumulationSteps = accumulation
                $0.training.maxGradNorm = 0
                $0.training.maxSteps = 2
                $0.centerRewardsCoefficient = 0.01
            }
            _ = try trainer.step()
            logged.append(try trainer.step().metrics)
            results.append(rewardParameters(trainer))
        }
        let before = try rewardParameters(makeRewardTrainer(rows: preferenceRows(8)))
        let scale = maxDifference(results[0], before)
        #expect(scale > 1e-5)
        for other in results.dropFirst() { #expect(maxDifference(other, results[0]) <= 1e-6 * scale) }
        for other in logged.dropFirst() {
            for key in ["train/loss", "train/accuracy", "train/margin", "train/min_reward", "train/mean_reward", "train/max_reward"] {
                #expect(abs(other[key]! - logged[0][key]!) < 1e-10, "\(key)")
            }
        }
    }

    @Test("resume: 2 steps, checkpoint, a fresh trainer resumes and 2 more = 4 straight (bit-identical)", arguments: [false, true])
    func resume(lora: Bool) throws {
        func configure(_ c: inout RewardConfiguration) {
            c.training.perDeviceTrainBatchSize = 3
            c.training.numTrainEpochs = 2
            c.training.lrSchedulerType = "cosine"
            c.training.warmupRatio = 0.2
            c.centerRewardsCoefficient = 0.01
            if lora { c.training.loraR = 2; c.training.loraDropout = 0.2; c.disableDropout = false }
        }
        let rows = preferenceRows(6)
        let straight = try makeRewardTrainer(rows: rows, configure)
        #expect(straight.plannedSteps == 4)
        for _ in 0..<4 { _ = try straight.step() }
        let first = try makeRewardTrainer(rows: rows, configure)
        for _ in 0..<2 { _ = try first.step() }
        let file = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        try first.captureCheckpoint().write(to: file)
        LibTorch.manualSeed(999)
        let resumed = try makeRewardTrainer(rows: rows, configure)
        try resumed.restore(TrainingCheckpoint.read(from: file))
        for _ in 0..<2 { _ = try resumed.step() }
        #expect(maxDifference(rewardParameters(resumed), rewardParameters(straight)) == 0, "max difference \(maxDifference(rewardParameters(resumed), rewardParameters(straight)))")
        #expect(straight.trainableParameters.contains { $0.0 == "score.weight" })
        if lora { #expect(straight.trainableParameters.allSatisfy { $0.0.contains("lora_") || $0.0 == "score.weight" }) }
    }

    @Test("a separable toy task (chosen = the right sum, rejected = a wrong one with another digit count) raises accuracy")
    func learnsToyTask() throws {
        var rng = SplitMix64(seed: 21)
        let rows = (0..<32).map { _ -> String in
            let a = Int(rng.next() % 40) + 10, b = Int(rng.next() % 40) + 10
            return "{\"prompt\": \"\(a)+\(b)=\", \"chosen\": \"\(a + b)\", \"rejected\": \"\(a + b)\(a % 10)\"}"
        }
        let trainer = try makeRewardTrainer(rows: rows, dtype: .float32) {
            $0.training.perDeviceTrainBatchSize = 8; $0.training.maxSteps = 16; $0.training.learningRate = 3e-3
        }
        let before = try trainer.evaluate(trainer.train)
        var last: [String: Double] = [:]
        for _ in 0..<16 { last = try trainer.step().metrics }
        let after = try trainer.evaluate(trainer.train)
        #expect(after["accuracy"]! > before["accuracy"]! && after["accuracy"]! >= 0.9, "accuracy \(before["accuracy"]!) → \(after["accuracy"]!)")
        #expect(after["loss"]! < before["loss"]!)
        #expect(after["margin"]! > 0 && last["train/accuracy"]! >= 0.75)
    }

    @Test("max_length leaves out pairs with a longer sequence, as TRL filters them, and counts them")
    func filtering() throws {
        let rows = preferenceRows(6) + ["{\"prompt\": \"1+1=\", \"chosen\": \"2\", \"rejected\": \"\(String(repeating: "9", count: 200))\"}"]
        let trainer = try makeRewardTrainer(rows: rows) { $0.maxLength = 32 }
        #expect(trainer.filteredCount == 1 && trainer.trainingExamples == Array(0..<6))
        #expect(trainer.train.truncatedCount == 0, "nothing truncated")
        #expect(throws: DataError.self) { _ = try makeRewardTrainer(rows: rows) { $0.maxLength = 3 } }
    }

    @Test("the saved model loads back as a score model with identical scores: a …ForSequenceClassification directory, or a PEFT adapter with the head in modules_to_save",
          arguments: [false, true])
    func saveReload(lora: Bool) throws {
        let trainer = try makeRewardTrainer(rows: preferenceRows(8), dtype: .float32) {
            $0.training.maxSteps = 2
            if lora { $0.training.loraR = 4 }
        }
        for _ in 0..<2 { _ = try trainer.step() }
        let out = try temporaryDirectory().appendingPathComponent("reward")
        try trainer.saveModel(to: out)
        let sequences = trainer.train.pairs.flatMap { [$0.chosen, $0.rejected] }
        let reloaded: LanguageModel
        if lora {
            let config = try Fixtures.json(out.appendingPathComponent("adapter_config.json"))
            #expect(config["task_type"] as? String == "SEQ_CLS" && config["modules_to_save"] as? [String] == ["score"])
            let header = try SafeTensors.header(of: out.appendingPathComponent("adapter_model.safetensors")).tensors
            #expect(header["base_model.model.score.weight"]?.shape == [1, trainer.model.configuration.hiddenSize])
            #expect(header.keys.allSatisfy { $0.contains("lora_") || $0 == "base_model.model.score.weight" })
            reloaded = try LanguageModel.scoreModel(at: out)
            #expect(!reloaded.adapters.isEmpty)
        } else {
            let config = try Fixtures.json(out.appendingPathComponent("config.json"))
            #expect(config["architectures"] as? [String] == ["GPT2ForSequenceClassification"])
            reloaded = try LanguageModel(directory: out)
            #expect(reloaded.scoreHead?.labels == 1 && reloaded.tokenizer != nil)
            #expect(try LanguageModel.scoreModel(at: out).scoreHead?.labels == 1)
        }
        trainer.model.decoder.eval()
        let want = readoutScores(trainer.model, sequences), got = readoutScores(reloaded, sequences)
        #expect(got.equal(want), "max difference \(maxDifference(got.doubles, want.doubles))")
        // A causal LM is not a reward model.
        #expect(throws: (any Error).self) { _ = try LanguageModel.scoreModel(at: gpt2Directory) }
    }

    @Test("settings: TRL's RewardConfig names and defaults (learning_rate 1e-4, max_length 1024, centring off); bad keys are named")
    func configuration() throws {
        var c = RewardConfiguration()
        #expect(c.training.learningRate == 1e-4 && c.maxLength == 1024 && c.centerRewardsCoefficient == nil && c.disableDropout)
        try c.set("center_rewards_coefficient", .double(0.01), source: "f.yaml")
        try c.set("max_length", .null, source: "f.yaml")
        try c.set("per_device_train_batch_size", .int(2), source: "f.yaml")
        try c.set("model_init_kwargs", .null, source: "f.yaml")
        #expect(c.centerRewardsCoefficient == 0.01 && c.maxLength == nil && c.training.perDeviceTrainBatchSize == 2)
        try c.validate()
        #expect(c.json["center_rewards_coefficient"] as? Double == 0.01 && c.json["max_length"] is NSNull && c.json["packing"] == nil)
        #expect(throws: DataError("f.yaml: 'packing' is an SFT setting; reward data is not packed or masked that way")) { try c.set("packing", .bool(true), source: "f.yaml") }
        do {
            try c.set("beta", .double(0.1), source: "--beta")
            Issue.record("beta accepted")
        } catch let error as DataError { #expect(error.message.hasPrefix("--beta: unknown reward setting 'beta' (known: ")) }
        c.centerRewardsCoefficient = -1
        #expect(throws: DataError.self) { try c.validate() }
    }
}

@Suite("Reward ensembles and judges")
struct RewardEnsembleTests {
    @Test("reductions on hand-made member scores: mean, min, mean − k·std (population std; one member gives its own score)")
    func reductions() {
        let scores: [[Double]] = [[1, 2, 3, -1], [3, 2, 1, -1], [2, 2, 5, -4]]
        #expect(RewardEnsemble.reduce(scores, .mean) == [2, 2, 3, -2])
        #expect(RewardEnsemble.reduce(scores, .min) == [1, 2, 1, -4])
        let k = 1.5
        let reduced = RewardEnsemble.reduce(scores, .meanMinusStd(k))
        let std0 = (2.0 / 3).squareRoot(), std2 = (8.0 / 3).squareRoot(), std3 = (2.0).squareRoot()
        expectClose(reduced, [2 - k * std0, 2, 3 - k * std2, -2 - k * std3], atol: 1e-12, rtol: 0, "mean − k·std")
        #expect(RewardEnsemble.reduce([[0.5, -2]], .meanMinusStd(3)) == [0.5, -2])
        #expect(RewardEnsemble.reduce([], .mean) == [])
    }

    @Test("an ensemble scores prompt + response + EOS at the last token; two copies of one model reduce to its scores; the oracle is a judge")
    func judges() throws {
        let directory = Fixtures.reward.appendingPathComponent("tiny-llama-reward")
        let single = try RewardEnsemble(directories: [directory])
        let pair = try RewardEnsemble(directories: [directory, directory], reduction: .meanMinusStd(1))
        let prompts = ["abc=", "hello there", "qq="], responses = ["cab", " world", ""]
        let scores = try single.score(prompts: prompts, responses: responses)
        let model = single.models[0]
        let tokenizer = model.tokenizer!
        let sequences = zip(prompts, responses).map { tokenizer.encode($0 + $1, addSpecialTokens: true) + [model.eosTokenIDs[0]] }
        let direct = withInferenceMode { model.scores(TokenBatch(sequences, padding: .right, padID: model.padTokenID)).squeezed(-1).doubles }
        expectClose(scores, direct, atol: 1e-6, rtol: 1e-6, "ensemble of one")
        expectClose(try pair.score(prompts: prompts, responses: responses), scores, atol: 1e-6, rtol: 1e-6, "two copies, mean − std")
        #expect(try pair.memberScores(prompts: prompts, responses: responses).count == 2)
        let oracle: any ResponseJudge = OraclePreferenceTask()
        #expect(try oracle.score(prompts: prompts, responses: responses) == zip(prompts, responses).map { OraclePreferenceTask.oracleScore(prompt: $0, response: $1) })
        #expect(throws: DataError.self) { _ = try RewardEnsemble(models: []) }
        #expect(throws: (any Error).self) { _ = try RewardEnsemble(directories: [gpt2Directory]) }
    }
}

@Suite("proxima judge and proxima align reward")
struct RewardCommandTests {
    @Test("judge --oracle on two tiny models prints a win rate with its interval and a JSON line; a reward ensemble judging a model against itself ties every prompt")
    func judge() throws {
        let prompts = OraclePreferenceTask(seed: 1).prompts(count: 6, split: .heldOut).map { "{\"prompt\": \"\($0)\"}" }
        let file = try writeJSONL(prompts, name: "prompts.jsonl")
        let llama = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        let result = try runProxima(["judge", "--oracle", "oracle-preference", "--model", gpt2Directory.path, "--baseline", llama.path,
                                     "--prompts", file.path, "--max-new-tokens", "6", "--threads", "1"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("win rate of \(gpt2Directory.path) over \(llama.path): ") && result.output.contains("95% CI"), "\(result.output)")
        let last = try #require(result.output.split(separator: "\n").last)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        let rate = try #require(json["win_rate"] as? Double), low = try #require(json["ci_low"] as? Double), high = try #require(json["ci_high"] as? Double)
        #expect(low <= rate && rate <= high && (0...1).contains(rate))
        #expect((json["wins"] as! Int) + (json["ties"] as! Int) + (json["losses"] as! Int) == 6 && json["prompts"] as? Int == 6)

        let reward = Fixtures.reward.appendingPathComponent("tiny-llama-reward").path
        let selfJudged = try runProxima(["judge", "--reward-model", reward, "--reward-model", reward, "--reduction", "mean-minus-std", "--k", "0.5",
                                         "--model", llama.path, "--baseline", llama.path, "--prompts", file.path, "--max-new-tokens", "4", "--threads", "1"])
        #expect(selfJudged.status == 0, "\(selfJudged.output)")
        let selfLast = try #require(selfJudged.output.split(separator: "\n").last)
        let selfJSON = try #require(try JSONSerialization.jsonObject(with: Data(selfLast.utf8)) as? [String: Any])
        #expect(selfJSON["win_rate"] as? Double == 0.5 && selfJSON["ties"] as? Int == 6)
        // A judge must be named, once.
        let neither = try runProxima(["judge", "--model", llama.path, "--baseline", llama.path, "--prompts", file.path])
        #expect(neither.status != 0 && neither.output.contains("--reward-model"), "\(neither.output)")
    }

    @Test("align reward writes dpo's layout (reward_config.json, run.json, metrics, checkpoint, learning_curve.svg, the score model) and logs TRL's metrics")
    func alignReward() throws {
        let data = try writeJSONL(preferenceRows(8)), held = try writeJSONL(preferenceRows(4, seed: 9), name: "held.jsonl")
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try runProxima(["align", "reward", "--model", gpt2Directory.path, "--data", data.path, "--eval-data", held.path, "--out", out.path,
                                     "--per-device-train-batch-size", "4", "--max-steps", "2", "--save-steps", "1", "--center-rewards-coefficient", "0.01",
                                     "--threads", "1", "--quiet"])
        #expect(result.status == 0, "\(result.output)")
        for file in ["reward_config.json", "run.json", "metrics.jsonl", "checkpoints/checkpoint.safetensors", "learning_curve.svg", "model.safetensors", "config.json", "tokenizer.json"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file)")
        }
        let settings = try Fixtures.json(out.appendingPathComponent("reward_config.json"))
        #expect(settings["learning_rate"] as? Double == 1e-4 && settings["center_rewards_coefficient"] as? Double == 0.01 && settings["max_length"] as? Int == 1024)
        let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        for key in ["train/accuracy", "train/margin", "train/min_reward", "train/mean_reward", "train/max_reward", "eval/accuracy", "eval/loss"] {
            #expect(metrics.contains("\"\(key)\""), "\(key) logged")
        }
        let model = try LanguageModel(directory: out)
        #expect(model.scoreHead?.labels == 1)
    }

    @Test("align reward: a row without 'rejected' fails before anything is written, naming the file, line and field")
    func malformedData() throws {
        let data = try writeJSONL(preferenceRows(3) + ["{\"prompt\": \"1+1=\", \"chosen\": \"2\"}"])
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try runProxima(["align", "reward", "--model", gpt2Directory.path, "--data", data.path, "--out", out.path, "--quiet"])
        #expect(result.status == 2)
        #expect(result.output == "proxima: error: \(data.path):4: field 'rejected': missing\n", "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
