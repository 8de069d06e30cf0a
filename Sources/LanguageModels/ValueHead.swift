import Foundation
import NeuralNetworks
import Torch

/// A value head for PPO-RLHF: one linear layer (with bias) on the decoder's final hidden states, giving a value per
/// token. Stored as TRL's `AutoModelForCausalLMWithValueHead` stores it (`v_head.summary.weight`, `v_head.summary.bias`)
/// when saved with the prefix `v_head.`.
public final class ValueHead: Module {
    @Key("summary") public var projection: Linear

    /// A new head for hidden states of width `hiddenSize`, drawn with `generator` (PyTorch's default initialisation).
    public init(hiddenSize: Int, dtype: DType = .float32, generator: Generator? = nil) {
        _projection.wrappedValue = Linear(inputSize: hiddenSize, outputSize: 1, bias: true, dtype: dtype, generator: generator)
        super.init()
    }

    /// Values [batch, tokens] for hidden states [batch, tokens, hidden].
    public func callAsFunction(_ hiddenStates: Tensor) -> Tensor { projection(hiddenStates).squeezed(-1) }
}

extension LanguageModel {
    /// The decoder's final hidden states [rows, columns, hidden] for a padded batch.
    public func hiddenStates(_ batch: TokenBatch) -> Tensor {
        decoder.hiddenStates(batch.ids, positions: batch.positions, mask: batch.causalMask, caches: nil)
    }
}
