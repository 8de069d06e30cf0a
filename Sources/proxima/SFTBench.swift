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
    @Flag(help: "With --speed: LoRA SFT (r 16, α 32, every projection, dropout 0) on --model against TRL + peft, with peak memory.") var lora = false
    @Flag(help: "With --speed: run Proxima with its language-model fast paths off (PROXIMA_PLAIN_PATHS=1), for comparison.") var plain = false
    @Option(help: "With --speed --lora: the model directory (e.g. the 135M-shape model of bench generate).") var model: String?
    @Option(help: "With --speed --lora: training rows (of the work's data.jsonl).") var rows = 128
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        threads.apply()
        if speed { return try runSpeed() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-bench-sft-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let started = Date()
        var (train, heldOut) = ArithmeticTask(seed: UInt64(seed)).splits()
        if smoke { train = Array(train.prefix(1536)) }
        let dataURL = scratch.appendingPathComponent("train.jsonl")
        try Data((train.map(\.jsonLine).joined(separator: "\n") + "\n").utf8).write(to: dataURL)
        let modelURL = scratch.appendingPathComponent("model")
        guard let architecture = ModelArchitecture(rawValue: arch) else { throw ValidationError("--arch must be gpt2, llama, qwen2 or qwen3, got '\(arch)'") }
        let (tokenizer, files) = try RandomModel.trainDemoTokenizer(texts: train.flatMap { [$0.prompt, $0.answer] }, vocabularySize: 512)
        try RandomModel.write(architecture, preset: .tiny, tokenizer: tokenizer, tokenizerFiles: files, to: modelURL, seed: UInt64(seed))
        let model = try LanguageModel(directory: modelURL)
        let data = try SFTDataset(contentsOf: dataURL, tokenizer: model.tokenizer!, eosTokenID: model.eosTokenIDs.first)
        var settings = SFTConfiguration()
        settings.perDeviceTrainBatchSize = smoke ? 64 : batchSize
        settings.numTrainEpochs = smoke ? 1 : epochs
        settings.learningRate = learningRate
        settings.lrSchedulerType = "cosine"
        settings.warmupRatio = 0.05
        settings.weightDecay = 0.01
        settings.loggingSteps = smoke ? 4 : 50
        settings.seed = seed
        let trainer = try SFTTrainer(model: model, train: data, configuration: settings, label: "sft arithmetic")
        let trainStart = Date()
        let losses = LossRecorder()
        try TrainingLoop.run(trainer, recorders: [losses, ProgressRecorder(headline: [("loss", "train/loss"), ("tokens/s", "train/tokens_per_s")])])
        let trainSeconds = Date().timeIntervalSince(trainStart)
        let evaluated = smoke ? Array(heldOut.prefix(200)) : heldOut
        let accuracy = try ArithmeticTask.accuracy(of: model, on: evaluated)
        let total = Date().timeIntervalSince(started)
        print("held-out exact match: \(String(format: "%.1f", accuracy * 100))% of \(evaluated.count) additions (no unordered pair seen in training); trained \(trainer.plannedSteps) steps in \(String(format: "%.0f", trainSeconds)) s, \(String(format: "%.0f", total)) s in all, \(LibTorch.numThreads) threads")
        printJSON(["bench": "sft", "task": "arithmetic", "arch": arch, "heldout_exact_match": accuracy, "heldout_problems": evaluated.count,
                   "train_rows": train.count, "steps": trainer.plannedSteps, "train_seconds": trainSeconds, "total_seconds": total,
                   "threads": LibTorch.numThreads, "seed": seed, "smoke": smoke,
                   "first_loss": losses.values.first ?? Double.nan, "last_loss": losses.values.last ?? Double.nan])
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
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        var dataURL = workURL.appendingPathComponent("data.jsonl")
        var modelPath = workURL.path
        var arguments = ["--per-device-train-batch-size", "16"]
        if lora {
            guard let model else { throw ValidationError("--lora needs --model DIR") }
            modelPath = model
            let lines = try String(contentsOf: dataURL, encoding: .utf8).split(separator: "\n").prefix(rows)
            dataURL = out.appendingPathComponent("rows.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: dataURL, atomically: true, encoding: .utf8)
            arguments = ["--per-device-train-batch-size", "8", "--lora-r", "16", "--lora-alpha", "32", "--lora-dropout", "0"]
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        if plain { setenv("PROXIMA_PLAIN_PATHS", "1", 1) }
        let run = try measuredProcess(executable, ["align", "sft", "--model", modelPath, "--data", dataURL.path, "--out", out.appendingPathComponent("run").path,
                                                   "--num-train-epochs", "1", "--learning-rate", "1e-4",
                                                   "--lr-scheduler-type", "constant", "--max-length", "128", "--logging-steps", "4", "--save-steps", "100000",
                                                   "--threads", String(LibTorch.numThreads), "--quiet"] + arguments)
        let seconds = run.seconds
        guard run.status == 0 else { throw ValidationError("proxima align sft failed with status \(run.status)") }
        let lines = try String(contentsOf: out.appendingPathComponent("run/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let last = lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
        let tokens = (last["train/num_tokens"] as? Double) ?? 0
        let status = (try? Data(contentsOf: out.appendingPathComponent("run/run.json"))).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let fastPaths = status?["fast_paths"] as? [String: Any] ?? [:]
        print("proxima: fast paths \(fastPaths.keys.sorted().map { "\($0) \(fastPaths[$0]!)" }.joined(separator: ", "))")
        print("proxima: whole process \(String(format: "%.2f", seconds)) s, \(String(format: "%.0f", tokens / seconds)) tokens/s, peak RSS \(String(format: "%.0f", run.peakMB)) MB, last loss \(last["train/loss"] ?? "?")")
        var result: [String: Any] = ["bench": lora ? "sft_lora_speed" : "sft_speed", "plain_paths": plain, "proxima_process_s": seconds, "proxima_tokens_per_s": tokens / seconds,
                                     "proxima_last_loss": last["train/loss"] ?? NSNull(), "proxima_peak_rss_mb": run.peakMB, "threads": LibTorch.numThreads,
                                     "proxima_fast_paths": fastPaths]
        if peer {
            let script = lora ? "trl_lora_sft.py" : "trl_sft.py"
            let peerArguments = lora ? ["--model", modelPath, "--data", dataURL.path, "--rows", String(rows), "--threads", String(LibTorch.numThreads)]
                : ["--threads", String(LibTorch.numThreads)]
            switch PeerScript.run(script, arguments: peerArguments) {
            case .measured(let object):
                if let theirs = object["train_wall_s"] as? Double {
                    print("trl: train() \(String(format: "%.2f", theirs)) s; TRL train() / proxima whole process = \(String(format: "%.2f", theirs / seconds))×")
                    result["trl_train_s"] = theirs
                    result["trl_tokens_per_s"] = object["tokens_per_s"]
                    result["trl_last_loss"] = object["last_loss"]
                    result["trl_peak_rss_mb"] = object["peak_rss_mb"]
                    result["ratio"] = theirs / seconds
                }
            case .unavailable(let reason): print("peer not run: \(reason)")
            case .failed(let reason): print("peer FAILED: \(reason)")
            }
        }
        printJSON(result)
    }
}

/// Runs a process and reports its exit status, wall time and peak resident memory (its own, from wait4).
func measuredProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, seconds: Double, peakMB: Double) {
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    fflush(nil)
    let start = Date()
    let spawned = posix_spawn(&pid, executable, nil, nil, argv, environ)
    guard spawned == 0 else { throw ValidationError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
    let seconds = Date().timeIntervalSince(start)
    let exited = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exited, seconds, Double(usage.ru_maxrss) / 1024)
}

/// Keeps the logged training losses.
final class LossRecorder: TrainingRecorder {
    var values: [Double] = []
    func record(_ step: TrainingStepRecord) throws {
        if let loss = step.metrics["train/loss"] { values.append(loss) }
    }
}
