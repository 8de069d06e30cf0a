import Foundation
import Testing
import NeuralNetworks
import TestSupport
import Torch
import Training
@testable import ReinforcementLearning

/// Inputs a user can type that once crashed, hung or were silently misread (issue 13's table): each is refused with
/// one `proxima: error:` line and exit code 2, and nothing is written.
@Suite("Hostile input")
struct HostileInputTests {
    static let cases: [(arguments: [String], phrase: String)] = [
        (["--set", "seed=-1"], "seed expects an integer from 0 to 2^64 − 1"),
        (["--set", "n_steps=999999999999999", "--set", "n_envs=999999999999999"], "must be at most"),
        (["--set", "n_steps=4000000", "--set", "n_envs=60000"], "n_steps × n_envs (4000000 × 60000) must be at most 2^31"),
        (["--set", "policy_kwargs={net_arch: [1e300]}"], "policy_kwargs.net_arch expects an integer"),
        (["--set", "policy_kwargs={net_arch: [18446744073709551616]}"], "policy_kwargs.net_arch expects an integer"),
        (["--set", "policy_kwargs={net_arch: [100000000000000]}"], "net_arch sizes must be from 1 to 2^20"),
        (["--set", "policy_kwargs={net_arch: [100000, 100000, 100000]}"], "of memory; this process may use"),
        (["--set", "policy_kwargs={net_arch: [2.5, 3.7]}"], "policy_kwargs.net_arch expects an integer, got 2.5"),
        (["--set", "learning_rate=inf"], "learning_rate expects a finite number"),
        (["--set", "learning_rate=lin_nan"], "learning_rate expects a finite number or lin_<finite number>"),
        (["--set", "ent_coef=nan"], "ent_coef expects a finite number"),
        (["--set", "vf_coef=-inf"], "vf_coef expects a finite number"),
        (["--set", "max_grad_norm=inf"], "max_grad_norm expects a finite number"),
        (["--set", "clip_range_vf=nan"], "clip_range_vf expects a finite number"),
        (["--set", "target_kl=inf"], "target_kl expects a finite number"),
        (["--set", "adam_eps=-1"], "adam_eps must be positive"),
        (["--set", "n_envs=" + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)], "nested deeper than 64 levels"),
        (["--total-steps", "-5"], "--total-steps must be positive, got -5"),
        (["--total-steps", "10"], "n_timesteps (10) is smaller than one rollout"),
    ]

    @Test("configuration values that once trapped are refused with one line and exit code 2", arguments: cases)
    func refused(arguments: [String], phrase: String) throws {
        let out = try temporaryDirectory().appendingPathComponent("run")
        let result = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--quiet", "--out", out.path] + arguments)
        #expect(result.reason == .exit && result.status == 2, "\(arguments): \(result.output)")
        #expect(result.output.hasPrefix("proxima: error: ") && result.output.contains(phrase), "\(arguments): \(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "\(arguments): nothing is written")
    }

    @Test("integers stay integers: the largest seed and 2^53 steps are accepted, RL Zoo's !!float 1e5 too (--validate trains nothing)")
    func integers() throws {
        for arguments in [["--seed", "18446744073709551615"], ["--total-steps", "9007199254740992"], ["--set", "n_timesteps=1e5"]] {
            let out = try temporaryDirectory().appendingPathComponent("run")
            let result = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--validate", "--out", out.path] + arguments)
            #expect(result.status == 0 && result.output.contains("configuration valid"), "\(arguments): \(result.output)")
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        let seed = try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1",
                                                settings: [("seed", UInt64.max, "--seed")])
        #expect(seed.algorithm.seed == UInt64.max)
        let error = #expect(throws: ConfigurationError.self) {
            try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1", settings: [("n_timesteps", 3, "--total-steps")])
        }
        #expect(error?.description.contains("n_timesteps (3) is smaller") == true)
        let named = #expect(throws: ConfigurationError.self) {
            try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1", settings: [("n_timesteps", "many", "--total-steps")])
        }
        #expect(named?.description.hasPrefix("--total-steps: n_timesteps expects an integer") == true, "\(String(describing: named))")
    }

    @Test("a YAML file nested 2,000 levels deep is refused, not a stack overflow")
    func deepYAML() throws {
        var text = "CartPole-v1:\n"
        for level in 1...2_000 { text += String(repeating: " ", count: 2 * level) + "k\(level):\n" }
        let file = try temporaryDirectory().appendingPathComponent("deep.yml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let result = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--config", file.path, "--quiet", "--validate"])
        #expect(result.status == 2 && result.output.contains("\(file.path): nested deeper than 64 levels"), "\(result.output)")
    }

    @Test("a model file with a NaN weight is refused naming the tensor; one that does not fit names the file")
    func badWeights() throws {
        let ppo = try PPO(quickConfiguration(), environment: "CartPole-v1")
        let url = try temporaryDirectory().appendingPathComponent("model.safetensors")
        try ppo.save(to: url)
        var (tensors, metadata) = try SafeTensors.read(url)
        let nan = try temporaryDirectory().appendingPathComponent("nan.safetensors")
        tensors["action_net.bias"] = Tensor([Float.nan, 0])
        try SafeTensors.write(tensors, metadata: metadata, to: nan)
        for extra in [[], ["--deterministic"]] {
            let result = try runProxima(["eval", "--run", nan.path] + extra)
            #expect(result.status == 2 && result.output.contains("\(nan.path): tensor 'action_net.bias' holds NaN or infinite values"), "\(result.output)")
        }
        let render = try runProxima(["render", "--run", nan.path, "--out", nan.deletingLastPathComponent().appendingPathComponent("e.svg").path])
        #expect(render.status == 2 && render.output.contains("holds NaN"), "\(render.output)")
        tensors["action_net.bias"] = Tensor([Float(0), 0, 0])
        metadata["proxima.config"] = "{}"
        let misfit = try temporaryDirectory().appendingPathComponent("misfit.safetensors")
        try SafeTensors.write(tensors, metadata: metadata, to: misfit)
        let result = try runProxima(["eval", "--run", misfit.path])
        #expect(result.status == 2 && result.output.contains("\(misfit.path): state dict does not fit"), "\(result.output)")
    }

    @Test("settings files that are directories, empty or missing are refused in words; --version answers")
    func files() throws {
        let directory = try temporaryDirectory()
        let empty = directory.appendingPathComponent("empty.yml")
        try Data().write(to: empty)
        for (path, phrase) in [(directory.path, "is a directory, not a settings file"), ("/dev/null", "/dev/null: empty"),
                               (empty.path, "empty"), (directory.appendingPathComponent("none.yml").path, "no such file")] {
            let result = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--config", path, "--validate"])
            #expect(result.status == 2 && result.output.contains(phrase), "\(path): \(result.output)")
        }
        let version = try runProxima(["--version"])
        #expect(version.status == 0 && version.output.hasPrefix("proxima 0.1.0 (libtorch 2.15.0)"), "\(version.output)")
    }

    @Test("a disk that fills up while training stops the run with an error naming the file, not a crash")
    func fullDisk() throws {
        // A file-size limit (with SIGXFSZ ignored, writes past it fail with EFBIG) stands in for a full disk: the
        // tests cannot mount file systems. The run's metrics outgrow 20 KiB during the first few updates.
        let out = try temporaryDirectory().appendingPathComponent("run")
        let (status, reason, output) = try runProcess("/bin/bash", [
            "-c", "ulimit -f 20; trap '' XFSZ; exec \"$0\" \"$@\"", proximaExecutable.path,
            "train", "ppo", "--env", "CartPole-v1", "--quiet", "--total-steps", "16384", "--out", out.path])
        #expect(reason == .exit && status == 2, "\(output)")
        #expect(output.contains("proxima: error: cannot write \(out.path)/metrics") && output.contains("File too large"), "\(output)")
        // What was written before stays readable: the configuration, and run.json saying why the run stopped.
        let configuration = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json")))
        #expect(configuration is [String: Any])
        let run = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("run.json"))) as? [String: Any]
        #expect((run?["status"] as? String)?.hasPrefix("failed: cannot write") == true, "\(String(describing: run))")
    }

    /// Whether this machine lets the tests mount a file system in a private mount namespace (root with
    /// CAP_SYS_ADMIN); elsewhere the read-only test is reported as skipped.
    static let canMountPrivately: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = ["-m", "true"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    @Test("train and plot into a read-only mount are refused in words with exit code 2",
          .enabled(if: canMountPrivately, "needs a private mount namespace (unshare -m)"))
    func readOnlyMount() throws {
        let mountPoint = try temporaryDirectory()
        let binary = proximaExecutable.path
        let run = try temporaryDirectory()
        try Data((1...3).map { "{\"step\":\($0),\"wall_time\":0,\"rollout/ep_rew_mean\":\($0)}\n" }.joined().utf8)
            .write(to: run.appendingPathComponent("metrics.jsonl"))
        for (command, phrase) in [("\(binary) train ppo --env CartPole-v1 --quiet --total-steps 4096 --out \(mountPoint.path)/run",
                                   "proxima: error: \(mountPoint.path)/run: read-only file system"),
                                  ("\(binary) plot \(run.path) --out \(mountPoint.path)/p.svg",
                                   "proxima: error: \(mountPoint.path)/p.svg: cannot write (read-only file system)")] {
            let (status, _, output) = try runProcess("/usr/bin/unshare", ["-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs \(mountPoint.path) && exec \(command)"])
            #expect(status == 2 && output.contains(phrase), "\(command): \(output)")
        }
    }

    @Test("an error message stays on one line even when it echoes a newline from the input")
    func oneLine() throws {
        let result = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--set", "n_en\nvs=3", "--validate"])
        #expect(result.status == 2 && result.output.split(separator: "\n").count == 1 && result.output.contains("\\n"), "\(result.output)")
    }

    @Test("a checkpoint with a NaN parameter is refused on resume, naming the file and the parameter")
    func nanCheckpoint() throws {
        let ppo = try PPO(quickConfiguration(), environment: "CartPole-v1")
        let url = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        try ppo.learn(steps: 128, recorders: [CheckpointRecorder(url: url, interval: 1)])
        var checkpoint = try TrainingCheckpoint.read(from: url)
        checkpoint.model["log_std"] = nil
        let name = try #require(checkpoint.model.keys.sorted().first)
        checkpoint.model[name] = checkpoint.model[name]! * Double.nan
        try checkpoint.write(to: url)
        let fresh = try PPO(quickConfiguration(), environment: "CartPole-v1")
        let error = #expect(throws: CheckpointError.self) { try fresh.restore(checkpoint: url) }
        #expect(error?.description.contains("parameter '\(name)' holds NaN") == true, "\(String(describing: error))")
    }
}
