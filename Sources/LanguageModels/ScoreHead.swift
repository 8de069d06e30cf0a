import Foundation
import NeuralNetworks
import Torch

// A score head turns a decoder into what transformers calls `*ForSequenceClassification`: the trunk's final hidden
// states times `score.weight` [labels, hidden] (no bias), read at one position per row. Reward models are such
// models with one label; PPO-RLHF's value model is the same network read at every position.

/// Where a score model reads each row's score.
public enum ScoreReadout: Sendable, Equatable {
    /// The last real token of each row, from the batch's lengths (or attention mask). Proxima's default: a row that
    /// ends in EOS is scored at that EOS even when the pad id equals the EOS id.
    case lastRealToken
    /// transformers' rule: the last position whose id is not `padID` (position 0 when every id is `padID`). When the
    /// pad id equals the EOS id and a sequence ends in EOS, this scores the token before the EOS; checkpoints trained
    /// that way score as they were trained under this rule.
    case lastNonPadToken(padID: Int)
}

/// A score head (`score.weight` [labels, hidden], no bias), as transformers' `*ForSequenceClassification` holds it.
public final class ScoreHead: Module {
    @Key("score") public var projection: Linear

    /// A new head with PyTorch's default initialisation, drawn with `generator`.
    public init(hiddenSize: Int, labels: Int, dtype: DType, generator: Generator? = nil) {
        _projection.wrappedValue = Linear(inputSize: hiddenSize, outputSize: labels, bias: false, dtype: dtype, generator: generator)
        super.init()
    }

    /// The number of scores per position.
    public var labels: Int { projection.outputSize }
}

extension ModelConfiguration {
    /// Whether config.json's `architectures` names a `…ForSequenceClassification` class.
    public var isSequenceClassifier: Bool {
        ((raw["architectures"] as? [Any]) ?? []).contains { ($0 as? String)?.hasSuffix("ForSequenceClassification") == true }
    }

    /// The number of labels of a sequence classifier: `num_labels`, else the size of `id2label`, else 1.
    public var labelCount: Int {
        if let n = raw["num_labels"] as? Int, n > 0 { return n }
        if let labels = raw["id2label"] as? [String: Any], !labels.isEmpty { return labels.count }
        return 1
    }

    /// The class transformers gives a sequence classifier of this architecture.
    public var sequenceClassifierClass: String {
        switch architecture {
        case .gpt2: "GPT2ForSequenceClassification"
        case .llama: "LlamaForSequenceClassification"
        case .qwen2: "Qwen2ForSequenceClassification"
        case .qwen3: "Qwen3ForSequenceClassification"
        }
    }
}

extension LanguageModel {
    /// Scores [rows, labels] of a batch, read at one position per row (see `ScoreReadout`). Needs a score head
    /// (`LanguageModel(directory:scoreLabels:)` or a `…ForSequenceClassification` directory). Differentiable.
    public func scores(_ batch: TokenBatch, readout: ScoreReadout = .lastRealToken) -> Tensor {
        let perToken = tokenScores(batch)
        let columns = batch.columns
        let allIDs = batch.ids.to(dtype: .int64).contiguous().scalars(as: Int64.self)
        let idRows: [ArraySlice<Int64>] = (0..<batch.rows).map { allIDs[($0 * columns)..<(($0 + 1) * columns)] }
        var flat: [Int64] = []
        for row in 0..<batch.rows {
            let column: Int
            switch readout {
            case .lastRealToken:
                column = batch.padding == .right ? Swift.max(0, batch.lengths[row] - 1) : columns - 1
            case .lastNonPadToken(let padID):
                column = (idRows[row].lastIndex { $0 != Int64(padID) } ?? idRows[row].startIndex) - idRows[row].startIndex
            }
            flat.append(Int64(row * columns + column))
        }
        let labels = perToken.size(-1)
        return perToken.reshaped([batch.rows * columns, labels]).indexSelect(dim: 0, index: Tensor(flat))
    }

    /// Scores at every position, [rows, columns, labels] (a value model's per-token values with one label).
    public func tokenScores(_ batch: TokenBatch) -> Tensor {
        guard let head = scoreHead else {
            preconditionFailure("\(directory.path) has no score head: load it as a score model (LanguageModel(directory:scoreLabels:)) or from a …ForSequenceClassification directory")
        }
        return head.projection(hiddenStates(batch))
    }
}
