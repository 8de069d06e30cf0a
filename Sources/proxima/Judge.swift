import Alignment
import ArgumentParser
import Foundation
import LanguageModels
import Torch

/// `proxima judge`: the win rate of one model's responses over another's, judged by reward models or an oracle.
struct Judge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Win rate of --model over --baseline: both answer each prompt, a reward-model ensemble or an oracle scores the answers.",
        discussion: """
        --prompts is JSONL with a "prompt" string per row. Both models answer every prompt (greedy, or sampled at \
        --temperature with --seed), the judge scores each answer, and the higher score wins; equal scores are ties, \
        counted as half a win. Prints the win rate with its 95% Wilson interval, then one line of JSON. Judges: \
        --reward-model DIR (repeat it for an ensemble, reduced by --reduction: mean, min, or mean-minus-std with --k; \
        a …ForSequenceClassification directory or a reward adapter from `proxima align reward --lora-r`), or \
        --oracle oracle-preference (the true reward of `proxima data make oracle-preference`).
        """)

    enum Reduction: String, ExpressibleByArgument, CaseIterable {
        case mean, min
        case meanMinusStd = "mean-minus-std"
    }

    @Option(name: .customLong("reward-model"), help: "A reward model directory (repeat for an ensemble).") var rewardModels: [String] = []
    @Option(help: "How an ensemble's scores become one: mean, min or mean-minus-std (default mean).") var reduction: Reduction?
    @Option(help: "k of mean-minus-std: mean − k·std over the ensemble (default 1).") var k: Double?
    @Option(help: "A built-in oracle judge instead of reward models: oracle-preference.") var oracle: String?
    @Option(help: "The candidate model directory.") var model: String
    @Option(help: "The baseline model directory.") var baseline: String
    @Option(help: "JSONL with a \"prompt\" per row.") var prompts: String
    @Option(help: "Sampling temperature (0: greedy, the default).") var temperature: Double = 0
    @Option(help: "Sampling seed (both models draw with it).") var seed: UInt64 = 0
    @Option(name: .customLong("max-new-tokens"), help: "Longest answer in tokens (default 64).") var maxNewTokens: Int = 64
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if rewardModels.isEmpty == (oracle == nil) { throw ValidationError("give --reward-model DIR (one or more) or --oracle oracle-preference, not both") }
        if let oracle, oracle != "oracle-preference" { throw ValidationError("--oracle '\(oracle)': the built-in oracle is oracle-preference") }
        if oracle != nil && (reduction != nil || k != nil) { throw ValidationError("--reduction and --k combine reward models; the oracle is one judge") }
        if k != nil && reduction != .meanMinusStd { throw ValidationError("--k is the k of --reduction mean-minus-std") }
        if let k, !(k >= 0 && k.isFinite) { throw ValidationError("--k must be a finite number ≥ 0, got \(k)") }
        if !(temperature >= 0 && temperature.isFinite) { throw ValidationError("--temperature must be ≥ 0, got \(temperature)") }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1, got \(maxNewTokens)") }
    }

    func run() throws {
        threads.apply()
        let file = try JSONLines(contentsOf: URL(fileURLWithPath: prompts))
        let texts: [String] = try file.rows.map { row in
            guard let value = row["prompt"] else { throw DataError(file: prompts, line: row.line, field: "prompt", "missing") }
            guard let text = value.stringValue else { throw DataError(file: prompts, line: row.line, field: "prompt", "expected a string, found \(value.kindName)") }
            return text
        }
        let judge: any ResponseJudge
        let judgeName: String
        if oracle != nil {
            judge = OraclePreferenceTask()
            judgeName = "oracle-preference"
        } else {
            let chosen: RewardEnsemble.Reduction = switch reduction ?? .mean {
            case .mean: .mean
            case .min: .min
            case .meanMinusStd: .meanMinusStd(k ?? 1)
            }
            judge = try RewardEnsemble(directories: rewardModels.map { URL(fileURLWithPath: $0) }, reduction: chosen)
            judgeName = rewardModels.count == 1 ? "reward model" : "\(rewardModels.count) reward models (\((reduction ?? .mean).rawValue)\(reduction == .meanMinusStd ? ", k \(k ?? 1)" : ""))"
        }
        let candidate = try modelResponses(LanguageModel(directory: URL(fileURLWithPath: model)), prompts: texts, maxNewTokens: maxNewTokens,
                                           temperature: temperature, seed: seed)
        let reference = try modelResponses(LanguageModel(directory: URL(fileURLWithPath: baseline)), prompts: texts, maxNewTokens: maxNewTokens,
                                           temperature: temperature, seed: seed)
        let candidateScores = try judge.score(prompts: texts, responses: candidate)
        let baselineScores = try judge.score(prompts: texts, responses: reference)
        var win = WinRate()
        for (c, b) in zip(candidateScores, baselineScores) { win.record(candidate: c, baseline: b) }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(Swift.max(1, values.count)) }
        print("judge: \(judgeName) on \(texts.count) prompts; mean score \(String(format: "%.4f", mean(candidateScores))) (model) vs \(String(format: "%.4f", mean(baselineScores))) (baseline)")
        print("win rate of \(model) over \(baseline): \(win.summary)")
        let (low, high) = win.interval
        printJSON(["judge": judgeName, "model": model, "baseline": baseline, "prompts": texts.count, "win_rate": win.rate,
                   "ci_low": low, "ci_high": high, "wins": win.wins, "ties": win.ties, "losses": win.losses,
                   "model_mean_score": mean(candidateScores), "baseline_mean_score": mean(baselineScores),
                   "temperature": temperature, "seed": seed, "max_new_tokens": maxNewTokens])
    }
}
