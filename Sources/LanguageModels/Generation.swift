import Foundation
import NeuralNetworks
import Torch

/// How `LanguageModel.generate` samples. Defaults follow transformers' `generate`: sampling at temperature 1 with no
/// filter; temperature 0 is greedy decoding.
public struct SamplingParameters: Sendable, Equatable {
    /// New tokens per sequence at most.
    public var maxNewTokens = 64
    /// Logits are divided by it before sampling; 0 picks the most likely token (greedy).
    public var temperature = 1.0
    /// Sample among the k most likely tokens only.
    public var topK: Int?
    /// Sample among the most likely tokens whose probabilities sum to at least p (nucleus sampling).
    public var topP: Double?
    /// Drop tokens less likely than minP × the most likely token's probability.
    public var minP: Double?
    /// Divide the logits of tokens already in the sequence (prompt or generated) by it when positive, multiply when
    /// negative (transformers' `repetition_penalty`; 1 does nothing).
    public var repetitionPenalty: Double?
    /// Token ids that end a sequence (the stop token is kept); nil means the model's EOS ids.
    public var stopTokenIDs: [Int]?
    /// Texts that end a sequence once its decoded completion contains one (needs a `decode` function).
    public var stopStrings: [String] = []
    /// Generate exactly `maxNewTokens` tokens, ignoring stop tokens (benchmarks).
    public var ignoreStopTokens = false
    /// Seed of the sampling generator: the same seed, prompts and thread count give the same tokens.
    public var seed: UInt64 = 0
    /// Completions per prompt. The prompt is computed once and its cache copied (what GRPO does every step);
    /// results are grouped by prompt: prompt 0's samples first.
    public var samplesPerPrompt = 1
    /// Also record each sampled token's log-probability under the final processed distribution (after the
    /// penalty, top-k, top-p and min-p).
    public var recordProcessedLogProbabilities = false

    public init(maxNewTokens: Int = 64, temperature: Double = 1, topK: Int? = nil, topP: Double? = nil, minP: Double? = nil,
                repetitionPenalty: Double? = nil, stopTokenIDs: [Int]? = nil, stopStrings: [String] = [], seed: UInt64 = 0,
                samplesPerPrompt: Int = 1) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.stopTokenIDs = stopTokenIDs
        self.stopStrings = stopStrings
        self.seed = seed
        self.samplesPerPrompt = samplesPerPrompt
    }

    /// Greedy decoding of up to `maxNewTokens` tokens.
    public static func greedy(maxNewTokens: Int) -> SamplingParameters { SamplingParameters(maxNewTokens: maxNewTokens, temperature: 0) }

    public var isGreedy: Bool { temperature == 0 }

    /// Throws `GenerationError` naming the first parameter out of its range.
    public func validate() throws {
        func fail(_ name: String, _ rule: String, _ value: Any) -> GenerationError { GenerationError("\(name) \(rule), got \(value)") }
        guard maxNewTokens >= 1 else { throw fail("max_new_tokens", "must be at least 1", maxNewTokens) }
        guard temperature.isFinite && temperature >= 0 else { throw fail("temperature", "must be a finite number ≥ 0", temperature) }
        if let topK, topK < 1 { throw fail("top_k", "must be at least 1", topK) }
        if let topP, !(topP > 0 && topP <= 1) { throw fail("top_p", "must be in (0, 1]", topP) }
        if let minP, !(minP >= 0 && minP <= 1) { throw fail("min_p", "must be in [0, 1]", minP) }
        if let repetitionPenalty, !(repetitionPenalty > 0 && repetitionPenalty.isFinite) {
            throw fail("repetition_penalty", "must be a positive finite number", repetitionPenalty)
        }
        guard samplesPerPrompt >= 1 else { throw fail("samples per prompt", "must be at least 1", samplesPerPrompt) }
    }
}

/// Why a sequence ended.
public enum FinishReason: String, Sendable, Equatable {
    /// It produced a stop token (kept as its last token).
    case stopToken = "stop"
    /// Its decoded text came to contain a stop string.
    case stopString = "stop_string"
    /// It reached `maxNewTokens`.
    case length
}

/// One completion.
public struct GeneratedSequence: Sendable, Equatable {
    /// Which prompt it continues.
    public var promptIndex: Int
    /// The new tokens (a stop token included).
    public var tokens: [Int]
    /// Each token's log-probability under softmax(logits / temperature) of the raw model logits (temperature 1 for
    /// greedy decoding) — the quantity trainers recompute with `completionLogProbabilities(temperature:)`. Top-k,
    /// top-p, min-p and the repetition penalty shape which tokens are drawn, not this value.
    public var logProbabilities: [Double]
    /// Each token's log-probability under the distribution actually sampled from, when asked for.
    public var processedLogProbabilities: [Double]?
    public var finishReason: FinishReason
    /// The decoded completion, when a `decode` function was given.
    public var text: String?
}

/// Timing of one `generate` call.
public struct GenerationStatistics: Sendable, Equatable {
    public var promptTokens = 0
    public var newTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    /// The part of `decodeSeconds` spent turning logits into tokens (penalty, filters, the draw, log-probs).
    public var samplingSeconds = 0.0
    /// Decoding steps computed by the architecture's decoding kernel (the others went through the modules).
    public var kernelSteps = 0
    /// Decoding steps in all (the first new token comes from the prefill).
    public var decodingSteps = 0

    public init() {}

    /// New tokens of the whole batch per second of decoding.
    public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(newTokens) / decodeSeconds : 0 }
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
}

/// Generation refused before it started (bad parameters or prompts) or failed inside libtorch (out of memory).
public struct GenerationError: ProximaError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension LanguageModel {
    /// Continues each prompt (token ids) with up to `parameters.maxNewTokens` tokens, all prompts as one batch.
    ///
    /// Prompts are left-padded, with positions counted from each prompt's first real token; the key/value cache is
    /// allocated once for prompt + new tokens; each step feeds one token per sequence. Sequences that finish keep
    /// their place in the batch (their further tokens are discarded) until every sequence has finished.
    ///
    /// - Parameters:
    ///   - decode: turns a completion's ids into text, for stop strings and `GeneratedSequence.text`.
    ///   - onToken: called after every step with each unfinished sequence's index and new token (for streaming).
    public func generate(prompts: [[Int]], parameters: SamplingParameters, decode: (([Int]) -> String)? = nil,
                         onToken: ((_ sequence: Int, _ token: Int) -> Void)? = nil) throws
        -> (sequences: [GeneratedSequence], statistics: GenerationStatistics) {
        try parameters.validate()
        guard !prompts.isEmpty else { throw GenerationError("no prompts to generate from") }
        let vocabulary = configuration.vocabularySize
        for (i, prompt) in prompts.enumerated() {
            guard !prompt.isEmpty else { throw GenerationError("prompt \(i) has no tokens") }
            if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabulary }) {
                throw GenerationError("prompt \(i) holds token id \(bad), outside the model's vocabulary of \(vocabulary)")
            }
        }
        if !parameters.stopStrings.isEmpty && decode == nil { throw GenerationError("stop strings need a tokenizer to decode with") }
        let promptColumns = prompts.map(\.count).max()!
        let capacity = promptColumns + parameters.maxNewTokens
        if configuration.architecture == .gpt2 && capacity > configuration.maximumPositions {
            throw GenerationError("prompt (\(promptColumns) tokens) + max_new_tokens (\(parameters.maxNewTokens)) exceeds the model's \(configuration.maximumPositions) positions")
        }
        let stops = Set(parameters.ignoreStopTokens ? [] : parameters.stopTokenIDs ?? eosTokenIDs)
        return try catchingTorchErrors("generating") {
            try withInferenceMode {
                try run(prompts: prompts, promptColumns: promptColumns, capacity: capacity, stops: stops,
                        parameters: parameters, decode: decode, onToken: onToken)
            }
        }
    }

    private func run(prompts: [[Int]], promptColumns: Int, capacity: Int, stops: Set<Int>, parameters: SamplingParameters,
                     decode: (([Int]) -> String)?, onToken: ((Int, Int) -> Void)?) throws
        -> (sequences: [GeneratedSequence], statistics: GenerationStatistics) {
        var statistics = GenerationStatistics()
        statistics.promptTokens = prompts.reduce(0) { $0 + $1.count }
        let generator = Torch.Generator(seed: parameters.seed)
        let padID = padTokenID
        let batch = TokenBatch(prompts, padding: .left, padID: padID)

        // Prefill: the prompts in one pass, logits of the last column only.
        let start = Date()
        var caches = makeCaches(capacity: capacity)
        let hidden = decoder.hiddenStates(batch.ids, positions: batch.positions, mask: batch.causalMask, caches: caches)
        var logits = hidden.narrow(dim: 1, start: promptColumns - 1, length: 1).squeezed(1)
            .linear(weight: decoder.outputEmbedding)
        let copies = parameters.samplesPerPrompt
        var lengths = batch.lengths
        var history = prompts
        if copies > 1 {
            caches = caches.map { $0.repeatingRows(copies) }
            let rows = Tensor.arange(prompts.count).unsqueezed(1).expanded([prompts.count, copies]).reshaped([-1])
            logits = logits.indexSelect(dim: 0, index: rows)
            lengths = lengths.flatMap { Array(repeating: $0, count: copies) }
            history = history.flatMap { Array(repeating: $0, count: copies) }
        }
        statistics.prefillSeconds = Date().timeIntervalSince(start)

        let rows = lengths.count
        var sampler = TokenSampler(parameters: parameters, vocabulary: logits.size(1), history: history)
        var sequences = (0..<rows).map {
            GeneratedSequence(promptIndex: $0 / copies, tokens: [], logProbabilities: [],
                              processedLogProbabilities: parameters.recordProcessedLogProbabilities ? [] : nil,
                              finishReason: .length, text: nil)
        }
        var finished = [Bool](repeating: false, count: rows)
        // Keys a decoding query may see: each row's real prompt columns and every generated column.
        let padded = lengths.contains { $0 != promptColumns }
        let keyMask = padded
            ? Tensor.cat([AttentionMask.keyMask(lengths: lengths, keyLength: promptColumns, padding: .left),
                          Tensor.ones([rows, parameters.maxNewTokens], dtype: .bool)], dim: 1) : nil
        // Each row's first real key column (its prompt's left padding comes before it).
        let firstKeys = lengths.map { promptColumns - $0 }

        let decodeStart = Date()
        for step in 0..<parameters.maxNewTokens {
            let samplingStart = DispatchTime.now().uptimeNanoseconds
            let choice = sampler.choose(logits: logits, generator: generator, kernel: usesDecodeKernel)
            statistics.samplingSeconds += Double(DispatchTime.now().uptimeNanoseconds - samplingStart) / 1e9
            var nextTokens = [Int64](repeating: Int64(padID), count: rows)
            for row in 0..<rows where !finished[row] {
                let token = choice.tokens[row]
                sequences[row].tokens.append(token)
                sequences[row].logProbabilities.append(choice.logProbabilities[row])
                if let processed = choice.processedLogProbabilities { sequences[row].processedLogProbabilities?.append(processed[row]) }
                statistics.newTokens += 1
                nextTokens[row] = Int64(token)
                onToken?(row, token)
                if stops.contains(token) {
                    finished[row] = true
                    sequences[row].finishReason = .stopToken
                } else if let decode, !parameters.stopStrings.isEmpty {
                    let text = decode(sequences[row].tokens)
                    if parameters.stopStrings.contains(where: { text.contains($0) }) {
                        finished[row] = true
                        sequences[row].finishReason = .stopString
                    }
                }
            }
            sampler.record(tokens: choice.tokens, finished: finished)
            if step == parameters.maxNewTokens - 1 || finished.allSatisfy({ $0 }) { break }
            let tokenPositions = lengths.map { $0 + step }
            statistics.decodingSteps += 1
            if usesDecodeKernel,
               let fast = decoder.decodeStep(tokens: nextTokens.map(Int.init), positions: tokenPositions, firstKey: firstKeys, caches: caches) {
                logits = fast
                statistics.kernelSteps += 1
            } else {
                let input = Tensor(nextTokens, shape: [rows, 1])
                let mask = keyMask.map { $0.narrow(dim: 1, start: 0, length: promptColumns + step + 1).view([rows, 1, 1, promptColumns + step + 1]) }
                let positions = Tensor(tokenPositions.map(Int64.init), shape: [rows, 1])
                let h = decoder.hiddenStates(input, positions: positions, mask: mask, caches: caches)
                logits = h.squeezed(1).linear(weight: decoder.outputEmbedding)
            }
        }
        statistics.decodeSeconds = Date().timeIntervalSince(decodeStart)
        if let decode { for i in sequences.indices { sequences[i].text = decode(sequences[i].tokens) } }
        return (sequences, statistics)
    }
}

/// Turns each step's logits into tokens: the repetition penalty, then greedy choice or temperature, top-k, top-p
/// and min-p filtering and a draw from the generator.
struct TokenSampler {
    let parameters: SamplingParameters
    /// Boolean [rows, vocabulary]: tokens already in each sequence (for the repetition penalty).
    var seen: Tensor?

    init(parameters: SamplingParameters, vocabulary: Int, history: [[Int]]) {
        self.parameters = parameters
        if let penalty = parameters.repetitionPenalty, penalty != 1 {
            // Rows of different lengths are padded with their own first token (scattering it twice is harmless).
            let width = history.map(\.count).max() ?? 1
            let ids = history.flatMap { tokens in tokens.map(Int64.init) + Array(repeating: Int64(tokens[0]), count: width - tokens.count) }
            seen = Tensor.zeros([history.count, vocabulary], dtype: .bool)
                .scatter(dim: 1, index: Tensor(ids, shape: [history.count, width]), source: Tensor.ones([history.count, width], dtype: .bool))
        }
    }

    struct Choice {
        var tokens: [Int]
        var logProbabilities: [Double]
        var processedLogProbabilities: [Double]?
    }

    func choose(logits raw: Tensor, generator: Torch.Generator, kernel: Bool) -> Choice {
        // Without a repetition penalty the whole choice is one call (DecodeKernel.sample), the same arithmetic.
        if kernel && seen == nil {
            let uniforms = parameters.isGreedy ? nil : Tensor.rand([raw.size(0), 1], generator: generator)
            if let picked = DecodeKernel.sample(logits: raw.to(dtype: .float32), temperature: parameters.temperature, topK: parameters.topK,
                                                topP: parameters.topP, minP: parameters.minP, uniforms: uniforms,
                                                recordProcessed: parameters.recordProcessedLogProbabilities) {
                return Choice(tokens: picked.tokens, logProbabilities: picked.logProbabilities, processedLogProbabilities: picked.processed)
            }
        }
        let logits = raw.to(dtype: .float32)
        var processed = logits
        if let seen, let penalty = parameters.repetitionPenalty {
            let penalised = Tensor.where(logits .< 0, logits * penalty, logits / penalty)
            processed = Tensor.where(seen, penalised, logits)
        }
        let tokens: Tensor
        if parameters.isGreedy {
            tokens = processed.argmax(dim: 1)
        } else {
            processed = processed / parameters.temperature
            processed = filter(processed)
            tokens = Self.draw(processed.softmax(dim: 1), generator: generator)
        }
        let temperature = parameters.isGreedy ? 1 : parameters.temperature
        let logProbabilities = tokenLogProbabilities(logits: logits, targets: tokens, temperature: temperature)
        let processedLogProbabilities = parameters.recordProcessedLogProbabilities
            ? processed.logSoftmax(dim: 1).gather(dim: 1, index: tokens.unsqueezed(1)).squeezed(1).doubles : nil
        return Choice(tokens: tokens.scalars(as: Int64.self).map(Int.init), logProbabilities: logProbabilities.doubles,
                      processedLogProbabilities: processedLogProbabilities)
    }

    /// One token per row of `probabilities` [rows, vocabulary] by inversion of the cumulative distribution: a
    /// uniform u per row, the first token whose cumulative probability exceeds u × the row's total. One uniform
    /// draw per row, where libtorch's `multinomial` draws an exponential per vocabulary entry.
    static func draw(_ probabilities: Tensor, generator: Torch.Generator) -> Tensor {
        let rows = probabilities.size(0), vocabulary = probabilities.size(1)
        let cumulative = probabilities.cumsum(dim: 1)
        let total = cumulative.narrow(dim: 1, start: vocabulary - 1, length: 1)
        let u = Tensor.rand([rows, 1], generator: generator) * total
        return (cumulative .<= u).sum(dim: 1).clamp(max: Double(vocabulary - 1)).to(dtype: .int64)
    }

    /// top-k, then top-p, then min-p, as transformers orders its warpers; removed tokens get −∞.
    func filter(_ scores: Tensor) -> Tensor {
        var scores = scores
        let vocabulary = scores.size(1)
        if let k = parameters.topK, k < vocabulary {
            let threshold = scores.topK(k, dim: 1).values.narrow(dim: 1, start: k - 1, length: 1)
            scores = scores.maskedFill(scores .< threshold, -Double.infinity)
        }
        if let p = parameters.topP, p < 1 {
            // Ascending order: drop the low tail whose cumulative probability stays within 1 − p; keep the best.
            let (sorted, order) = scores.sorted(dim: 1)
            let cumulative = sorted.softmax(dim: 1).cumsum(dim: 1)
            let removeSorted = cumulative .<= (1 - p)
            removeSorted.assign([.slice(), .index(vocabulary - 1)], Tensor(false))
            let remove = removeSorted.scatter(dim: 1, index: order, source: removeSorted)
            scores = scores.maskedFill(remove, -Double.infinity)
        }
        if let minP = parameters.minP, minP > 0 {
            let probabilities = scores.softmax(dim: 1)
            let threshold = probabilities.max(dims: [1], keepDim: true) * minP
            scores = scores.maskedFill(probabilities .< threshold, -Double.infinity)
        }
        return scores
    }

    /// Marks this step's tokens as seen by their sequences.
    mutating func record(tokens: [Int], finished: [Bool]) {
        guard let seen else { return }
        let index = Tensor(tokens.map(Int64.init), shape: [tokens.count, 1])
        self.seen = seen.scatter(dim: 1, index: index, source: Tensor.ones([tokens.count, 1], dtype: .bool))
    }
}
