import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import Torch

/// `proxima data make TASK`: built-in data sets, generated locally from a seed.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Built-in data sets for demos and benchmarks.",
                                                    subcommands: [Make.self, RSO.self])

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a built-in task's JSONL: arithmetic, oracle-preference or intransitive.",
            discussion: """
            arithmetic: prompt/completion additions such as 23+58= → 81 (--out FILE, held-out rows beside it).
            oracle-preference: prompts of 8–16 random letters ending in '='; an oracle scores a response by the fraction \
            of its letters found in the prompt minus 0.05 per letter of length difference. --out DIR receives sft.jsonl \
            (the letters shuffled with substitutions at a per-row rate in [0, 0.5]), pairs.jsonl (two such samples \
            labelled by Bradley-Terry on oracle scores, temperature 0.1), ranked.jsonl (K samples best first), \
            unpaired.jsonl (KTO), and the held-out prompts' eval_prompts.jsonl, eval_pairs.jsonl.
            intransitive: cyclic preferences over response classes (A ≻ B ≻ C ≻ A) that no scalar reward represents; \
            --out DIR receives pairs.jsonl and eval_pairs.jsonl.
            """)

        @Argument(help: "The task: arithmetic, oracle-preference or intransitive.") var task: String
        @Option(help: "arithmetic: the training rows' JSONL file; the other tasks: a directory.") var out: String
        @Option(help: "oracle-preference, intransitive: rows per training file (held-out files get a tenth).") var rows = 2000
        @Option(name: .customLong("list-size"), help: "oracle-preference: responses per ranked list.") var listSize = 4
        @Option(name: .customLong("eval-out"), help: "The held-out rows' file (default: OUT with .eval before the extension).") var evalOut: String?
        @Option(help: "Largest operand (arithmetic).") var maximum = 99
        @Option(name: .customLong("held-out-fraction"), help: "Fraction of unordered pairs {a, b} held out.") var heldOutFraction = 0.1
        @Option(help: "Random seed.") var seed = 0

        func run() throws {
            if task == "oracle-preference" || task == "intransitive" { return try writePreferenceTask() }
            guard task == "arithmetic" else { throw ValidationError("unknown task '\(task)' (known: arithmetic, oracle-preference, intransitive)") }
            guard maximum >= 1, (0..<1).contains(heldOutFraction) else { throw ValidationError("--maximum must be ≥ 1 and --held-out-fraction in [0, 1)") }
            let (train, heldOut) = ArithmeticTask(maximum: maximum, heldOutFraction: heldOutFraction, seed: UInt64(seed)).splits()
            let outURL = URL(fileURLWithPath: out)
            let evalURL = evalOut.map { URL(fileURLWithPath: $0) }
                ?? outURL.deletingPathExtension().appendingPathExtension("eval").appendingPathExtension(outURL.pathExtension.isEmpty ? "jsonl" : outURL.pathExtension)
            for url in [outURL, evalURL] {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            }
            try AtomicFile.write(Data((train.map(\.jsonLine).joined(separator: "\n") + "\n").utf8), to: outURL)
            try AtomicFile.write(Data((heldOut.map(\.jsonLine).joined(separator: "\n") + "\n").utf8), to: evalURL)
            print("wrote \(train.count) training rows to \(outURL.path) and \(heldOut.count) held-out rows to \(evalURL.path) (no unordered pair in both)")
        }

        func writePreferenceTask() throws {
            guard rows >= 1, listSize >= 2 else { throw ValidationError("--rows must be ≥ 1 and --list-size ≥ 2") }
            let directory = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            func write<Row: Encodable>(_ name: String, _ items: [Row]) throws {
                let lines = try items.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
                try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: directory.appendingPathComponent(name))
                print("  \(name): \(items.count) rows")
            }
            let held = Swift.max(1, rows / 10)
            print("\(task), seed \(seed), into \(directory.path):")
            if task == "intransitive" {
                let intransitive = try IntransitiveTask(seed: UInt64(seed))
                try write("pairs.jsonl", intransitive.preferencePairs(count: rows))
                try write("eval_pairs.jsonl", intransitive.preferencePairs(count: held, split: .heldOut))
                return
            }
            let oracle = OraclePreferenceTask(seed: UInt64(seed))
            try write("sft.jsonl", oracle.sftRows(count: rows))
            try write("pairs.jsonl", oracle.preferencePairs(count: rows))
            try write("ranked.jsonl", oracle.rankedLists(count: rows, listSize: listSize))
            try write("unpaired.jsonl", oracle.unpairedRows(count: rows))
            try write("eval_prompts.jsonl", oracle.prompts(count: held, split: .heldOut).map { ["prompt": $0] })
            try write("eval_pairs.jsonl", oracle.preferencePairs(count: held, split: .heldOut))
        }
    }
}

extension DataCommand {
    /// `proxima data rso`: RSO's statistical rejection sampling of a policy's responses, as preference pairs.
    struct RSO: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rso",
            abstract: "Preference pairs by RSO (Liu et al. 2023): sample N responses per prompt, keep n by statistical rejection sampling under a reward, pair them.",
            discussion: """
            For each prompt of --prompts (JSONL, a "prompt" per row) the policy samples --num-candidates responses; a \
            reward model (or the oracle) scores them; the sampler accepts --num-samples of them with probability \
            exp((r − r_max) / β) round by round (β = --beta; large β: plain sampling, small β: best-of-N); the \
            accepted responses become pairs, higher reward chosen (--pairs first_round: (a0, a1), (a2, a3), …; \
            tournament: winners advance, n − 1 pairs). Train on them with `proxima align dpo --loss-type \
            rso_sigmoid_norm` or `rso_hinge_norm`.
            """)

        @Option(help: "The policy that samples (usually the SFT model).") var model: String
        @Option(name: .customLong("reward-model"), help: "The reward model directory.") var rewardModel: String?
        @Option(help: "A built-in oracle instead: oracle-preference.") var oracle: String?
        @Option(help: "JSONL with a \"prompt\" per row.") var prompts: String
        @Option(help: "The pairs' JSONL file (prompt, chosen, rejected, chosen_score, rejected_score).") var out: String
        @Option(name: .customLong("num-candidates"), help: "Responses sampled per prompt (the paper: 64).") var numCandidates = 64
        @Option(name: .customLong("num-samples"), help: "Responses accepted per prompt (the paper: 8).") var numSamples = 8
        @Option(help: "The sampler's β (the paper: 0.5).") var beta = 0.5
        @Option(help: "first_round or tournament.") var pairs = "first_round"
        @Option(help: "Sampling temperature of the candidates.") var temperature = 1.0
        @Option(name: .customLong("max-new-tokens")) var maxNewTokens = 64
        @Option(help: "Random seed (sampling and acceptance draws).") var seed: UInt64 = 0
        @OptionGroup var threads: ThreadOptions

        func run() throws {
            threads.apply()
            guard (rewardModel == nil) != (oracle == nil) else { throw ValidationError("give --reward-model DIR or --oracle oracle-preference (one of them)") }
            if let oracle, oracle != "oracle-preference" { throw ValidationError("--oracle '\(oracle)': the built-in oracle is oracle-preference") }
            guard let construction = PairConstruction(rawValue: pairs) else { throw ValidationError("--pairs must be first_round or tournament, got '\(pairs)'") }
            guard temperature > 0 else { throw ValidationError("--temperature must be positive (the candidates are samples), got \(temperature)") }
            let file = try JSONLines(contentsOf: URL(fileURLWithPath: prompts))
            let texts: [String] = try file.rows.map { row in
                guard let value = row["prompt"] else { throw DataError(file: prompts, line: row.line, field: "prompt", "missing") }
                guard let text = value.stringValue else { throw DataError(file: prompts, line: row.line, field: "prompt", "expected a string, found \(value.kindName)") }
                return text
            }
            let judge: any ResponseJudge = try rewardModel.map { try RewardEnsemble(directories: [URL(fileURLWithPath: $0)], reduction: .mean) } ?? OraclePreferenceTask()
            var builder = RSOPairBuilder(sampler: try RejectionSampler(beta: beta, sampleCount: numSamples))
            builder.candidateCount = numCandidates
            builder.construction = construction
            builder.temperature = temperature
            builder.maxNewTokens = maxNewTokens
            builder.seed = seed
            let policy = try LanguageModel(directory: URL(fileURLWithPath: model))
            let result = try builder.pairs(prompts: texts, policy: policy) { try judge.score(prompts: $0, responses: $1) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let lines = try result.rows.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            let outURL = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: outURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: outURL)
            print("rso: \(texts.count) prompts, \(result.candidates) candidates sampled, \(result.accepted) accepted (\(result.uniforms) acceptance draws), \(result.rows.count) \(pairs) pairs written to \(out)")
        }
    }
}

extension ModelCommand {
    /// `proxima model init`: a Hugging Face directory with random weights, for from-scratch CPU demos.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a model directory with random weights: an architecture at a preset shape, with a given or newly trained tokenizer.")

        @Option(help: "gpt2, llama, qwen2 or qwen3.") var arch: String
        @Option(help: "The shape: tiny (4 layers, width 128).") var preset = "tiny"
        @Option(help: "Copy the tokenizer of this model directory.") var tokenizer: String?
        @Option(name: .customLong("train-tokenizer"), parsing: .upToNextOption,
                help: "Train a byte-level BPE tokenizer (digits kept one per token) on these text or JSONL files.") var trainTokenizer: [String] = []
        @Option(name: .customLong("vocab-size"), help: "Vocabulary size for --train-tokenizer.") var vocabSize = 512
        @Option(help: "A character-level tokenizer of these characters (plus <pad>, <bos>, <eos>, <unk>) instead.") var characters: String?
        @Option(help: "Random seed for the weights.") var seed = 0
        @Option(help: "The directory to write.") var out: String

        func run() throws {
            guard let architecture = ModelArchitecture(rawValue: arch) else {
                throw ValidationError("--arch must be one of \(ModelArchitecture.allCases.map(\.rawValue).joined(separator: ", ")), got '\(arch)'")
            }
            guard let shape = ModelPreset(rawValue: preset) else { throw ValidationError("--preset must be tiny, got '\(preset)'") }
            guard [tokenizer != nil, !trainTokenizer.isEmpty, characters != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give one of --tokenizer DIR, --train-tokenizer FILES or --characters STRING")
            }
            var files: [String: Data] = [:]
            let built: Tokenizer
            if let characters {
                guard !characters.isEmpty else { throw ValidationError("--characters: give at least one character") }
                (built, files) = try RandomModel.characterTokenizer(characters: characters)
            } else if let tokenizer {
                let source = URL(fileURLWithPath: tokenizer)
                built = try Tokenizer(directory: source)
                for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"] {
                    let url = source.appendingPathComponent(name)
                    if FileManager.default.fileExists(atPath: url.path) { files[name] = try Data(contentsOf: url) }
                }
            } else {
                var texts: [String] = []
                for path in trainTokenizer {
                    let url = URL(fileURLWithPath: path)
                    if url.pathExtension == "jsonl" {
                        for row in try JSONLines(contentsOf: url).rows {
                            for member in row.value.objectValue ?? [] { if let s = member.value.stringValue { texts.append(s) } }
                        }
                    } else {
                        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw ValidationError("\(path): cannot read as UTF-8 text") }
                        texts.append(text)
                    }
                }
                (built, files) = try RandomModel.trainDemoTokenizer(texts: texts, vocabularySize: vocabSize)
            }
            let outURL = URL(fileURLWithPath: out)
            try RandomModel.write(architecture, preset: shape, tokenizer: built, tokenizerFiles: files, to: outURL, seed: UInt64(seed))
            let model = try LanguageModel(directory: outURL)
            print("wrote \(out): \(architecture.transformersClass), \(model.decoder.parameterCount()) parameters, vocabulary \(built.idCount)")
        }
    }
}
