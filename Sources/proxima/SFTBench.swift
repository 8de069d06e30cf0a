import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import Torch
import Training

/// `proxima bench sft`: the learning claim of SFT (a from-scratch tiny model learns two-digit addition: held-out
/// exact-match accuracy), or with `--speed` the throughput on the peers' SFT work beside TRL's SFTTrainer.
struct SFTBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "SFT: held-out exact-match accuracy of a from-scratch tiny model on arithmetic, or (--speed) throughput against TRL.")

    @Option(help: "Architecture of the from-scratch model.") var arch = "llama"
    @Option(name: .customLong("num-train-epochs")) var epochs = 32.0
    @Option(name: .customLong("learning-rate")) var learningRate = 2e-3
    @Option(name: .customLong("per-device-train-batch-size")) var batchSize = 128
    @Option(help: "Random seed (data, weights).") var seed = 0
    @Flag(help: "A seconds-long version (fewer epochs; accuracy is not meaningful).") var smoke = false
    @Flag(help: "Measure throughput on the peers' SFT work (sft_bench.py --export) instead of learning.") var speed = false
    @Flag(help: "With --speed: run TRL's SFTTrainer on the same work in this run and print the ratio.") var peer = false
    @Option(help: "With --speed: the exported work directory (written by the peer when missing).") var work: String?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        threads.apply()
        if speed { return try runSpeed() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-bench-sft-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let started = Date()
        let (train, heldOut) = ArithmeticTask(seed: UInt64(seed)).splits()
        let dataURL = scratch.appendingPathComponent("train.jsonl")
        try Data((train.map(\.jsonLine).joined(separator: "\n") + "\n").utf8).write(to: dataURL)
        let modelURL = scratch.appendingPathComponent("model")
        var init_ = try ModelCommand.Init.parse(["--arch", arch, "--train-tokenizer", dataURL.path, "--seed", String(seed), "--out", modelURL.path])
        try init_.run()
        let model = try LanguageModel(directory: modelURL)
        let data = try SFTDataset(contentsOf: dataURL, tokenizer: model.tokenizer!, eosTokenID: model.eosTokenIDs.first)
        var settings = SFTConfiguration()
        settings.perDeviceTrainBatchSize = batchSize
        settings.numTrainEpochs = smoke ? 1 : epochs
        settings.learningRate = learningRate
        settings.lrSchedulerType = "cosine"
        settings.warmupRatio = 0.05
        settings.weightDecay = 0.01
        settings.loggingSteps = 50
        settings.seed = seed
        let trainer = try SFTTrainer(model: model, train: data, configuration: settings, label: "sft arithmetic")
        let trainStart = Date()
        try TrainingLoop.run(trainer, recorders: [ProgressRecorder(headline: [("loss", "train/loss"), ("tokens/s", "train/tokens_per_s")])])
        let trainSeconds = Date().timeIntervalSince(trainStart)
        let evaluated = smoke ? Array(heldOut.prefix(200)) : heldOut
        let accuracy = try ArithmeticTask.accuracy(of: model, on: evaluated)
        let total = Date().timeIntervalSince(started)
        print("held-out exact match: \(String(format: "%.1f", accuracy * 100))% of \(evaluated.count) additions (no unordered pair seen in training); trained \(trainer.plannedSteps) steps in \(String(format: "%.0f", trainSeconds)) s, \(String(format: "%.0f", total)) s in all, \(LibTorch.numThreads) threads")
        printJSON(["bench": "sft", "task": "arithmetic", "arch": arch, "heldout_exact_match": accuracy, "heldout_problems": evaluated.count,
                   "train_rows": train.count, "steps": trainer.plannedSteps, "train_seconds": trainSeconds, "total_seconds": total,
                   "threads": LibTorch.numThreads, "seed": seed, "smoke": smoke])
    }

    /// Proxima's whole `align sft` process on the exported work (batch 16, one epoch, lr 1e-4 constant, completion-only
    /// loss, float32), then TRL's `train()` on the same work.
    func runSpeed() throws {
        let workURL = URL(fileURLWithPath: work ?? FileManager.default.temporaryDirectory.appendingPathComponent("proxima-sft-work").path)
        if !FileManager.default.fileExists(atPath: workURL.appendingPathComponent("data.jsonl").path) {
            switch PeerScript.run("trl_sft.py", arguments: ["--export", workURL.path]) {
            case .measured: break
            case .unavailable(let reason), .failed(let reason):
                throw ValidationError("cannot export the SFT work to \(workURL.path): \(reason)")
            }
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-sft-speed-\(ProcessInfo.processInfo.processIdentifier)")
        defer { try? FileManager.default.removeItem(at: out) }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["align", "sft", "--model", workURL.path, "--data", workURL.appendingPathComponent("data.jsonl").path, "--out", out.path,
                             "--per-device-train-batch-size", "16", "--num-train-epochs", "1", "--learning-rate", "1e-4",
                             "--lr-scheduler-type", "constant", "--max-length", "128", "--logging-steps", "25", "--save-steps", "100000",
                             "--threads", String(LibTorch.numThreads), "--quiet"]
        let start = Date()
        try process.run()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        guard process.terminationStatus == 0 else { throw ValidationError("proxima align sft failed with status \(process.terminationStatus)") }
        let lines = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
        let tokens = (last["train/num_tokens"] as? Double) ?? 0
        print("proxima: whole process \(String(format: "%.2f", seconds)) s, \(String(format: "%.0f", tokens / seconds)) tokens/s, last loss \(last["train/loss"] ?? "?")")
        var result: [String: Any] = ["bench": "sft_speed", "proxima_process_s": seconds, "proxima_tokens_per_s": tokens / seconds,
                                     "proxima_last_loss": last["train/loss"] ?? NSNull(), "threads": LibTorch.numThreads]
        if peer {
            switch PeerScript.run("trl_sft.py", arguments: ["--threads", String(LibTorch.numThreads)]) {
            case .measured(let object):
                if let theirs = object["train_wall_s"] as? Double {
                    print("trl: train() \(String(format: "%.2f", theirs)) s; TRL train() / proxima whole process = \(String(format: "%.2f", theirs / seconds))×")
                    result["trl_train_s"] = theirs
                    result["trl_tokens_per_s"] = object["tokens_per_s"]
                    result["trl_last_loss"] = object["last_loss"]
                    result["ratio"] = theirs / seconds
                }
            case .unavailable(let reason): print("peer not run: \(reason)")
            case .failed(let reason): print("peer FAILED: \(reason)")
            }
        }
        printJSON(result)
    }
}
