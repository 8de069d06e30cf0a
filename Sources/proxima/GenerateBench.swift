import ArgumentParser
import Foundation
import LanguageModels
import Torch

/// `proxima bench generate`: decoding speed on a model directory, the work `Benchmarks/peers/hf_generate.py` gives
/// transformers — B prompts of P random token ids (no padding), exactly N new tokens each (stop tokens ignored), KV
/// cache on, float32. Reports the best of `--repeats` runs after a short warm-up.
struct GenerateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Batched generation speed (new tokens per second of decoding) on a Hugging Face model directory."
    )

    @Option(help: "A Hugging Face model directory.") var model: String
    @Option(name: .customLong("batch-size"), help: "Prompts in the batch.") var batchSize = 8
    @Option(name: .customLong("prompt-tokens"), help: "Tokens per prompt.") var promptTokens = 32
    @Option(name: .customLong("max-new-tokens"), help: "New tokens per prompt (exactly this many).") var maxNewTokens = 64
    @Flag(help: "Sample at temperature 1 instead of greedy decoding.") var sample = false
    @Option(help: "Timed runs; the best is reported.") var repeats = 3
    @Flag(help: "Also run transformers' generate on the same work (Benchmarks/peers/hf_generate.py) and print the ratio.")
    var peer = false
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        for (name, value) in [("--batch-size", batchSize), ("--prompt-tokens", promptTokens), ("--max-new-tokens", maxNewTokens), ("--repeats", repeats)] where value < 1 {
            throw ValidationError("\(name) must be at least 1, got \(value)")
        }
    }

    func run() throws {
        threads.apply()
        let before = MemoryStatus.residentBytes()
        MemoryStatus.resetPeak()
        let loadStart = Date()
        let lm = try LanguageModel(directory: URL(fileURLWithPath: model))
        let loadSeconds = Date().timeIntervalSince(loadStart)
        // Touch every weight so that the load's peak includes pages mapped but not yet read.
        withInferenceMode { for p in lm.decoder.parameters() { _ = p.sum().item(Double.self) } }
        let loadPeak = MemoryStatus.peakBytes() - before
        let weightBytes = lm.decoder.parameters().reduce(0) { $0 + $1.count * $1.dtype.byteSize }
        let vocabulary = lm.configuration.vocabularySize
        let generator = Torch.Generator(seed: 0)
        let ids = Tensor.randint(3, Swift.min(vocabulary, 380), shape: [batchSize, promptTokens], generator: generator)
            .scalars(as: Int64.self).map(Int.init)
        let prompts = (0..<batchSize).map { Array(ids[($0 * promptTokens)..<(($0 + 1) * promptTokens)]) }
        var parameters = SamplingParameters(maxNewTokens: maxNewTokens, temperature: sample ? 1 : 0)
        parameters.ignoreStopTokens = true
        var warmUp = parameters
        warmUp.maxNewTokens = Swift.min(4, maxNewTokens)
        _ = try lm.generate(prompts: prompts, parameters: warmUp)
        var best = GenerationStatistics()
        best.decodeSeconds = .infinity
        best.prefillSeconds = .infinity
        for _ in 0..<repeats {
            let (sequences, statistics) = try lm.generate(prompts: prompts, parameters: parameters)
            precondition(sequences.allSatisfy { $0.tokens.count == maxNewTokens }, "every sequence has exactly N tokens")
            best.newTokens = statistics.newTokens
            best.promptTokens = statistics.promptTokens
            best.decodeSeconds = Swift.min(best.decodeSeconds, statistics.decodeSeconds)
            best.prefillSeconds = Swift.min(best.prefillSeconds, statistics.prefillSeconds)
            if statistics.decodeSeconds == best.decodeSeconds {
                best.samplingSeconds = statistics.samplingSeconds
                best.kernelSteps = statistics.kernelSteps
                best.decodingSteps = statistics.decodingSteps
            }
        }
        // The machine's single-thread read bandwidth, for comparison: summing a 256 MiB buffer, best of three.
        let buffer = Tensor.ones([64 << 20])
        var readGBs = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = buffer.sum().item(Double.self)
            readGBs = Swift.max(readGBs, Double(256 << 20) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) / 1e9)
        }
        // Each decoding step reads every weight once: bytes per step × steps per second.
        let steps = Double(maxNewTokens - 1)
        let weightGBs = Double(weightBytes) * steps / best.decodeSeconds / 1e9
        let peak = Double(MemoryStatus.peakBytes()) / 1_048_576
        print("\(lm.configuration.architecture.rawValue), \(lm.decoder.parameterCount()) parameters (\(String(format: "%.1f", Double(weightBytes) / 1e6)) MB float32), loaded in \(String(format: "%.2f", loadSeconds)) s, load peak +\(String(format: "%.0f", Double(loadPeak) / 1_048_576)) MiB = \(String(format: "%.2f", Double(loadPeak) / Double(weightBytes)))× the weights")
        print("batch \(batchSize) × \(promptTokens) prompt tokens, \(maxNewTokens) \(sample ? "sampled" : "greedy") tokens, \(LibTorch.numThreads) thread(s): \(String(format: "%.1f", best.tokensPerSecond)) tokens/s decoding (weights read at \(String(format: "%.1f", weightGBs)) GB/s; this machine reads \(String(format: "%.1f", readGBs)) GB/s on one thread), prefill \(String(format: "%.0f", best.prefillTokensPerSecond)) tokens/s; sampling took \(String(format: "%.0f", 100 * best.samplingSeconds / best.decodeSeconds))% of decoding; \(best.kernelSteps) of \(best.decodingSteps) steps by the decoding kernel")
        var result: [String: Any] = [
            "impl": "proxima", "model": URL(fileURLWithPath: model).lastPathComponent, "batch": batchSize,
            "prompt_tokens": promptTokens, "new_tokens": maxNewTokens, "threads": LibTorch.numThreads,
            "tokens_per_s": best.tokensPerSecond, "prefill_tokens_per_s": best.prefillTokensPerSecond,
            "wall_s": best.decodeSeconds + best.prefillSeconds, "peak_rss_mb": peak,
            "load_peak_ratio": Double(loadPeak) / Double(weightBytes), "weights_gb_per_s": weightGBs, "read_bandwidth_gb_per_s": readGBs,
            "skinny_linear_calls": SkinnyLinear.calls, "decode_kernel_steps": best.kernelSteps, "decoding_steps": best.decodingSteps,
        ]
        if peer {
            var arguments = ["--model", model, "--batch-size", String(batchSize), "--prompt-tokens", String(promptTokens),
                             "--max-new-tokens", String(maxNewTokens), "--threads", String(LibTorch.numThreads), "--repeats", String(repeats)]
            if sample { arguments.append("--sample") }
            switch PeerScript.run("hf_generate.py", arguments: arguments) {
            case .measured(let object):
                if let theirs = object["tokens_per_s"] as? Double {
                    let ratio = best.tokensPerSecond / theirs
                    print("transformers: \(String(format: "%.1f", theirs)) tokens/s; proxima / transformers = \(String(format: "%.2f", ratio))×")
                    result["transformers_tokens_per_s"] = theirs
                    result["transformers_prefill_tokens_per_s"] = object["prefill_tokens_per_s"]
                    result["transformers_peak_rss_mb"] = object["peak_rss_mb"]
                    result["ratio"] = ratio
                }
            case .unavailable(let reason): print("peer not run: \(reason)")
            case .failed(let reason): print("peer FAILED: \(reason)")
            }
        }
        printJSON(result)
    }
}
