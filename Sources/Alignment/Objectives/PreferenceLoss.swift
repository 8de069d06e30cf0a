import Torch

/// The pairwise and listwise losses `proxima align dpo --loss-type` accepts: TRL's names where TRL has the objective,
/// the spec's otherwise. Each case names the function in Objectives/ that computes it.
public enum PreferenceLoss: String, CaseIterable, Sendable, Codable {
    /// DPO's sigmoid loss (`DPOSigmoid`).
    case sigmoid
    /// TRL's hinge: RSO's hinge-norm with gamma = beta (`RSOLosses.hingeNorm`).
    case hinge
    /// IPO with tau = beta, length-normalised unless `ipoLengthNormalize` is off (`IPO`).
    case ipo
    /// Robust DPO with flip rate epsilon = `labelSmoothing` (`RobustDPO`).
    case robust
    /// Length-normalised DPO (`LengthNormalizedDPO`).
    case sigmoidNorm = "sigmoid_norm"
    /// Token-mean NLL of the chosen completions over the batch (`ChosenNLL`).
    case sft
    /// Conservative DPO with eps = `labelSmoothing` (`ConservativeDPO`).
    case cdpo
    /// SLiC-HF's calibration loss, regularised towards the chosen response (`SLiCHF`).
    case slicHF = "slic_hf"
    /// RSO's sigmoid-norm with gamma = beta (`RSOLosses.sigmoidNorm`).
    case rsoSigmoidNorm = "rso_sigmoid_norm"
    /// RSO's hinge-norm with gamma = beta (`RSOLosses.hingeNorm`).
    case rsoHingeNorm = "rso_hinge_norm"
    /// Listwise DPO under Plackett-Luce (`PlackettLuceDPO`).
    case dpoPlackettLuce = "dpo_plackett_luce"
    /// LiPO-lambda over graded lists (`LiPOLambda`).
    case lipoLambda = "lipo_lambda"
    /// PRO over reward-ranked lists (`PRO`).
    case pro

    /// Whether the loss takes lists (`ListLogProbabilities`) rather than pairs.
    public var isListwise: Bool { [.dpoPlackettLuce, .lipoLambda, .pro].contains(self) }

    /// Whether the loss needs the reference model's log-probabilities.
    public var usesReference: Bool { ![.slicHF, .pro, .sft].contains(self) }

    /// Whether the lists must be strict rankings (no ties between neighbours), for the data that builds them.
    public var forbidsTiedRanks: Bool { self == .dpoPlackettLuce || self == .pro }

    /// Whether `beta` enters the loss.
    var usesBeta: Bool { ![.slicHF, .pro, .sft].contains(self) }

    /// One line for `--help`: the paper and the defaults.
    public var citation: String {
        switch self {
        case .sigmoid: "DPO (Rafailov et al., 2023): -log sigmoid(beta h); beta 0.1"
        case .hinge: "RSO hinge-norm (Liu et al., 2024) as TRL's hinge: max(0, 1 - beta h); beta 0.1 (RSO: 0.05)"
        case .ipo: "IPO (Azar et al., 2023): (h - 1/(2 tau))^2 on per-token log-ratios; tau = beta 0.1, ipo_length_normalize true"
        case .robust: "Robust DPO (Chowdhury et al., 2024): flip-corrected sigmoid loss; beta 0.1, label_smoothing = flip rate in [0, 0.5), 0.1 suggested"
        case .sigmoidNorm: "Length-normalised DPO (SimPO ablation, Meng et al., 2024; Tulu 3): sigmoid on per-token log-ratios; beta 0.1"
        case .sft: "SFT: token-mean NLL of the chosen completions; no reference, no parameters"
        case .cdpo: "Conservative DPO (Mitchell, 2023): label-smoothed sigmoid loss; beta 0.1, label_smoothing in [0, 0.5], 0 = DPO"
        case .slicHF: "SLiC-HF (Zhao et al., 2023): max(0, delta - (pi_c - pi_r)) - lambda_reg pi_c; slic_delta 1, slic_lambda_reg 0; no reference"
        case .rsoSigmoidNorm: "RSO sigmoid-norm (Liu et al., 2024): softplus(-gamma h), gamma = beta; paper 0.05"
        case .rsoHingeNorm: "RSO hinge-norm (Liu et al., 2024): max(0, 1 - gamma h), gamma = beta; paper 0.05"
        case .dpoPlackettLuce: "Listwise DPO, Plackett-Luce (Rafailov et al., 2023, appendix); beta 0.1; strict rankings, best first"
        case .lipoLambda: "LiPO-lambda (Liu et al., 2024): DCG-weighted pairwise logistic loss on graded lists; beta 0.1"
        case .pro: "PRO (Song et al., 2024): ranking softmax with reward temperatures + SFT; pro_sft_weight 0.05, pro_eps 0, pro_sft_index 0; no reference"
        }
    }
}

extension PreferenceLoss {
    /// The pairwise losses on a batch of pairs, with the section-3 metrics (scale beta) when references are given and
    /// logps/chosen, logps/rejected alone otherwise. Throws for a listwise loss, invalid parameters, a missing
    /// reference or mismatched shapes.
    public func evaluate(_ pairs: PairLogProbabilities, _ p: PreferenceLossParameters) throws -> ObjectiveResult {
        guard !isListwise else { throw PreferenceLossError("\(rawValue) is listwise: evaluate it on ListLogProbabilities") }
        try p.validate(for: self)
        let (pc, pr) = (pairs.policyChosen, pairs.policyRejected)
        let shape = pc.shape
        guard shape.count == 1, [pr, pairs.chosenLengths, pairs.rejectedLengths].allSatisfy({ $0.shape == shape }) else {
            throw PreferenceLossError("\(rawValue): policy log-probabilities and lengths must all be [B]")
        }
        var reference: (chosen: Tensor, rejected: Tensor)?
        if let rc = pairs.referenceChosen, let rr = pairs.referenceRejected {
            guard rc.shape == shape && rr.shape == shape else {
                throw PreferenceLossError("\(rawValue): reference log-probabilities must be [B] like the policy's")
            }
            reference = (rc, rr)
        } else if usesReference {
            throw PreferenceLossError("\(rawValue) needs the reference model's log-probabilities (referenceChosen, referenceRejected)")
        }

        let losses: Tensor
        switch self {
        case .sft: losses = ChosenNLL.losses(policyChosen: pc, chosenLengths: pairs.chosenLengths)
        case .slicHF:
            losses = SLiCHF.evaluate(policyChosen: pc, policyRejected: pr, policyTarget: pc, delta: p.slicDelta,
                                     regularization: p.slicRegularization).losses
        default:
            let (rc, rr) = reference!
            switch self {
            case .sigmoid:
                losses = DPOSigmoid.losses(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr, beta: p.beta)
            case .cdpo:
                losses = ConservativeDPO.losses(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr,
                                                beta: p.beta, labelSmoothing: p.labelSmoothing)
            case .robust:
                losses = RobustDPO.losses(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr,
                                          beta: p.beta, epsilon: p.labelSmoothing)
            case .ipo:
                losses = IPO.losses(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr,
                                    chosenLengths: pairs.chosenLengths, rejectedLengths: pairs.rejectedLengths, tau: p.beta,
                                    lengthNormalize: p.ipoLengthNormalize)
            case .sigmoidNorm:
                losses = LengthNormalizedDPO.losses(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr,
                                                    chosenLengths: pairs.chosenLengths, rejectedLengths: pairs.rejectedLengths,
                                                    beta: p.beta)
            case .rsoSigmoidNorm:
                losses = RSOLosses.sigmoidNorm(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr,
                                               gamma: p.beta)
            default: // .hinge, .rsoHingeNorm
                losses = RSOLosses.hingeNorm(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr,
                                             gamma: p.beta)
            }
        }
        let metrics = reference.map {
            ImplicitRewards.metrics(policyChosen: pc, policyRejected: pr, referenceChosen: $0.chosen, referenceRejected: $0.rejected,
                                    scale: p.beta)
        } ?? ImplicitRewards.logpMetrics(chosen: pc.doubles, rejected: pr.doubles)
        return ObjectiveResult(losses: losses, metrics: metrics)
    }

    /// The listwise losses on a batch of lists. They log no metrics (TRL has none of them). Throws for a pairwise loss,
    /// invalid parameters, a missing reference, lists shorter than 2 or mismatched shapes.
    public func evaluate(_ lists: ListLogProbabilities, _ p: PreferenceLossParameters) throws -> ObjectiveResult {
        guard isListwise || self == .sft else { throw PreferenceLossError("\(rawValue) is pairwise: evaluate it on PairLogProbabilities") }
        try p.validate(for: self)
        let shape = lists.policy.shape
        guard shape.count == 2, shape[1] >= 2 else {
            throw PreferenceLossError("\(rawValue): policy log-probabilities must be lists [B, K] with K ≥ 2, got \(shape)")
        }
        guard lists.scores.shape == shape, lists.lengths.shape == shape, lists.reference.map({ $0.shape == shape }) ?? true else {
            throw PreferenceLossError("\(rawValue): reference, lengths and scores must be [B, K] like the policy, \(shape)")
        }
        func reference() throws -> Tensor {
            guard let reference = lists.reference else {
                throw PreferenceLossError("\(rawValue) needs the reference model's log-probabilities")
            }
            return reference
        }
        switch self {
        case .sft:
            // On lists (ordered best first) the supervised term is the NLL of each list's best response.
            let best = lists.policy.narrow(dim: 1, start: 0, length: 1).squeezed(1)
            return ObjectiveResult(losses: ChosenNLL.losses(policyChosen: best, chosenLengths: lists.lengths.narrow(dim: 1, start: 0, length: 1).squeezed(1)))
        case .dpoPlackettLuce:
            return ObjectiveResult(losses: PlackettLuceDPO.evaluate(policy: lists.policy, reference: try reference(), beta: p.beta).losses)
        case .lipoLambda:
            return ObjectiveResult(losses: LiPOLambda.evaluate(policy: lists.policy, reference: try reference(), labels: lists.scores,
                                                               beta: p.beta).losses)
        default: // .pro
            return ObjectiveResult(losses: try PRO.evaluate(policy: lists.policy, lengths: lists.lengths, rewards: lists.scores,
                                                            sftWeight: p.proSFTWeight, useTemperature: p.proUseTemperature,
                                                            epsilon: p.proEpsilon, sftIndex: p.proSFTIndex).losses)
        }
    }
}
