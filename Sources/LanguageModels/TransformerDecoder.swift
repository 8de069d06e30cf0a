import Foundation
import NeuralNetworks
import Torch

/// A decoder-only transformer as Proxima runs it: token ids in, final-norm hidden states out, and the output
/// embedding that turns hidden states into next-token logits. One type per architecture (`Models/`), each laid out
/// with the module names of its Hugging Face checkpoints, so a checkpoint loads by name.
public protocol TransformerDecoder: Module {
    var configuration: ModelConfiguration { get }

    /// Hidden states after the final normalisation, [batch, tokens, hidden], for `inputIDs` (int64 [batch, tokens]).
    ///
    /// - Parameters:
    ///   - positions: int64 [batch, tokens], each token's position within its own sequence (`cumsum(mask) − 1` for
    ///     padded batches); every architecture uses them (GPT-2's learned positions as well as rotary ones).
    ///   - mask: boolean [batch, 1, tokens, keys] (true = may attend) covering causality and padding, for padded
    ///     batches; nil means plain causal attention over the cache and the new tokens.
    ///   - caches: one key/value cache per layer, or nil for a pass without caching.
    ///   - firstOutput: the first column whose hidden state is wanted: the result is [batch, tokens − firstOutput,
    ///     hidden], the states of columns `firstOutput...`. The last layer then computes its queries, attention
    ///     output, feed-forward block and the final norm for those columns only (every layer before it, and the last
    ///     layer's keys and values, still need every column). Same values as narrowing the full result; what a loss on
    ///     the completion alone saves on a prompt's columns. Must be 0 with caches.
    func hiddenStates(_ inputIDs: Tensor, positions: Tensor, mask: Tensor?, caches: [any KeyValueCache]?,
                      firstOutput: Int) -> Tensor

    /// The matrix [vocabulary, hidden] that maps hidden states to logits (the token embedding when tied).
    var outputEmbedding: Tensor { get }

    /// One decoding step by an architecture's own kernel (see the default implementation); nil when it has none or
    /// it does not apply.
    func decodeStep(tokens: [Int], positions: [Int], firstKey: [Int], caches: [PreallocatedKeyValueCache]) -> Tensor?

    /// The model's name for a checkpoint key (nil: a key the model ignores, such as a cached rotary table).
    static func parameterName(forCheckpointKey key: String) -> String?

    /// Transformers' `gradient_checkpointing`: while gradients are recorded (and no cache is given), each decoder
    /// layer but the last keeps only its input and recomputes its activations during back-propagation. Same values
    /// and gradients, roughly one more forward pass of compute, and activation memory of one layer instead of all of
    /// them. The last layer is not recomputed: back-propagation reaches it first, so a recomputation would rebuild
    /// its activations right away and hold them at the same time as the kept ones would be held; keeping them saves
    /// that layer's second forward pass and adds only the overlap with the output layer's backward temporaries.
    var gradientCheckpointing: Bool { get set }
}

extension TransformerDecoder {
    /// Hidden states after the final normalisation for every column (see the requirement).
    public func hiddenStates(_ inputIDs: Tensor, positions: Tensor, mask: Tensor?, caches: [any KeyValueCache]?) -> Tensor {
        hiddenStates(inputIDs, positions: positions, mask: mask, caches: caches, firstOutput: 0)
    }

    /// `body(h)` for one decoder layer, checkpointed (see `gradientCheckpointing`) when that is on, gradients are
    /// recorded, the layer has no cache and is not the model's last (`isLast`). The layer's dropout generators are
    /// replayed in the recomputation.
    ///
    /// `surrogate` (input, output gradient → scalar; see `checkpointed`) is the layer's recomputation without its
    /// last projection, used when `CheckpointRecomputation.skipsLastProjection` is on.
    func runLayer(_ layer: Module, _ h: Tensor, cache: (any KeyValueCache)?, isLast: Bool = false,
                  surrogate: ((Tensor, Tensor) -> Tensor)? = nil, _ body: @escaping (Tensor) -> Tensor) -> Tensor {
        guard gradientCheckpointing, cache == nil, isGradEnabled, !isLast else { return body(h) }
        let randomness = dropoutGenerators(in: layer)
        let shortcut = CheckpointRecomputation.skipsLastProjection ? surrogate.map { surrogate in
            { (input: Tensor, gradient: Tensor) -> Tensor in
                CheckpointRecomputation.record()
                return surrogate(input, gradient)
            }
        } : nil
        return checkpointed(h, generators: randomness.generators, replayGlobalGenerator: randomness.usesGlobal,
                            name: "CheckpointedDecoderLayer", surrogate: shortcut, body)
    }
}

/// How a checkpointed decoder layer is recomputed for its backward pass: a switch, and a counter that shows the
/// shortcut ran.
///
/// A layer ends in a projection and a residual sum, out = h + W·m (+ the LoRA update). Back-propagation through them
/// needs m, h and the incoming gradient g, never `out` itself, so the recomputation stops at m and pairs it with
/// g·W (`Linear.gradientSurrogate`, `Conv1D.gradientSurrogate`): the product W·m — the feed-forward block's
/// `down_proj` (Llama, Qwen2, Qwen3) or `mlp.c_proj` (GPT-2), a quarter to a third of a layer's forward products — is
/// not computed a second time. Same gradients as the full recomputation, to rounding; tested on every architecture.
public enum CheckpointRecomputation {
    /// Whether checkpointed layers that can skip their last projection in the recomputation do (default true).
    nonisolated(unsafe) public static var skipsLastProjection = true
    /// Layer recomputations in this process that skipped it.
    nonisolated(unsafe) public private(set) static var shortcutLayers = 0

    static func record() { shortcutLayers += 1 }
}

/// What the active dropout inside `module` (LoRA adapters' and `Dropout` layers', training with p > 0) draws from:
/// its distinct explicit generators, and whether any of it uses libtorch's global generator.
func dropoutGenerators(in module: Module) -> (generators: [Generator], usesGlobal: Bool) {
    var seen = Set<ObjectIdentifier>(), generators: [Generator] = [], usesGlobal = false
    for candidate in [module] + module.namedModules().map(\.1) where candidate.isTraining {
        let (active, generator): (Bool, Generator?) = if let adapter = candidate as? any LoRAAdapted {
            (adapter.dropout > 0, adapter.dropoutGenerator)
        } else if let dropout = candidate as? Dropout {
            (dropout.p > 0, dropout.generator)
        } else {
            (false, nil)
        }
        guard active else { continue }
        if let generator {
            if seen.insert(ObjectIdentifier(generator)).inserted { generators.append(generator) }
        } else {
            usesGlobal = true
        }
    }
    return (generators, usesGlobal)
}

extension TransformerDecoder {
    /// One decoding step by a dedicated kernel, when the architecture has one and it applies: next-token logits
    /// [rows, vocabulary] for `tokens` (one per row) at `positions`, each row's real keys starting at cache column
    /// `firstKey`. nil sends the step through `hiddenStates` (the general path, which computes the same).
    public func decodeStep(tokens: [Int], positions: [Int], firstKey: [Int], caches: [PreallocatedKeyValueCache]) -> Tensor? { nil }

    /// Next-token logits [batch, tokens, vocabulary] for every position.
    public func logits(_ inputIDs: Tensor, positions: Tensor, mask: Tensor? = nil, caches: [any KeyValueCache]? = nil) -> Tensor {
        hiddenStates(inputIDs, positions: positions, mask: mask, caches: caches).linear(weight: outputEmbedding)
    }

    /// The tensors a Hugging Face checkpoint of this model holds, by checkpoint name: the module's own names, the
    /// output head left out when tied to the embedding (a tied checkpoint has no `lm_head.weight`).
    public func checkpointTensors() -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in namedParameters() { tensors[name] = tensor }
        return tensors
    }
}

/// The output head [vocabulary, hidden] of an untied model; nil when the head is the token embedding (a tied
/// checkpoint has no `lm_head.weight`).
func untiedHead(_ configuration: ModelConfiguration, dtype: DType) -> Linear? {
    configuration.tieWordEmbeddings ? nil
        : Linear(inputSize: configuration.hiddenSize, outputSize: configuration.vocabularySize, bias: false, dtype: dtype)
}

/// Builds the decoder a configuration describes, with uninitialised parameters (to be loaded).
func makeDecoder(_ configuration: ModelConfiguration, dtype: DType, outputHead: Bool = true) -> any TransformerDecoder {
    withoutInitialization {
        switch configuration.architecture {
        case .gpt2: GPT2LMHeadModel(configuration, dtype: dtype, outputHead: outputHead)
        case .llama, .qwen2, .qwen3: LlamaForCausalLM(configuration, dtype: dtype, outputHead: outputHead)
        }
    }
}

/// The checkpoint-key mapping of an architecture.
func parameterName(forCheckpointKey key: String, architecture: ModelArchitecture) -> String? {
    switch architecture {
    case .gpt2: GPT2LMHeadModel.parameterName(forCheckpointKey: key)
    case .llama, .qwen2, .qwen3: LlamaForCausalLM.parameterName(forCheckpointKey: key)
    }
}

/// Columns `first...` of [batch, tokens, …] (the tensor itself when `first` is 0).
func columns(of x: Tensor, from first: Int) -> Tensor {
    first == 0 ? x : x.narrow(dim: 1, start: first, length: x.size(1) - first)
}

/// The rows of an attention mask (broadcastable to [batch, heads, tokens, keys]) for the queries `first...`; a mask
/// that broadcasts over the queries, and nil, stay as they are.
func queryRows(of mask: Tensor?, from first: Int, tokens: Int) -> Tensor? {
    guard let mask, first > 0, mask.rank >= 2, mask.size(mask.rank - 2) == tokens else { return mask }
    return mask.narrow(dim: mask.rank - 2, start: first, length: tokens - first)
}
