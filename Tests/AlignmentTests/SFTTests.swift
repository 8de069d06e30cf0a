import Foundation
import Testing
import TestSupport
import Torch
import NeuralNetworks
import Training
@testable import Alignment
@testable import LanguageModels

/// Writes JSONL rows (each a JSON object literal) to a temporary file.
func writeJSONL(_ lines: [String], name: String = "data.jsonl") throws -> URL {
    let url = try temporaryDirectory().appendingPathComponent(name)
    try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    return url
}

let gpt2Directory = Fixtures.huggingFace.appendingPathComponent("tiny-gpt2")

/// Rows "a+b=" → "c" for small numbers, as prompt/completion JSONL.
func additionRows(_ count: Int, seed: Int = 1) -> [String] {
    var rng = SplitMix64(seed: UInt64(seed))
    return (0..<count).map { _ in
        let a = Int(rng.next() % 50), b = Int(rng.next() % 50)
        return "{\"prompt\": \"\(a)+\(b)=\", \"completion\": \"\(a + b)\"}"
    }
}

@Suite("SFT data: TRL's JSONL formats, masks, packing, errors")
struct SFTDataTests {
    @Test("prompt/completion: one joint tokenisation, the prompt's own length marks the completion, EOS appended; completion_only_loss=false scores all")
    func promptCompletion() throws {
        let model = try LanguageModel(directory: gpt2Directory)
        let tokenizer = model.tokenizer!
        let url = try writeJSONL(["{\"prompt\": \"Hello\", \"completion\": \" world\"}"])
        let data = try SFTDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 0)
        #expect(data.format == .promptCompletion)
        let prompt = tokenizer.encode("Hello", addSpecialTokens: true)
        let joint = tokenizer.encode("Hello world", addSpecialTokens: true)
        let example = data.examples[0]
        #expect(example.ids == joint + [0])
        #expect(example.lossMask == joint.indices.map { $0 >= prompt.count } + [true])
        var options = SFTDataOptions()
        options.completionOnlyLoss = false
        let all = try SFTDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 0, options: options)
        #expect(all.examples[0].lossMask.allSatisfy { $0 })
        options.maxLength = 3
        let cut = try SFTDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 0, options: options)
        #expect(cut.examples[0].ids == Array((joint + [0]).prefix(3)) && cut.truncatedCount == 1)
    }

    @Test("text rows score every token and end in EOS")
    func text() throws {
        let tokenizer = try LanguageModel(directory: gpt2Directory).tokenizer!
        let data = try SFTDataset(contentsOf: writeJSONL(["{\"text\": \"abc def\"}", "", "{\"text\": \"x\"}"]), tokenizer: tokenizer, eosTokenID: 0)
        #expect(data.format == .text && data.examples.count == 2)
        #expect(data.examples[0].ids == tokenizer.encode("abc def") + [0])
        #expect(data.examples[1].targetCount == data.examples[1].ids.count - 1)
    }

    @Test("a malformed line fails before training, naming the file, line and field",
          arguments: [
            (["{\"prompt\": \"a\", \"completion\": \"b\"}", "{\"prompt\": \"a\", \"completion\": 3}"], ":2: field 'completion': expected a string, found a number"),
            (["{\"prompt\": \"a\", \"completion\": \"b\"}", "{\"prompt\": \"a\""], ":2: not valid JSON"),
            (["{\"text\": \"a\"}", "[1, 2]"], ":2: expected a JSON object, found an array"),
            (["{\"text\": \"a\"}", "{\"txt\": \"b\"}"], ":2: field 'text': missing"),
            (["{\"input\": \"a\"}"], ":1: no SFT fields"),
            (["{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"], ":1: field 'messages': conversations need the model's chat template"),
          ])
    func malformed(lines: [String], message: String) throws {
        let tokenizer = try LanguageModel(directory: gpt2Directory).tokenizer!
        let url = try writeJSONL(lines)
        do {
            _ = try SFTDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: 0)
            Issue.record("accepted \(lines)")
        } catch let error as DataError {
            #expect(error.message.hasPrefix(url.path + message.prefix(2)), "\(error.message)")
            #expect(error.message.contains(message.dropFirst(3)), "\(error.message)")
        }
    }

    @Test("a packed row: per-sequence positions, attention only within each sequence and causal, padding sees itself")
    func packedBatch() {
        let examples = [SFTExample(ids: [5, 6], lossMask: [false, true]), SFTExample(ids: [7, 8, 9], lossMask: [false, true, true]),
                        SFTExample(ids: [3], lossMask: [true])]
        let batch = SFTBatch(rows: [SFTRow(examples: [0, 1]), SFTRow(examples: [2])], examples: examples, padID: 0)
        #expect(batch.ids.shape == [2, 5])
        #expect(batch.positions.scalars(as: Int64.self) == [0, 1, 0, 1, 2, 0, 0, 0, 0, 0])
        // Row 0: tokens 0-1 are one sequence, 2-4 another. Row 1: token 0, then padding.
        let want: [[Bool]] = [
            [true, false, false, false, false], [true, true, false, false, false], [false, false, true, false, false],
            [false, false, true, true, false], [false, false, true, true, true],
            [true, false, false, false, false], [false, true, false, false, false], [false, false, true, false, false],
            [false, false, false, true, false], [false, false, false, false, true],
        ]
        #expect(batch.mask?.shape == [2, 1, 5, 5])
        #expect(batch.mask?.scalars(as: Bool.self) == want.flatMap { $0 })
        // Targets: token 1 (from 0), tokens 3 and 4 (from 2 and 3); a first token is never a target.
        #expect(batch.sources == [0, 2, 3] && batch.targets == [6, 8, 9] && batch.tokenCount == 6)
    }

    @Test("packing: first-fit decreasing keeps every example once and within capacity")
    func packing() {
        let lengths = [5, 9, 3, 7, 2, 8, 1, 10]
        let rows = packExamples(lengths, capacity: 10)
        #expect(rows.flatMap(\.examples).sorted() == Array(lengths.indices))
        #expect(rows.allSatisfy { $0.examples.reduce(0) { $0 + lengths[$1] } <= 10 })
        #expect(rows.count == 5)
    }
}

/// A float64 copy of the tiny GPT-2 and an SFT trainer over `rows` prompt/completion rows.
func makeTrainer(rows: [String], _ configure: (inout SFTConfiguration) -> Void) throws -> SFTTrainer {
    let model = try LanguageModel(directory: gpt2Directory, dtype: .float64)
    let data = try SFTDataset(contentsOf: writeJSONL(rows), tokenizer: model.tokenizer!, eosTokenID: model.eosTokenIDs.first)
    var configuration = SFTConfiguration()
    configuration.learningRate = 1e-3
    configuration.lrSchedulerType = "constant"
    configuration.loggingSteps = 1
    configure(&configuration)
    return try SFTTrainer(model: model, train: data, configuration: configuration)
}

func parameterValues(_ trainer: SFTTrainer) -> [Double] { trainer.trainableParameters.flatMap { $0.1.doubles } }

@Suite("SFT trainer")
struct SFTTrainerTests {
    @Test("the loss is the mean −log p over the scored tokens, as from the full logits (float64)")
    func lossDefinition() throws {
        let trainer = try makeTrainer(rows: additionRows(6)) { $0.perDeviceTrainBatchSize = 6 }
        let microBatches = trainer.microBatches(ofStep: 0)
        #expect(microBatches.count == 1 && microBatches[0].count == 6)
        let (loss, targets, _) = trainer.accumulate(microBatches)
        // Direct: full logits of each example alone.
        var total = 0.0, count = 0
        for row in microBatches[0] {
            let example = trainer.train.examples[row.examples[0]]
            let ids = Tensor(example.ids.map(Int64.init), shape: [1, example.ids.count])
            let logits = withNoGrad { trainer.model.decoder.logits(ids, positions: Tensor.arange(example.ids.count).unsqueezed(0)) }
            let logp = logits.logSoftmax(dim: -1).doubles
            let vocabulary = logits.size(-1)
            for i in 1..<example.ids.count where example.lossMask[i] {
                total -= logp[(i - 1) * vocabulary + example.ids[i]]
                count += 1
            }
        }
        #expect(targets == count)
        #expect(abs(loss - total / Double(count)) < 1e-12)
    }

    @Test("gradient accumulation: 1×8, 2×4, 4×2 and 8×1 micro-batches give the same update (float64, 1e-6 relative)")
    func accumulation() throws {
        var results: [[Double]] = []
        for (batch, accumulation) in [(8, 1), (4, 2), (2, 4), (1, 8)] {
            let trainer = try makeTrainer(rows: additionRows(8)) {
                $0.perDeviceTrainBatchSize = batch
                $0.gradientAccumulationSteps = accumulation
                $0.maxGradNorm = 0
                $0.maxSteps = 1
            }
            #expect(trainer.microBatches(ofStep: 0).count == accumulation)
            _ = try trainer.step()
            results.append(parameterValues(trainer))
        }
        let before = try parameterValues(makeTrainer(rows: additionRows(8)) { _ in })
        let update = zip(results[0], before).map { $0 - $1 }
        let scale = update.map(abs).max()!
        #expect(scale > 1e-5, "the step moved the weights")
        for other in results.dropFirst() {
            let difference = zip(other, results[0]).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-6 * scale, "largest difference \(difference) vs update \(scale)")
        }
    }

    @Test("packing: a packed batch gives the same loss and gradient as its sequences apart (float64)")
    func packedEqualsUnpacked() throws {
        let rows = additionRows(6)
        let plain = try makeTrainer(rows: rows) { $0.perDeviceTrainBatchSize = 6 }
        let examples = plain.train.examples
        let separate = [examples.indices.map { SFTRow(examples: [$0]) }]
        let packed = [packExamples(examples.map(\.ids.count), capacity: 64)]
        #expect(packed[0].count < 6, "several sequences share a row")
        plain.optimizer.zeroGrad()
        let a = plain.accumulate(separate)
        let gradientA = plain.trainableParameters.flatMap { $0.1.grad?.doubles ?? [] }
        plain.optimizer.zeroGrad()
        let b = plain.accumulate(packed)
        let gradientB = plain.trainableParameters.flatMap { $0.1.grad?.doubles ?? [] }
        #expect(a.targets == b.targets)
        #expect(abs(a.loss - b.loss) < 1e-12)
        expectClose(gradientB, gradientA, atol: 1e-12, rtol: 1e-9)
    }

    @Test("gradient_checkpointing reaches the model's decoder, and a checkpointed step equals a plain one (float64)")
    func gradientCheckpointingSetting() throws {
        var weights: [[Double]] = []
        for checkpointing in [true, false] {
            let trainer = try makeTrainer(rows: additionRows(8)) {
                $0.gradientCheckpointing = checkpointing
                $0.perDeviceTrainBatchSize = 4
                $0.maxSteps = 2
            }
            #expect(trainer.model.decoder.gradientCheckpointing == checkpointing)
            for _ in 0..<2 { _ = try trainer.step() }
            weights.append(parameterValues(trainer))
        }
        let before = try parameterValues(makeTrainer(rows: additionRows(8)) { _ in })
        #expect(zip(weights[1], before).contains { $0 != $1 }, "the steps moved the weights")
        expectClose(weights[0], weights[1], atol: 1e-12, rtol: 1e-9, "weights after two steps")
    }

    @Test("LoRA: only the factors train and only they get optimizer state; the base weights do not move")
    func loraOnlyFactors() throws {
        let trainer = try makeTrainer(rows: additionRows(8)) {
            $0.loraR = 4
            $0.loraAlpha = 8
            $0.loraDropout = 0.1
            $0.perDeviceTrainBatchSize = 4
            $0.maxSteps = 3
            $0.learningRate = 1e-2
        }
        let adapters = trainer.model.adapters.count
        #expect(adapters == 4 * 2, "attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj in 2 layers")
        #expect(trainer.trainableParameters.count == 2 * adapters)
        #expect(trainer.trainableParameters.allSatisfy { $0.0.contains(".lora_A.") || $0.0.contains(".lora_B.") })
        let base = trainer.model.decoder.namedParameters().filter { !$0.1.requiresGrad }.map { ($0.0, $0.1.clone()) }
        for _ in 0..<3 { _ = try trainer.step() }
        let state = trainer.optimizer.state()
        #expect(state.tensors.count == 2 * trainer.trainableParameters.count, "first and second moments of the factors only")
        let now = Dictionary(uniqueKeysWithValues: trainer.model.decoder.namedParameters())
        #expect(base.allSatisfy { now[$0.0]!.equal($0.1) })
        #expect(trainer.model.adapters.contains { !$0.1.loraB.weight.equal(Tensor.zeros(like: $0.1.loraB.weight)) })
    }

    @Test("resume: N steps, checkpoint to disk, a new process-like trainer resumes and N more steps = 2N straight (bit-identical)",
          arguments: [false, true])
    func resume(lora: Bool) throws {
        func configure(_ c: inout SFTConfiguration) {
            c.perDeviceTrainBatchSize = 3
            c.gradientAccumulationSteps = 2
            c.numTrainEpochs = 2
            c.lrSchedulerType = "cosine"
            c.warmupRatio = 0.2
            if lora {
                c.loraR = 2
                c.loraDropout = 0.2
            }
        }
        let rows = additionRows(10)
        let straight = try makeTrainer(rows: rows, configure)
        #expect(straight.plannedSteps == 4)
        var straightMetrics: [[String: Double]] = []
        for _ in 0..<4 { straightMetrics.append(try straight.step().metrics) }

        let first = try makeTrainer(rows: rows, configure)
        for _ in 0..<2 { _ = try first.step() }
        let file = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        try first.captureCheckpoint().write(to: file)
        // Another trainer on a fresh model, as after a restart: global RNG state disturbed on purpose.
        LibTorch.manualSeed(12345)
        let resumed = try makeTrainer(rows: rows, configure)
        try resumed.restore(TrainingCheckpoint.read(from: file))
        #expect(resumed.completedSteps == 2)
        var resumedMetrics: [[String: Double]] = []
        for _ in 0..<2 { resumedMetrics.append(try resumed.step().metrics) }
        #expect(parameterValues(resumed) == parameterValues(straight))
        #expect(resumedMetrics.map { $0["train/loss"] } == straightMetrics.suffix(2).map { $0["train/loss"] })
    }

    @Test("a non-finite loss steps nothing and the loop stops with the step named")
    func nonFiniteLoss() throws {
        let trainer = try makeTrainer(rows: additionRows(4)) { $0.perDeviceTrainBatchSize = 4; $0.maxSteps = 2 }
        withNoGrad { trainer.trainableParameters[0].1.fill_(Double.nan) }
        let before = trainer.trainableParameters.dropFirst().map { $0.1.clone() }
        #expect(throws: TrainingError.self) { try TrainingLoop.run(trainer) }
        #expect(trainer.completedSteps == 0)
        #expect(zip(trainer.trainableParameters.dropFirst(), before).allSatisfy { $0.0.1.equal($0.1) })
    }

    @Test("settings: TRL's snake_case keys from YAML; unknown keys and bad values are errors naming the file and key")
    func configurationFile() throws {
        let url = try temporaryDirectory().appendingPathComponent("sft.yaml")
        try """
        model_name_or_path: models/tiny
        per_device_train_batch_size: 4
        gradient_accumulation_steps: 2
        learning_rate: 3.0e-4
        lr_scheduler_type: cosine
        warmup_ratio: 0.1
        packing: true
        completion_only_loss: false
        lora_target_modules: [q_proj, v_proj]
        bf16: false
        gradient_checkpointing: false
        """.write(to: url, atomically: true, encoding: .utf8)
        var configuration = SFTConfiguration()
        #expect(configuration.gradientCheckpointing, "on by default, as in TRL")
        let paths = try configuration.load(file: url)
        #expect(!configuration.gradientCheckpointing)
        #expect(paths["model_name_or_path"] == "models/tiny")
        #expect(configuration.perDeviceTrainBatchSize == 4 && configuration.gradientAccumulationSteps == 2)
        #expect(configuration.learningRate == 3e-4 && configuration.lrSchedulerType == "cosine" && configuration.packing)
        #expect(configuration.completionOnlyLoss == false && configuration.loraTargetModules == ["q_proj", "v_proj"])
        #expect(try configuration.schedule(totalSteps: 100) == .cosineWarmup(warmupSteps: 10))
        try "learning_rat: 1\n".write(to: url, atomically: true, encoding: .utf8)
        #expect { try configuration.load(file: url) } throws: { "\($0)".contains(url.path) && "\($0)".contains("unknown SFT setting 'learning_rat'") }
        try "packing: maybe\n".write(to: url, atomically: true, encoding: .utf8)
        #expect { try configuration.load(file: url) } throws: { "\($0)".contains("packing: expected true or false") }
    }
}

@Suite("SFT on conversations: chat templates and assistant-only loss")
struct SFTConversationTests {
    static let conversation = """
    {"messages": [{"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": "5"}, {"role": "user", "content": "And 4+4?"}, {"role": "assistant", "content": "8"}]}
    """

    /// The scored tokens of the first example, decoded run by run.
    func scoredRuns(_ data: SFTDataset, _ tokenizer: Tokenizer) -> [String] {
        var runs: [String] = [], current: [Int] = []
        let example = data.examples[0]
        for (id, scored) in zip(example.ids, example.lossMask) {
            if scored { current.append(id) } else if !current.isEmpty { runs.append(tokenizer.decode(current)); current = [] }
        }
        if !current.isEmpty { runs.append(tokenizer.decode(current)) }
        return runs
    }

    @Test("the model's template renders the conversation (text = apply_chat_template); assistant-only loss scores each reply and its end-of-turn, found prefix by prefix")
    func prefixByPrefix() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-qwen2-bf16"))
        let tokenizer = model.tokenizer!
        let url = try writeJSONL([Self.conversation])
        let renderer = try #require(try ChatTemplateRenderer(model: model))
        let all = try SFTDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: nil, renderer: renderer)
        #expect(all.format == .messages)
        let messages = try JSONValue.parse(Self.conversation)["messages"]!.arrayValue!
        let (_, ids) = try model.applyChatTemplate(messages, addGenerationPrompt: false)
        #expect(all.examples[0].ids == ids)
        #expect(all.examples[0].lossMask.allSatisfy { $0 })
        var options = SFTDataOptions()
        options.assistantOnlyLoss = true
        let assistant = try SFTDataset(contentsOf: url, tokenizer: tokenizer, eosTokenID: nil, options: options, renderer: renderer)
        #expect(scoredRuns(assistant, tokenizer) == ["5<|im_end|>\n", "8<|im_end|>\n"])
        #expect(tokenizer.decode(assistant.examples[0].ids) == tokenizer.decode(ids))
    }

    @Test("{% generation %} blocks mark the assistant's text when the template has them")
    func generationBlocks() throws {
        let source = """
        {%- for m in messages -%}{{ '<|im_start|>' + m['role'] + '\\n' }}{%- if m['role'] == 'assistant' -%}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{%- else -%}{{ m['content'] + '<|im_end|>\\n' }}{%- endif -%}{%- endfor -%}
        """
        let template = try ChatTemplate(source: source)
        #expect(template.hasGenerationBlocks)
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-qwen2-bf16"))
        var options = SFTDataOptions()
        options.assistantOnlyLoss = true
        let data = try SFTDataset(contentsOf: writeJSONL([Self.conversation]), tokenizer: model.tokenizer!, eosTokenID: nil, options: options,
                                  renderer: ChatTemplateRenderer(template: template, variables: [:]))
        #expect(scoredRuns(data, model.tokenizer!) == ["5<|im_end|>", "8<|im_end|>"])
    }

    @Test("a conversation the template refuses (raise_exception) fails before training, naming the line and the template's message")
    func templateRaises() throws {
        let model = try LanguageModel(directory: Fixtures.huggingFace.appendingPathComponent("tiny-llama"))
        let bad = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}"
        let url = try writeJSONL([Self.conversation, bad])
        #expect(performing: {
            try SFTDataset(contentsOf: url, tokenizer: model.tokenizer!, eosTokenID: nil, renderer: try ChatTemplateRenderer(model: model))
        }, throws: { error in
            let text = "\(error)"
            return text.hasPrefix(url.path + ":2: field 'messages'") && text.contains("roles must alternate user/assistant")
        })
    }
}

@Suite("SFT learning, smoke version of proxima bench sft")
struct SFTBenchSmokeTests {
    @Test("bench sft --smoke: a from-scratch model's arithmetic loss falls to under two thirds in 24 steps; the JSON names the accuracy")
    func smoke() throws {
        let (status, _, output) = try runProxima(["bench", "sft", "--smoke", "--threads", "1"])
        #expect(status == 0, "\(output)")
        let last = try #require(output.split(separator: "\n").last)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        let first = try #require(result["first_loss"] as? Double), final = try #require(result["last_loss"] as? Double)
        #expect(final < first * 2 / 3, "loss \(first) → \(final)")
        let accuracy = try #require(result["heldout_exact_match"] as? Double)
        #expect((0...1).contains(accuracy) && result["heldout_problems"] as? Int == 200)
        #expect(result["steps"] as? Int == 24)
    }
}

@Suite("proxima align sft")
struct AlignSFTCommandTests {
    @Test("a run that dies at step 3 resumes from its step-2 checkpoint and ends bit-identical to an uninterrupted run")
    func killedAndResumed() throws {
        let data = try writeJSONL(additionRows(24))
        let root = try temporaryDirectory()
        func arguments(_ out: String) -> [String] {
            ["align", "sft", "--model", gpt2Directory.path, "--data", data.path, "--out", root.appendingPathComponent(out).path,
             "--per-device-train-batch-size", "4", "--max-steps", "4", "--save-steps", "1", "--learning-rate", "1e-3",
             "--lora-r", "4", "--lora-dropout", "0.1", "--threads", "1", "--quiet"]
        }
        let straight = try runProxima(arguments("straight"))
        #expect(straight.status == 0, "\(straight.output)")
        let dying = try runProxima(arguments("resumed"), environment: ["PROXIMA_TEST_FAIL_ALLOCATION_AT_STEP": "3"])
        #expect(dying.status == 2 && dying.output.contains("optimizer step 3 of 4"), "\(dying.output)")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("resumed/adapter_model.safetensors").path))
        let resumed = try runProxima(arguments("resumed") + ["--resume-from-checkpoint"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let a = try SafeTensors.read(root.appendingPathComponent("straight/adapter_model.safetensors")).tensors
        let b = try SafeTensors.read(root.appendingPathComponent("resumed/adapter_model.safetensors")).tensors
        #expect(a.count == 16 && Set(a.keys) == Set(b.keys))
        #expect(a.allSatisfy { b[$0.key]!.equal($0.value) })
        // Resuming with other settings is refused, naming the difference.
        let changed = try runProxima(arguments("resumed") + ["--resume-from-checkpoint", "--learning-rate", "2e-3"])
        #expect(changed.status == 2 && changed.output.contains("learning_rate: 0.001 in the checkpoint, 0.002 now"), "\(changed.output)")
        // A fresh start into a directory that holds a run is refused (its checkpoint would be overwritten).
        let again = try runProxima(arguments("straight"))
        #expect(again.status == 2 && again.output.contains("already holds an SFT run"), "\(again.output)")
    }

    @Test("a malformed data line stops before anything is written, naming the file, line and field")
    func malformedData() throws {
        let data = try writeJSONL(additionRows(3) + ["{\"prompt\": \"1+1=\"}"])
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try runProxima(["align", "sft", "--model", gpt2Directory.path, "--data", data.path, "--out", out.path, "--quiet"])
        #expect(result.status == 2)
        #expect(result.output == "proxima: error: \(data.path):4: field 'completion': missing\n")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("--config takes TRL's snake_case YAML; a flag overrides it; unknown keys are named")
    func configFile() throws {
        let data = try writeJSONL(additionRows(8))
        let root = try temporaryDirectory()
        let config = root.appendingPathComponent("sft.yaml")
        try """
        model_name_or_path: \(gpt2Directory.path)
        dataset_name: \(data.path)
        output_dir: \(root.appendingPathComponent("run").path)
        per_device_train_batch_size: 2
        max_steps: 3
        learning_rate: 1.0e-3
        report_to: none
        """.write(to: config, atomically: true, encoding: .utf8)
        let result = try runProxima(["align", "sft", "--config", config.path, "--max-steps", "2", "--quiet"])
        #expect(result.status == 0, "\(result.output)")
        let settings = try Fixtures.json(root.appendingPathComponent("run/sft_config.json"))
        #expect(settings["max_steps"] as? Int == 2 && settings["per_device_train_batch_size"] as? Int == 2 && settings["learning_rate"] as? Double == 1e-3)
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("run/model.safetensors").path))
        try "max_step: 3\n".write(to: config, atomically: true, encoding: .utf8)
        let bad = try runProxima(["align", "sft", "--config", config.path])
        #expect(bad.status == 2 && bad.output.contains("\(config.path): unknown SFT setting 'max_step'"), "\(bad.output)")
    }
}
