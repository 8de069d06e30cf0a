/// Hyper-parameters of the preference losses, with the spec's defaults. Coded (YAML/JSON) under the snake-case names
/// in the comments; a missing key keeps its default.
public struct PreferenceLossParameters: Sendable, Hashable, Codable {
    /// `beta`: DPO's beta; tau for ipo; gamma for hinge and the rso_* losses; beta of the listwise losses.
    public var beta: Double = 0.1
    /// `label_smoothing`: the flip rate eps of cdpo (in [0, 0.5]) and robust (in [0, 0.5)); read by no other loss.
    public var labelSmoothing: Double = 0
    /// `ipo_length_normalize`: IPO on per-token log-ratios (TRL) rather than sequence-level ones (the paper).
    public var ipoLengthNormalize: Bool = true
    /// `slic_delta`: SLiC-HF's margin delta (> 0).
    public var slicDelta: Double = 1
    /// `slic_lambda_reg`: SLiC-HF's regularisation weight lambda_reg (>= 0).
    public var slicRegularization: Double = 0
    /// `pro_sft_weight`: PRO's SFT weight w (>= 0), multiplied by (K - 1)^2.
    public var proSFTWeight: Double = 0.05
    /// `pro_use_temperature`: PRO's reward-gap temperatures (off: the plain listwise softmax).
    public var proUseTemperature: Bool = true
    /// `pro_eps`: the constant PRO's reference code adds inside the log (1e-10 there; >= 0).
    public var proEpsilon: Double = 0
    /// `pro_sft_index`: the response of each list that gets PRO's SFT term (0 = the best).
    public var proSFTIndex: Int = 0

    /// The defaults.
    public init() {}

    /// Throws `PreferenceLossError`, naming the parameter, for a value `loss` cannot use.
    public func validate(for loss: PreferenceLoss) throws {
        func require(_ ok: Bool, _ message: @autoclosure () -> String) throws {
            if !ok { throw PreferenceLossError("\(loss.rawValue): \(message())") }
        }
        if loss.usesBeta { try require(beta > 0 && beta.isFinite, "beta must be positive, got \(beta)") }
        switch loss {
        case .cdpo:
            try require((0...0.5).contains(labelSmoothing), "label_smoothing must lie in [0, 0.5], got \(labelSmoothing)")
        case .robust:
            try require((0..<0.5).contains(labelSmoothing), "label_smoothing (the flip rate) must lie in [0, 0.5), got \(labelSmoothing)")
        default:
            try require(labelSmoothing == 0,
                        "label_smoothing is read only by cdpo and robust, got \(labelSmoothing) (cdpo is the label-smoothed sigmoid loss)")
        }
        if loss == .slicHF {
            try require(slicDelta > 0 && slicDelta.isFinite, "slic_delta must be positive, got \(slicDelta)")
            try require(slicRegularization >= 0 && slicRegularization.isFinite, "slic_lambda_reg must be ≥ 0, got \(slicRegularization)")
        }
        if loss == .pro {
            try require(proSFTWeight >= 0 && proSFTWeight.isFinite, "pro_sft_weight must be ≥ 0, got \(proSFTWeight)")
            try require(proEpsilon >= 0 && proEpsilon.isFinite, "pro_eps must be ≥ 0, got \(proEpsilon)")
            try require(proSFTIndex >= 0, "pro_sft_index must be ≥ 0, got \(proSFTIndex)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case beta, labelSmoothing = "label_smoothing", ipoLengthNormalize = "ipo_length_normalize", slicDelta = "slic_delta",
             slicRegularization = "slic_lambda_reg", proSFTWeight = "pro_sft_weight", proUseTemperature = "pro_use_temperature",
             proEpsilon = "pro_eps", proSFTIndex = "pro_sft_index"
    }

    /// Decodes the snake-case keys above; each missing key keeps its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PreferenceLossParameters()
        beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        labelSmoothing = try c.decodeIfPresent(Double.self, forKey: .labelSmoothing) ?? d.labelSmoothing
        ipoLengthNormalize = try c.decodeIfPresent(Bool.self, forKey: .ipoLengthNormalize) ?? d.ipoLengthNormalize
        slicDelta = try c.decodeIfPresent(Double.self, forKey: .slicDelta) ?? d.slicDelta
        slicRegularization = try c.decodeIfPresent(Double.self, forKey: .slicRegularization) ?? d.slicRegularization
        proSFTWeight = try c.decodeIfPresent(Double.self, forKey: .proSFTWeight) ?? d.proSFTWeight
        proUseTemperature = try c.decodeIfPresent(Bool.self, forKey: .proUseTemperature) ?? d.proUseTemperature
        proEpsilon = try c.decodeIfPresent(Double.self, forKey: .proEpsilon) ?? d.proEpsilon
        proSFTIndex = try c.decodeIfPresent(Int.self, forKey: .proSFTIndex) ?? d.proSFTIndex
    }
}
