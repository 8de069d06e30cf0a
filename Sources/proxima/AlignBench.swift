import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import Torch
import Training

/// `proxima bench align`: the learning claims of offline preference optimisation on the `oracle-preference` task
/// (DPO, IPO and LiPO-λ against the SFT model they start from, judged by the oracle on held-out prompts), or with
/// `--speed` DPO's throughput on the peers' DPO work beside TRL's DPOTrainer.
struct AlignBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "Preference optimisation: win rates of DPO, IPO and LiPO-λ over their SFT model (oracle-judged), or (--speed) DPO throughput against TRL.")

    @Option(help: "Random seed (data, weights, data order).") var seed = 0
    @Option(name: .customLong("sft-epochs")) var sftEpochs = 1.0
    @Option(name: .customLong("num-train-epochs"), help: "Epochs of each preference run.") var epochs = 4.0
    @Option(name: .customLong("learning-rate"), help: "Learning rate of the preference runs.") var learningRate = 2e-4
    @Option(help: "β of DPO and LiPO-λ.") var beta = 0.1
    @Option(name: .customLong("ipo-beta"), help: "τ of IPO (its target gap 1/(2τ) is per token, TRL's length-normalised IPO).") var ipoBeta = 1.0
    @Option(name: .customLong("sft-weight"), help: "Add TRL's sft loss (NLL of the chosen responses; for lists, of the best one) with this weight to each method (0: none).") var sftWeight = 1.0
    @Option(help: "Training pairs (and ranked lists: half as many).") var pairs = 4000
    @Option(name: .customLong("sft-rows"), help: "Rows of the SFT data the starting model is trained on.") var sftRowCount = 4000
    @Option(name: .customLong("held-out"), help: "Held-out prompts and pairs.") var heldOut = 300
    @Option(help: "Methods to run: dpo, ipo, lipo_lambda (comma-separated).") var methods = "dpo,ipo,lipo_lambda"
    @Option(help: "Print this many held-out prompts with the SFT model's and each method's responses.") var show = 3
    @Flag(help: "A seconds-long version (tiny data and steps; the figures are not meaningful).") var smoke = false
    @Flag(help: "Measure DPO throughput on the peers' DPO work (dpo_bench.py --export) instead of learning.") var speed = false
    @Flag(help: "With --speed: run TRL's DPOTrainer on the same work in this run and print the ratio.") var peer = false
    @Option(help: "With --speed: the exported work directory (written by the peer when missing).") var work: String?
    @Flag(help: "With --speed: LoRA DPO (r 16, α 32, every projection, dropout 0) on --model against TRL + peft, with peak memory beside LoRA SFT's.") var lora = false
    @Option(help: "With --speed --lora: the model directory (e.g. the 135M-shape model of bench generate).") var model: String?
    @Option(help: "With --speed --lora: training pairs (of the work's data.jsonl).") var rows = 32
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        threads.apply()
        if speed { return try runSpeed() }
        let started = Date()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-bench-align-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let task = OraclePreferenceTask(seed: UInt64(seed))
        let pairCount = smoke ? 64 : pairs, heldCount = smoke ? 24 : heldOut
        let sftRows = task.sftRows(count: smoke ? 256 : sftRowCount)
        let trainPairs = task.preferencePairs(count: pairCount)
        let lists = task.rankedLists(count: Swift.max(8, pairCount / 2), listSize: 4)
        let prompts = task.prompts(count: heldCount, split: .heldOut)
        let evalPairs = task.preferencePairs(count: heldCount, split: .heldOut)
        let encoder = JSONEncoder()
        func write<Row: Encodable>(_ name: String, _ rows: [Row]) throws -> URL {
            let url = scratch.appendingPathComponent(name)
            try Data((try rows.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n").utf8).write(to: url)
            return url
        }
        let sftURL = try write("sft.jsonl", sftRows), pairsURL = try write("pairs.jsonl", trainPairs)
        let listsURL = try write("ranked.jsonl", lists), evalPairsURL = try write("eval_pairs.jsonl", evalPairs)

        // 1. SFT of a from-scratch tiny model with a character tokenizer (the 26 letters and '=').
        let modelURL = scratch.appendingPathComponent("init"), sftModelURL = scratch.appendingPathComponent("sft")
        let (tokenizer, files) = try RandomModel.characterTokenizer(characters: "abcdefghijklmnopqrstuvwxyz=")
        try RandomModel.write(.llama, preset: .tiny, tokenizer: tokenizer, tokenizerFiles: files, to: modelURL, seed: UInt64(seed))
        let initial = try LanguageModel(directory: modelURL)
        var sft = SFTConfiguration()
        sft.perDeviceTrainBatchSize = 64
        sft.numTrainEpochs = smoke ? 1 : sftEpochs
        sft.learningRate = 2e-3
        sft.lrSchedulerType = "cosine"
        sft.warmupRatio = 0.05
        sft.loggingSteps = smoke ? 2 : 25
        sft.seed = seed
        let sftData = try SFTDataset(contentsOf: sftURL, tokenizer: initial.tokenizer!, eosTokenID: initial.eosTokenIDs.first)
        let sftTrainer = try SFTTrainer(model: initial, train: sftData, configuration: sft, label: "sft oracle-preference")
        try TrainingLoop.run(sftTrainer, recorders: [ProgressRecorder(headline: [("loss", "train/loss")])])
        try sftTrainer.saveModel(to: sftModelURL)
        let sftModel = try LanguageModel(directory: sftModelURL)
        let maxNew = OraclePreferenceTask.letterCounts.upperBound + 8
        let baseline = try modelResponses(sftModel, prompts: prompts, maxNewTokens: maxNew)
        let baselineScores = zip(prompts, baseline).map { OraclePreferenceTask.oracleScore(prompt: $0, response: $1) }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(Swift.max(1, values.count)) }
        print(String(format: "sft: mean oracle score of greedy responses on %d held-out prompts %.3f", prompts.count, mean(baselineScores)))

        // 2. Each preference method from the SFT model, judged against it.
        var report: [String: Any] = ["bench": "align", "task": "oracle-preference", "seed": seed, "smoke": smoke, "threads": LibTorch.numThreads,
                                     "heldout_prompts": prompts.count, "train_pairs": trainPairs.count, "ranked_lists": lists.count,
                                     "sft_mean_oracle_score": mean(baselineScores), "sft_steps": sftTrainer.plannedSteps,
                                     "sft_epochs": sft.numTrainEpochs, "learning_rate": learningRate, "beta": beta, "ipo_beta": ipoBeta, "epochs": epochs, "sft_weight": sftWeight]
        for method in methods.split(separator: ",").map(String.init) {
            guard let loss = PreferenceLoss(rawValue: method == "dpo" ? "sigmoid" : method), [.sigmoid, .ipo, .lipoLambda].contains(loss) else {
                throw ValidationError("--methods: '\(method)' is not one of dpo, ipo, lipo_lambda")
            }
            let policy = try LanguageModel(directory: sftModelURL), reference = try LanguageModel(directory: sftModelURL)
            reference.decoder.freeze()
            reference.decoder.eval()
            var settings = PreferenceConfiguration(method: .dpo)
            settings.lossTypes = [loss]
            if sftWeight > 0 {
                settings.lossTypes = [loss, .sft]
                settings.lossWeights = [1, sftWeight]
            }
            settings.parameters.beta = loss == .ipo ? ipoBeta : beta
            settings.training.perDeviceTrainBatchSize = loss == .lipoLambda ? 16 : 32
            settings.training.numTrainEpochs = smoke ? 1 : epochs
            settings.training.learningRate = learningRate
            settings.training.lrSchedulerType = "constant"
            settings.training.loggingSteps = smoke ? 1 : 10
            settings.training.seed = seed
            let data = try PreferenceDataset(contentsOf: loss.isListwise ? listsURL : pairsURL, tokenizer: policy.tokenizer!, eosTokenID: policy.eosTokenIDs.first)
            let trainer = try PreferenceTrainer(model: policy, reference: .model(reference), train: data, configuration: settings, label: "\(method) oracle-preference")
            let losses = LossRecorder()
            try TrainingLoop.run(trainer, recorders: [losses, ProgressRecorder(headline: [("loss", "train/loss"), ("accuracy", "train/rewards/accuracies")])])
            let responses = try modelResponses(policy, prompts: prompts, maxNewTokens: maxNew)
            var win = WinRate()
            var scores: [Double] = []
            for (k, prompt) in prompts.enumerated() {
                let score = OraclePreferenceTask.oracleScore(prompt: prompt, response: responses[k])
                scores.append(score)
                win.record(candidate: score, baseline: baselineScores[k])
            }
            let name = method == "dpo" ? "dpo" : method
            for k in 0..<Swift.min(show, prompts.count) {
                print("  \(prompts[k])  sft: \(baseline[k]) (\(String(format: "%.2f", baselineScores[k])))  \(name): \(responses[k]) (\(String(format: "%.2f", scores[k])))")
            }
            print("\(name): win rate against SFT \(win.summary); mean oracle score \(String(format: "%.3f", mean(scores)))")
            report["\(name)_win_rate"] = win.rate
            report["\(name)_win_rate_ci"] = [win.interval.low, win.interval.high]
            report["\(name)_mean_oracle_score"] = mean(scores)
            report["\(name)_first_loss"] = losses.values.first ?? Double.nan
            report["\(name)_last_loss"] = losses.values.last ?? Double.nan
            report["\(name)_final_train_loss"] = try trainer.evaluate(data)["loss"] ?? Double.nan
            if loss == .sigmoid {
                let held = try PreferenceDataset(contentsOf: evalPairsURL, tokenizer: policy.tokenizer!, eosTokenID: policy.eosTokenIDs.first)
                let (accuracy, counted) = PreferenceTrainer.implicitRewardAccuracy(policy: policy, reference: reference, pairs: held) { i in
                    (OraclePreferenceTask.oracleScore(prompt: evalPairs[i].prompt, response: evalPairs[i].chosen),
                     OraclePreferenceTask.oracleScore(prompt: evalPairs[i].prompt, response: evalPairs[i].rejected))
                }
                print(String(format: "dpo: implicit reward orders %.1f%% of %d held-out pairs as the noise-free oracle does", accuracy * 100, counted))
                report["dpo_preference_accuracy"] = accuracy
                report["dpo_preference_pairs"] = counted
            }
        }
        report["total_seconds"] = Date().timeIntervalSince(started)
        printJSON(report)
    }

    /// Proxima's whole `align dpo` process on the exported work (batch 16, one epoch, lr 1e-4 constant, β 0.1,
    /// sigmoid, frozen-copy reference, float32), then TRL's `DPOTrainer.train()` on the same work.
    func runSpeed() throws {
        let workURL = URL(fileURLWithPath: work ?? FileManager.default.temporaryDirectory.appendingPathComponent("proxima-dpo-work").path)
        if !FileManager.default.fileExists(atPath: workURL.appendingPathComponent("data.jsonl").path) {
            switch PeerScript.run("trl_dpo.py", arguments: ["--export", workURL.path]) {
            case .measured: break
            case .unavailable(let reason), .failed(let reason):
                throw ValidationError("cannot export the DPO work to \(workURL.path): \(reason)")
            }
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-bench-dpo-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: out) }
        if lora { return try runLoRASpeed(workURL: workURL, out: out) }
        let arguments = ["align", "dpo", "--model", workURL.path, "--data", workURL.appendingPathComponent("data.jsonl").path, "--out", out.path,
                         "--per-device-train-batch-size", "16", "--num-train-epochs", "1", "--learning-rate", "1e-4",
                         "--lr-scheduler-type", "constant", "--beta", "0.1", "--max-length", "128", "--logging-steps", "25",
                         "--save-steps", "100000", "--threads", "\(LibTorch.numThreads)", "--quiet",
                         // dpo_bench.py runs TRL without gradient checkpointing for this float32 comparison: so do we.
                         "--no-gradient-checkpointing"]
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let measured = try measuredProcess(executable, arguments)
        guard measured.status == 0 else { throw ValidationError("proxima align dpo failed with status \(measured.status)") }
        let rows = try JSONLines(contentsOf: workURL.appendingPathComponent("data.jsonl")).rows.count
        var report: [String: Any] = ["bench": "align", "mode": "speed", "pairs": rows, "threads": LibTorch.numThreads,
                                     "proxima_process_seconds": measured.seconds, "proxima_pairs_per_s": Double(rows) / measured.seconds,
                                     "proxima_peak_rss_mb": measured.peakMB]
        print(String(format: "proxima align dpo: %d pairs in %.2f s (whole process) = %.1f pairs/s, peak RSS %.0f MB",
                     rows, measured.seconds, Double(rows) / measured.seconds, measured.peakMB))
        if peer {
            switch PeerScript.run("trl_dpo.py", arguments: ["--impl", "trl", "--threads", "\(LibTorch.numThreads)"]) {
            case .measured(let trl):
                let seconds = (trl["train_wall_s"] as? Double) ?? .nan
                report["trl_train_seconds"] = seconds
                report["trl_pairs_per_s"] = trl["pairs_per_s"]
                report["speedup"] = seconds / measured.seconds
                print(String(format: "TRL DPOTrainer.train(): %.2f s = %.1f pairs/s; Proxima's whole process is %.2f× faster", seconds, Double(rows) / seconds, seconds / measured.seconds))
            case .unavailable(let reason): print("TRL not run: \(reason)")
            case .failed(let reason): throw ValidationError("the TRL peer failed: \(reason)")
            }
        }
        printJSON(report)
    }

    /// LoRA DPO on `--model` over the work's first `--rows` pairs (batch 8): Proxima's whole process and peak memory,
    /// LoRA SFT's peak memory on the same model, rows (prompt → chosen) and batch, and TRL + peft's DPO `train()`.
    func runLoRASpeed(workURL: URL, out: URL) throws {
        guard let model else { throw ValidationError("--lora needs --model DIR") }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let lines = try String(contentsOf: workURL.appendingPathComponent("data.jsonl"), encoding: .utf8).split(separator: "\n").prefix(rows)
        let pairsURL = out.appendingPathComponent("pairs.jsonl"), sftURL = out.appendingPathComponent("sft.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: pairsURL, atomically: true, encoding: .utf8)
        let sftLines = try lines.map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return String(decoding: try JSONSerialization.data(withJSONObject: ["prompt": object["prompt"]!, "completion": object["chosen"]!]), as: UTF8.self)
        }
        try (sftLines.joined(separator: "\n") + "\n").write(to: sftURL, atomically: true, encoding: .utf8)
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let common = ["--model", model, "--per-device-train-batch-size", "8", "--num-train-epochs", "1", "--learning-rate", "1e-4",
                      "--lr-scheduler-type", "constant", "--max-length", "128", "--logging-steps", "2", "--save-steps", "100000",
                      "--lora-r", "16", "--lora-alpha", "32", "--lora-dropout", "0", "--threads", "\(LibTorch.numThreads)", "--quiet"]
        let dpo = try measuredProcess(executable, ["align", "dpo", "--data", pairsURL.path, "--out", out.appendingPathComponent("dpo").path, "--beta", "0.1"] + common)
        guard dpo.status == 0 else { throw ValidationError("proxima align dpo failed with status \(dpo.status)") }
        let sft = try measuredProcess(executable, ["align", "sft", "--data", sftURL.path, "--out", out.appendingPathComponent("sft").path] + common)
        guard sft.status == 0 else { throw ValidationError("proxima align sft failed with status \(sft.status)") }
        print(String(format: "proxima LoRA DPO: %d pairs in %.2f s (whole process), peak RSS %.0f MB; LoRA SFT on the same rows and batch: peak RSS %.0f MB (DPO/SFT %.2f×)",
                     lines.count, dpo.seconds, dpo.peakMB, sft.peakMB, dpo.peakMB / sft.peakMB))
        var report: [String: Any] = ["bench": "align", "mode": "speed_lora", "pairs": lines.count, "threads": LibTorch.numThreads,
                                     "proxima_process_seconds": dpo.seconds, "proxima_peak_rss_mb": dpo.peakMB,
                                     "proxima_sft_peak_rss_mb": sft.peakMB, "dpo_over_sft_peak_rss": dpo.peakMB / sft.peakMB]
        if peer {
            switch PeerScript.run("trl_lora_dpo.py", arguments: ["--model", model, "--data", pairsURL.path, "--rows", "\(lines.count)", "--threads", "\(LibTorch.numThreads)"]) {
            case .measured(let trl):
                let seconds = (trl["train_wall_s"] as? Double) ?? .nan
                report["trl_train_seconds"] = seconds
                report["trl_peak_rss_mb"] = trl["peak_rss_mb"]
                report["speedup"] = seconds / dpo.seconds
                print(String(format: "TRL + peft DPOTrainer.train(): %.2f s, peak RSS %@ MB; Proxima's whole process is %.2f× faster",
                             seconds, "\(trl["peak_rss_mb"] ?? "?")", seconds / dpo.seconds))
            case .unavailable(let reason): print("TRL not run: \(reason)")
            case .failed(let reason): throw ValidationError("the TRL peer failed: \(reason)")
            }
        }
        printJSON(report)
    }
}
