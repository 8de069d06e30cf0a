import Foundation
import Testing
import TestSupport
import Torch
@testable import Alignment
@testable import LanguageModels

@Suite("proxima align dpo|orpo|simpo|kto and data make: the command line")
struct PreferenceCLITests {
    func arguments(_ command: String, data: URL, out: URL, _ extra: [String] = []) -> [String] {
        ["align", command, "--model", gpt2Directory.path, "--data", data.path, "--out", out.path, "--per-device-train-batch-size", "4",
         "--max-steps", "3", "--save-steps", "1", "--logging-steps", "1", "--learning-rate", "1e-3", "--threads", "1", "--quiet"] + extra
    }

    @Test("align dpo writes the model, its settings, metrics with TRL's names and a checkpoint; a killed run resumes to the same weights")
    func dpoRun() throws {
        let data = try writeJSONL(preferenceRows(12))
        let root = try temporaryDirectory()
        let straight = root.appendingPathComponent("straight"), resumed = root.appendingPathComponent("resumed")
        let lora = ["--lora-r", "4", "--loss-type", "sigmoid,sft", "--loss-weights", "1,0.5"]
        let result = try runProxima(arguments("dpo", data: data, out: straight, lora))
        #expect(result.status == 0, "\(result.output)")
        for file in ["adapter_model.safetensors", "adapter_config.json", "dpo_config.json", "run.json", "metrics.jsonl", "checkpoints/checkpoint.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: straight.appendingPathComponent(file).path), "\(file)")
        }
        let metrics = try String(contentsOf: straight.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        for key in ["train/rewards/chosen", "train/rewards/rejected", "train/rewards/accuracies", "train/rewards/margins", "train/logps/chosen",
                    "train/logps/rejected", "train/logits/chosen", "train/logits/rejected"] {
            #expect(metrics.contains("\"\(key)\""), "\(key)")
        }
        let run = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: straight.appendingPathComponent("run.json"))) as? [String: Any])
        #expect(run["reference"] as? String == "adapters disabled")
        #expect((run["shared_prompt_batches"] as? Int ?? 0) > 0)

        let dying = try runProxima(arguments("dpo", data: data, out: resumed, lora), environment: ["PROXIMA_TEST_FAIL_ALLOCATION_AT_STEP": "3"])
        #expect(dying.status == 2, "\(dying.output)")
        let again = try runProxima(arguments("dpo", data: data, out: resumed, lora + ["--resume-from-checkpoint"]))
        #expect(again.status == 0, "\(again.output)")
        let a = try SafeTensors.read(straight.appendingPathComponent("adapter_model.safetensors")).tensors
        let b = try SafeTensors.read(resumed.appendingPathComponent("adapter_model.safetensors")).tensors
        #expect(!a.isEmpty && Set(a.keys) == Set(b.keys) && a.allSatisfy { b[$0.key]!.equal($0.value) })
        let fresh = try runProxima(arguments("dpo", data: data, out: straight, lora))
        #expect(fresh.status == 2 && fresh.output.contains("already holds a dpo run"), "\(fresh.output)")
    }

    @Test("bad input stops before anything is written: a line missing 'rejected', a reference with another tokenizer, an unknown loss")
    func badInput() throws {
        let root = try temporaryDirectory()
        let out = root.appendingPathComponent("run")
        let missing = try writeJSONL(preferenceRows(3) + ["{\"prompt\": \"1+1=\", \"chosen\": \"2\"}"])
        var result = try runProxima(arguments("dpo", data: missing, out: out))
        #expect(result.status == 2 && result.output == "proxima: error: \(missing.path):4: field 'rejected': missing\n", "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: out.path))

        let data = try writeJSONL(preferenceRows(4))
        let llama = Fixtures.huggingFace.appendingPathComponent("tiny-llama")
        result = try runProxima(arguments("dpo", data: data, out: out, ["--ref-model", llama.path]))
        #expect(result.status == 2 && result.output.contains("--ref-model \(llama.path): its tokenizer.json differs from the policy's"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: out.path))

        result = try runProxima(arguments("dpo", data: data, out: out, ["--loss-type", "dpo"]))
        #expect(result.status == 2 && result.output.contains("unknown loss 'dpo'"), "\(result.output)")
        let ties = try writeJSONL(["{\"prompt\": \"1+1=\", \"responses\": [\"2\", \"3\"], \"scores\": [1, 1]}"])
        result = try runProxima(arguments("dpo", data: ties, out: out, ["--loss-type", "pro"]))
        #expect(result.status == 2 && result.output.contains("\(ties.path):1: field 'scores': tied scores"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test("precompute-ref-log-probs: the first run fills the cache, the second reads it, and both train to the same weights")
    func precomputedCache() throws {
        let data = try writeJSONL(preferenceRows(8))
        let root = try temporaryDirectory()
        let cache = root.appendingPathComponent("cache")
        let environment = ["PROXIMA_CACHE_DIR": cache.path]
        let first = try runProxima(arguments("dpo", data: data, out: root.appendingPathComponent("a"), ["--precompute-ref-log-probs"]).filter { $0 != "--quiet" }, environment: environment)
        #expect(first.status == 0 && !first.output.contains("from the cache"), "\(first.output)")
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("reference-logps").path)
        #expect(files.count == 1 && files[0].hasSuffix(".safetensors"))
        let second = try runProxima(arguments("dpo", data: data, out: root.appendingPathComponent("b"), ["--precompute-ref-log-probs"]).filter { $0 != "--quiet" }, environment: environment)
        #expect(second.status == 0 && second.output.contains("reference: precomputed (reference log-probs from the cache)"), "\(second.output)")
        let live = try runProxima(arguments("dpo", data: data, out: root.appendingPathComponent("c")))
        #expect(live.status == 0)
        // The same run up to float32 rounding (the reference scored in other batch shapes): the logged losses agree.
        func losses(_ run: String) throws -> [Double] {
            try JSONLines(contentsOf: root.appendingPathComponent("\(run)/metrics.jsonl")).rows.compactMap { $0["train/loss"]?.doubleValue }
        }
        let (cached, scored) = (try losses("b"), try losses("c"))
        #expect(cached.count == 3 && scored.count == 3)
        #expect(zip(cached, scored).allSatisfy { abs($0 - $1) < 1e-5 }, "\(cached) vs \(scored)")
    }

    @Test("orpo, simpo and kto run as thin commands over the same trainer, without a reference for ORPO and SimPO")
    func otherMethods() throws {
        let root = try temporaryDirectory()
        let pairs = try writeJSONL(preferenceRows(8))
        for method in ["orpo", "simpo"] {
            let out = root.appendingPathComponent(method)
            let result = try runProxima(arguments(method, data: pairs, out: out))
            #expect(result.status == 0, "\(method): \(result.output)")
            let run = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("run.json"))) as? [String: Any])
            #expect(run["reference"] as? String == "none")
        }
        let unpaired = try writeJSONL((0..<8).map { "{\"prompt\": \"\($0)+1=\", \"completion\": \"\($0 + 1)\", \"label\": \($0 % 3 != 0)}" })
        let kto = try runProxima(arguments("kto", data: unpaired, out: root.appendingPathComponent("kto")))
        #expect(kto.status == 0, "\(kto.output)")
        let metrics = try String(contentsOf: root.appendingPathComponent("kto/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains("\"train/kl\""))
        let wrong = try runProxima(arguments("kto", data: pairs, out: root.appendingPathComponent("kto2")))
        #expect(wrong.status == 2 && wrong.output.contains("kto trains on prompt/completion/label rows"), "\(wrong.output)")
    }

    @Test("data make oracle-preference writes SFT rows, pairs, ranked lists, KTO rows and held-out prompts that the commands read")
    func oracleData() throws {
        let out = try temporaryDirectory().appendingPathComponent("oracle")
        let result = try runProxima(["data", "make", "oracle-preference", "--out", out.path, "--rows", "40", "--list-size", "3"])
        #expect(result.status == 0, "\(result.output)")
        let model = try LanguageModel(directory: gpt2Directory)
        let pairs = try PreferenceDataset(contentsOf: out.appendingPathComponent("pairs.jsonl"), tokenizer: model.tokenizer!, eosTokenID: 0)
        #expect(pairs.count == 40 && pairs.format == .paired)
        let lists = try PreferenceDataset(contentsOf: out.appendingPathComponent("ranked.jsonl"), tokenizer: model.tokenizer!, eosTokenID: 0)
        #expect(lists.lists.count == 40 && lists.lists.allSatisfy { $0.responses.count == 3 && $0.scores == $0.scores.sorted(by: >) })
        let kto = try PreferenceDataset(contentsOf: out.appendingPathComponent("unpaired.jsonl"), tokenizer: model.tokenizer!, eosTokenID: 0)
        #expect(kto.format == .unpaired)
        let heldOut = try JSONLines(contentsOf: out.appendingPathComponent("eval_prompts.jsonl")).rows.compactMap { $0["prompt"]?.stringValue }
        let train = Set(try JSONLines(contentsOf: out.appendingPathComponent("sft.jsonl")).rows.compactMap { $0["prompt"]?.stringValue })
        #expect(heldOut.count == 4 && heldOut.allSatisfy { !train.contains($0) })
    }

    @Test("model init --characters writes a model with a character-level tokenizer: one token per character, no special tokens added")
    func characterModel() throws {
        let out = try temporaryDirectory().appendingPathComponent("chars")
        let result = try runProxima(["model", "init", "--arch", "llama", "--preset", "tiny", "--characters", "abc=", "--out", out.path])
        #expect(result.status == 0 && result.output.contains("vocabulary 8"), "\(result.output)")
        let model = try LanguageModel(directory: out)
        #expect(model.tokenizer!.encode("cab=", addSpecialTokens: true) == [6, 4, 5, 7])
        #expect(model.eosTokenIDs == [2])
        let both = try runProxima(["model", "init", "--arch", "llama", "--characters", "ab", "--tokenizer", gpt2Directory.path, "--out", out.path])
        #expect(both.status == 2 && both.output.contains("give one of --tokenizer DIR, --train-tokenizer FILES or --characters STRING"))
    }

    @Test("data rso samples, accepts and pairs responses that align dpo then trains on with RSO's loss")
    func rso() throws {
        let root = try temporaryDirectory()
        let prompts = try writeJSONL(["{\"prompt\": \"abcd=\"}", "{\"prompt\": \"efgh=\"}", "{\"prompt\": \"ijkl=\"}"], name: "prompts.jsonl")
        let pairs = root.appendingPathComponent("rso.jsonl")
        let made = try runProxima(["data", "rso", "--model", gpt2Directory.path, "--oracle", "oracle-preference", "--prompts", prompts.path,
                                   "--num-candidates", "8", "--num-samples", "4", "--max-new-tokens", "6", "--out", pairs.path, "--threads", "1"])
        #expect(made.status == 0 && made.output.contains("24 candidates sampled, 12 accepted"), "\(made.output)")
        let rows = try JSONLines(contentsOf: pairs).rows
        #expect(rows.count == 6 && rows.allSatisfy { ($0["chosen_score"]?.doubleValue ?? 0) >= ($0["rejected_score"]?.doubleValue ?? 0) })
        let trained = try runProxima(arguments("dpo", data: pairs, out: root.appendingPathComponent("dpo"), ["--loss-type", "rso_sigmoid_norm", "--beta", "0.05"]))
        #expect(trained.status == 0, "\(trained.output)")
    }

    @Test("bench align --smoke: the whole pipeline (SFT, DPO, IPO, LiPO-λ, oracle judging) in seconds, ending in JSON with the named figures")
    func smoke() throws {
        let result = try runProxima(["bench", "align", "--smoke", "--threads", "1", "--show", "0"])
        #expect(result.status == 0, "\(result.output)")
        let last = try #require(result.output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        for key in ["dpo_win_rate", "dpo_preference_accuracy", "ipo_win_rate", "lipo_lambda_win_rate", "sft_mean_oracle_score"] {
            #expect(object[key] is Double, "\(key)")
        }
        let first = try #require(object["dpo_first_loss"] as? Double), final = try #require(object["dpo_final_train_loss"] as? Double)
        #expect(first >= log(2.0) - 1e-3, "DPO starts from its reference: ln 2 plus the sft term")
        #expect(final < first, "DPO lowers its loss on the training pairs")
    }
}
