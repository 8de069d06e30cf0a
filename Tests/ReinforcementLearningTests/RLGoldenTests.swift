import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks
@testable import ReinforcementLearning

/// Functions of golden/rl that belong to later work (natural gradients and language-model RLHF); every other function in the folder is checked here, and a function in neither list fails the test.
let pendingRLFunctions: Set<String> = [
    "npg_step", "rlhf_ppo_advantages", "remax_loss", "rloo_advantages", "rloo_loss",
    "reinforce_pp_advantages", "grpo_advantages", "grpo_loss", "dapo_group_filter", "dapo_overlong_penalty", "pf_ppo_filter",
    "ppo_c_calibrated_reward", "reward_ensemble", "rebel_loss", "online_dpo_loss", "drpo_reset_mask", "nash_md_loss",
    "geometric_mixture_logprobs", "inpo_loss", "dno_loss", "sppo_loss", "apo_extrapolate", "vpo_loss", "rto_token_rewards",
    "copg_loss", "p3o_loss", "superhf_filter", "superhf_loss", "xpo_loss", "kimi_pmd_loss", "kimi_length_reward",
    "cosine_length_reward", "otc_tool_reward", "toolrl_correctness_reward",
]

@Suite("Classic-RL math against the golden files (golden/rl)")
struct RLGoldenTests {
    @Test("every golden/rl file is either checked here or listed as pending", arguments: Fixtures.goldenFiles("rl"))
    func golden(file: URL) throws {
        let json = try Fixtures.json(file)
        let function = json["function"] as! String
        let params = json["params"] as? [String: Any] ?? [:]
        let inputs = json["inputs"] as! [String: Any]
        let expected = json["expected"] as! [String: Any]
        let tol = json["tolerance"] as? Double ?? 1e-6
        let name = file.lastPathComponent
        func check(_ actual: Tensor, _ key: String) { check(actual.doubles, key) }
        func check(_ actual: [Double], _ key: String) {
            guard let value = expected[key] else { Issue.record("\(name): no expected '\(key)'"); return }
            expectClose(actual, flatten(value).values, atol: tol, rtol: tol, "\(name) \(key)")
        }
        func check(_ actual: Double, _ key: String) { check([actual], key) }
        func input(_ key: String) -> Tensor { tensor(inputs[key]) }
        func optionalInput(_ key: String) -> Tensor? { inputs[key] is NSNull || inputs[key] == nil ? nil : tensor(inputs[key]) }
        func timeMajor(_ key: String) -> TimeMajor<Double> {
            let (values, shape) = flatten(inputs[key])
            return TimeMajor(values, steps: shape[0], environments: shape.count > 1 ? shape[1] : 1)
        }
        func flags(_ key: String) -> TimeMajor<Bool> { let t = timeMajor(key); return TimeMajor(t.values.map { $0 != 0 }, steps: t.steps, environments: t.environments) }
        func double(_ key: String) -> Double? { params[key] as? Double }
        func bool(_ key: String) -> Bool { params[key] as? Bool ?? false }

        switch function {
        case "gae":
            let (a, r) = generalizedAdvantages(rewards: timeMajor("rewards"), values: timeMajor("values"), terminated: flags("terminated"),
                                               truncated: flags("truncated"), lastValues: flatten(inputs["last_values"]).values,
                                               truncationValues: timeMajor("truncation_values"), gamma: double("gamma")!, lambda: double("lam")!)
            check(a.values, "advantages")
            check(r.values, "returns")
        case "discounted_returns":
            let r = discountedReturns(rewards: timeMajor("rewards"), terminated: flags("terminated"), truncated: flags("truncated"),
                                      lastValues: flatten(inputs["last_values"]).values, truncationValues: timeMajor("truncation_values"),
                                      gamma: double("gamma")!)
            check(r.values, "returns")
        case "normalize_advantages":
            check(normalizeAdvantages(input("advantages"), eps: double("eps")!, unbiased: bool("unbiased")), "normalized")
        case "masked_whiten":
            check(maskedWhiten(input("values"), mask: input("mask"), shiftMean: bool("shift_mean"), unbiased: bool("unbiased"), eps: double("eps")!), "whitened")
        case "categorical":
            let logits = input("logits").requiringGrad()
            let d = Categorical(logits: logits)
            let logProb = d.logProb(tensor(inputs["actions"], dtype: .int64))
            check(logProb, "log_prob")
            check(d.entropy(), "entropy")
            check(d.probabilities, "probs")
            check(gradients(of: [logProb.sum()], withRespectTo: [logits])[0]!, "grad_logits_log_prob")
            check(gradients(of: [Categorical(logits: logits).entropy().sum()], withRespectTo: [logits])[0]!, "grad_logits_entropy")
        case "diag_gaussian":
            let mean = input("mean").requiringGrad(), logStd = input("log_std").requiringGrad()
            let d = DiagonalGaussian(mean: mean, logStd: logStd)
            let logProb = d.logProb(input("actions"))
            check(logProb, "log_prob")
            check(d.entropy(), "entropy")
            let g = gradients(of: [logProb.sum()], withRespectTo: [mean, logStd])
            check(g[0]!, "grad_mean")
            check(g[1]!, "grad_log_std")
            check(gradients(of: [d.entropy().sum()], withRespectTo: [logStd])[0]!, "grad_entropy_log_std")
        case "diag_gaussian_kl":
            let keys = ["mean_p", "log_std_p", "mean_q", "log_std_q"]
            let t = keys.map { input($0).requiringGrad() }
            let kl = DiagonalGaussian(mean: t[0], logStd: t[1]).kl(to: DiagonalGaussian(mean: t[2], logStd: t[3]))
            check(kl, "kl")
            for (g, k) in zip(gradients(of: [kl.sum()], withRespectTo: t), keys) { check(g!, "grad_\(k)") }
        case "reinforce_loss":
            let logp = input("logp").requiringGrad()
            let baseline = optionalInput("baseline")?.requiringGrad()
            let loss = ReinforceLoss(logProbs: logp, returns: input("returns"), baseline: baseline, mask: optionalInput("mask"))
            check(loss.policyLoss, "policy_loss")
            check(gradients(of: [loss.policyLoss], withRespectTo: [logp])[0]!, "grad_logp")
            if let baseline, let baselineLoss = loss.baselineLoss {
                check(baselineLoss, "baseline_loss")
                check(gradients(of: [baselineLoss], withRespectTo: [baseline])[0]!, "grad_baseline")
            }
        case "a2c_loss":
            let logp = input("logp").requiringGrad(), values = input("values").requiringGrad(), entropy = input("entropy").requiringGrad()
            let l = A2CLoss(logProbs: logp, advantages: input("advantages"), returns: input("returns"), values: values, entropy: entropy,
                            valueCoefficient: double("vf_coef")!, entropyCoefficient: double("ent_coef")!,
                            normalizeAdvantage: bool("normalize_advantage"), normalizationEps: double("norm_eps")!)
            check(l.loss, "loss"); check(l.policyLoss, "policy_loss"); check(l.valueLoss, "value_loss"); check(l.entropyLoss, "entropy_loss")
            let g = gradients(of: [l.loss], withRespectTo: [logp, values, entropy])
            check(g[0]!, "grad_logp"); check(g[1]!, "grad_values"); check(g[2]!, "grad_entropy")
        case "ppo_policy_loss":
            let logp = input("logp_new").requiringGrad()
            let l = PPOPolicyLoss(logProbs: logp, oldLogProbs: input("logp_old"), advantages: input("advantages"),
                                  clipLow: double("clip_eps_low")!, clipHigh: double("clip_eps_high"), dualClip: double("dual_clip"),
                                  normalizeAdvantages: bool("normalize_advantages"), normalizationEps: double("norm_eps")!,
                                  mask: optionalInput("mask"))
            check(l.loss, "loss")
            check(gradients(of: [l.loss], withRespectTo: [logp])[0]!, "grad_logp_new")
            check(l.clipFractionRange, "clipfrac_range"); check(l.clipFractionActive, "clipfrac_active")
            check(l.approxKL.k1, "approx_kl_k1"); check(l.approxKL.k2, "approx_kl_k2"); check(l.approxKL.k3, "approx_kl_k3")
            check(l.ratio, "ratio")
        case "ppo_value_loss":
            let values = input("values_new").requiringGrad()
            let (loss, fraction) = ppoValueLoss(values: values, oldValues: input("values_old"), returns: input("returns"),
                                                clipRange: double("clip_range_vf"), variant: ValueLossVariant(rawValue: params["variant"] as! String)!,
                                                mask: optionalInput("mask"))
            check(loss, "loss")
            check(gradients(of: [loss], withRespectTo: [values])[0]!, "grad_values_new")
            check(fraction, "vf_clipfrac")
        case "ppo_total_loss":
            let logp = input("logp_new").requiringGrad(), values = input("values_new").requiringGrad(), entropy = input("entropy").requiringGrad()
            let clip = double("clip_eps")!
            let policy = PPOPolicyLoss(logProbs: logp, oldLogProbs: input("logp_old"), advantages: input("advantages"), clipLow: clip,
                                       normalizeAdvantages: bool("normalize_advantages"), normalizationEps: double("norm_eps")!)
            let (valueLoss, _) = ppoValueLoss(values: values, oldValues: input("values_old"), returns: input("returns"),
                                              clipRange: bool("clip_vloss") ? clip : nil, variant: .cleanrl)
            let entropyLoss = entropy.mean()
            let loss = policy.loss - double("ent_coef")! * entropyLoss + double("vf_coef")! * valueLoss
            check(loss, "loss"); check(policy.loss, "pg_loss"); check(valueLoss, "v_loss"); check(entropyLoss, "entropy_loss")
            let g = gradients(of: [loss], withRespectTo: [logp, values, entropy])
            check(g[0]!, "grad_logp_new"); check(g[1]!, "grad_values_new"); check(g[2]!, "grad_entropy")
            check(policy.approxKL.k1, "approx_kl_k1"); check(policy.approxKL.k3, "approx_kl_k3"); check(policy.clipFractionRange, "clipfrac_range")
        case "mdpo_loss":
            let mean = input("mean_new").requiringGrad(), logStd = input("log_std_new").requiringGrad()
            let l = MDPOLoss(new: .gaussian(DiagonalGaussian(mean: mean, logStd: logStd)),
                             old: .gaussian(DiagonalGaussian(mean: input("mean_old"), logStd: input("log_std_old"))),
                             actions: input("actions"), advantages: input("advantages"),
                             iteration: params["iteration"] as! Int, totalIterations: params["total_iterations"] as! Int,
                             normalizeAdvantages: bool("normalize_advantages"))
            check(l.loss, "loss"); check(l.stepSize, "t_k"); check(l.klMean, "kl_mean"); check(l.surrogate, "surrogate")
            let g = gradients(of: [l.loss], withRespectTo: [mean, logStd])
            check(g[0]!, "grad_mean_new"); check(g[1]!, "grad_log_std_new")
        case "tanh_gaussian_log_prob":
            let d = SquashedGaussian(mean: input("mean"), logStd: input("log_std"), scale: optionalInput("action_scale"))
            let u = input("pre_tanh")
            check(d.logProb(preTanh: u, epsilon: double("epsilon")), "log_prob")
            check(d.action(preTanh: u), "action")
            check(d.logDetJacobian(preTanh: u, epsilon: double("epsilon")), "log_det_jacobian")
        case "kl_estimators":
            let logp = input("logp").requiringGrad()
            let mask = optionalInput("mask")
            let k = KLEstimates(logProbs: logp, referenceLogProbs: input("ref_logp"), mask: mask, clamp: double("clamp"))
            for (name, value) in [("k1", k.k1), ("k2", k.k2), ("k3", k.k3)] {
                check(value, name)
                check(KLEstimates.sequenceSum(value), "\(name)_seq_sum")
                check(KLEstimates.mean(value, mask: mask), "\(name)_mean")
                check(gradients(of: [value.sum()], withRespectTo: [logp], retainGraph: true)[0]!, "grad_logp_\(name)_sum")
            }
        default:
            #expect(pendingRLFunctions.contains(function), "\(name): function '\(function)' is neither implemented nor listed as pending")
        }
    }
}
