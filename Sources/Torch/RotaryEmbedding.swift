import CTorch

/// How a model's rotary position embedding rescales its frequencies: the `rope_type` of a Hugging Face config's
/// `rope_scaling` (or `rope_parameters`) with its parameters.
public enum RopeScaling: Sendable, Equatable {
    /// The original RoPE: inverse frequency base^(−2i/d) for pair i.
    case `default`
    /// Position interpolation: every inverse frequency divided by `factor`.
    case linear(factor: Double)
    /// Llama 3.1's scaling: wavelengths longer than `originalMaxPositionEmbeddings / lowFrequencyFactor` are divided
    /// by `factor`, those shorter than `originalMaxPositionEmbeddings / highFrequencyFactor` kept, and the band
    /// between interpolated smoothly.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double,
                originalMaxPositionEmbeddings: Int)

    /// The name transformers gives this type.
    public var ropeType: String {
        switch self {
        case .default: "default"
        case .linear: "linear"
        case .llama3: "llama3"
        }
    }

    /// What transformers multiplies cos and sin by for this type (1 for all three types here; YaRN and LongRoPE,
    /// not implemented, define other values).
    public var attentionScaling: Double { 1 }
}

extension RopeScaling: Decodable {
    private enum Keys: String, CodingKey {
        case ropeType = "rope_type", type, factor
        case lowFrequencyFactor = "low_freq_factor", highFrequencyFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }

    /// Decodes a transformers `rope_scaling` object (`rope_type`, or the older key `type`, with its parameters);
    /// other keys (such as `rope_theta` in `rope_parameters`) are ignored.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let name = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type)
            ?? "default"
        switch name {
        case "default":
            self = .default
        case "linear":
            self = .linear(factor: try c.decode(Double.self, forKey: .factor))
        case "llama3":
            self = .llama3(factor: try c.decode(Double.self, forKey: .factor),
                           lowFrequencyFactor: try c.decode(Double.self, forKey: .lowFrequencyFactor),
                           highFrequencyFactor: try c.decode(Double.self, forKey: .highFrequencyFactor),
                           originalMaxPositionEmbeddings: try c.decode(Int.self, forKey: .originalMaxPositionEmbeddings))
        default:
            throw DecodingError.dataCorruptedError(forKey: .ropeType, in: c,
                                                   debugDescription: "unsupported rope_type '\(name)' (supported: default, linear, llama3)")
        }
    }
}

/// Rotary position embeddings (RoPE) as transformers computes them for Llama-family models: inverse frequencies
/// per rope type, cos/sin tables for explicit position ids, and `applyRotary` in the half-split layout.
///
/// Frequencies and tables are computed in float32 with the same sequence of operations as transformers, so they
/// match the tables a checkpoint was trained with; `cosSin` converts them to the dtype asked for afterwards.
public struct RotaryEmbedding: Sendable {
    /// Rotated dimensions per head (even).
    public let dimension: Int
    /// `rope_theta`.
    public let base: Double
    public let scaling: RopeScaling
    /// float32 [dimension / 2].
    public let inverseFrequencies: Tensor

    /// - Parameters:
    ///   - dimension: the head dimension (times `partial_rotary_factor` where a model rotates only part of it).
    ///   - base: `rope_theta` (10000 for Llama 2, 500000 for Llama 3).
    public init(dimension: Int, base: Double = 10_000, scaling: RopeScaling = .default) {
        precondition(dimension > 0 && dimension % 2 == 0, "rotary dimension must be positive and even, got \(dimension)")
        self.dimension = dimension
        self.base = base
        self.scaling = scaling
        inverseFrequencies = Self.inverseFrequencies(dimension: dimension, base: base, scaling: scaling)
    }

    /// The same embedding with its inverse frequencies rounded to `dtype` (and kept in float32): what a PyTorch
    /// module cast to bfloat16 or float16 and back holds, since casting a module casts its rotary buffer too. Models
    /// whose reference outputs were computed that way need it to reproduce them.
    public func roundingFrequencies(to dtype: DType) -> RotaryEmbedding {
        RotaryEmbedding(dimension: dimension, base: base, scaling: scaling,
                        inverseFrequencies: inverseFrequencies.to(dtype: dtype).to(dtype: .float32))
    }

    private init(dimension: Int, base: Double, scaling: RopeScaling, inverseFrequencies: Tensor) {
        self.dimension = dimension
        self.base = base
        self.scaling = scaling
        self.inverseFrequencies = inverseFrequencies
    }

    /// The factor cos and sin are multiplied by (`RopeScaling.attentionScaling`).
    public var attentionScaling: Double { scaling.attentionScaling }

    /// cos and sin, each [B, T, dimension], for position ids [B, T] (per sequence, so left-padded batches work):
    /// angle = position · inverse frequency, the `dimension / 2` angles repeated once (first half, second half).
    public func cosSin(positionIds: Tensor, dtype: DType = .float32) -> (cos: Tensor, sin: Tensor) {
        precondition(positionIds.rank == 2, "position ids must be [batch, length], got \(positionIds.shape)")
        let angles = positionIds.to(dtype: .float32).unsqueezed(-1) * inverseFrequencies
        let both = Tensor.cat([angles, angles], dim: -1)
        var cos = both.cos(), sin = both.sin()
        if attentionScaling != 1 {
            cos = cos * attentionScaling
            sin = sin * attentionScaling
        }
        return (cos.to(dtype: dtype), sin.to(dtype: dtype))
    }

    /// Inverse frequencies (float32 [dimension / 2]) of a rope type, following transformers' modeling_rope_utils.
    public static func inverseFrequencies(dimension: Int, base: Double, scaling: RopeScaling) -> Tensor {
        let exponents = Tensor.arange(0, dimension, step: 2).to(dtype: .float32) / Double(dimension)
        let plain = exponents.binary(CT_POW, base, reversed: true, "pow").reciprocal()
        switch scaling {
        case .default:
            return plain
        case .linear(let factor):
            return plain / factor
        case let .llama3(factor, low, high, original):
            let context = Double(original)
            let longest = context / low, shortest = context / high
            let wavelength = plain.reciprocal() * (2 * Double.pi)
            let scaled = Tensor.where(wavelength .> longest, plain / factor, plain)
            let smooth = (wavelength.reciprocal() * context - low) / (high - low)
            let blended = (1 - smooth) * scaled / factor + smooth * scaled
            let middle = (wavelength .< shortest).logicalNot() .& (wavelength .> longest).logicalNot()
            return Tensor.where(middle, blended, scaled)
        }
    }
}

/// Rotates query and key by the rotary tables (Llama's `apply_rotary_pos_emb`): x·cos + rotateHalf(x)·sin, where
/// rotateHalf(x) = cat(−x₂, x₁) for the halves x₁, x₂ of the last dimension — the half-split layout, not the
/// interleaved pairs of the original paper.
///
/// - Parameters:
///   - query, key: [B, H, T, D] (heads at `headAxis`); D must equal the tables' last dimension.
///   - cos, sin: [B, T, D] from `RotaryEmbedding.cosSin`; a unit axis is inserted at `headAxis` to broadcast over
///     heads (use 2 for [B, T, H, D] inputs).
public func applyRotary(query: Tensor, key: Tensor, cos: Tensor, sin: Tensor, headAxis: Int = 1)
    -> (query: Tensor, key: Tensor) {
    let c = cos.unsqueezed(headAxis), s = sin.unsqueezed(headAxis)
    return (query * c + query.rotatedHalf() * s, key * c + key.rotatedHalf() * s)
}

extension Tensor {
    /// cat(−x₂, x₁) for the halves x₁, x₂ of the last dimension (which must be even).
    public func rotatedHalf() -> Tensor {
        let d = size(-1)
        precondition(d % 2 == 0, "rotatedHalf needs an even last dimension, got \(d)")
        let first = narrow(dim: -1, start: 0, length: d / 2), second = narrow(dim: -1, start: d / 2, length: d / 2)
        return Tensor.cat([-second, first], dim: -1)
    }
}
