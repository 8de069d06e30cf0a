import Foundation
import Testing
import TestSupport
@testable import ReinforcementLearning

@Suite("Hyperparameters and the command line")
struct ConfigurationTests {
    @Test("SB3 defaults, then the shipped file, then overrides")
    func layering() throws {
        let sb3 = PPOConfiguration()
        #expect(sb3.rolloutSteps == 2048 && sb3.minibatchSize == 64 && sb3.valueClipRange == nil && sb3.valueLoss == .sb3 && sb3.adamEpsilon == 1e-5)
        let zoo = try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1")
        let ppo = try #require(zoo.algorithm as? PPOConfiguration)
        #expect(ppo.environmentCount == 8 && ppo.rolloutSteps == 32 && ppo.minibatchSize == 256 && ppo.epochs == 20 && zoo.totalSteps == 100_000)
        #expect(ppo.learningRate == .linear(0.001) && ppo.clipRange == .linear(0.2))
        let overridden = try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1",
                                                      overrides: ["n_epochs=3", "target_kl=0.02", "clip_range_vf=null"])
        let changed = try #require(overridden.algorithm as? PPOConfiguration)
        #expect(changed.epochs == 3 && changed.targetKL == 0.02 && changed.valueClipRange == nil)
        let a2c = try #require(try RunConfiguration.resolve(algorithm: .a2c, environment: "CartPole-v1").algorithm as? A2CConfiguration)
        #expect(a2c.rolloutSteps == 5 && a2c.useRMSprop && a2c.gaeLambda == 1)
        #expect(try RunConfiguration.resolve(algorithm: .a2c, environment: "CartPole-v1").totalSteps == 500_000)
        for algorithm in Algorithm.allCases {
            for env in ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"] {
                #expect(throws: Never.self) { try RunConfiguration.resolve(algorithm: algorithm, environment: env) }
            }
        }
    }

    @Test("every file key is bound once, and each algorithm has exactly its own")
    func keysListedOnce() {
        for algorithm in Algorithm.allCases {
            let keys = algorithm.defaultConfiguration.hyperparameterKeys
            #expect(keys.count == Set(keys).count, "\(algorithm): \(keys)")
        }
        #expect(PPOConfiguration().hyperparameterKeys.contains("clip_range") && !A2CConfiguration().hyperparameterKeys.contains("clip_range"))
        #expect(A2CConfiguration().hyperparameterKeys.contains("use_rms_prop") && !PPOConfiguration().hyperparameterKeys.contains("use_rms_prop"))
        let run = RunConfiguration(algorithm: .ppo, environment: "CartPole-v1")
        #expect(run.keys.count == Set(run.keys).count)
        // Swift names in Swift: the shared settings read and write through the configuration.
        var configuration = PPOConfiguration()
        configuration.entropyCoefficient = 0.01
        configuration.environmentCount = 4
        #expect(configuration.settings.entropyCoefficient == 0.01 && configuration.fileSettings["n_envs"] as? Int == 4)
    }

    @Test("the resolved config round-trips through JSON")
    func jsonRoundTrip() throws {
        let config = try RunConfiguration.resolve(algorithm: .ppo, environment: "Pendulum-v1")
        let url = try temporaryDirectory().appendingPathComponent("config.json")
        try config.json().write(to: url, atomically: true, encoding: .utf8)
        let decoded = try RunConfiguration.read(url)
        #expect(decoded.algorithm.isEqual(to: config.algorithm) && decoded.totalSteps == config.totalSteps
                && decoded.environment == "Pendulum-v1" && decoded.checkpointInterval == config.checkpointInterval)
        #expect(config.json().contains("\"learning_rate\" : 0.001"))
        #expect(config.json().contains("\"use_sde\" : true") && config.json().contains("\"sde_sample_freq\" : 4"))
        #expect(config.json().contains("\"clip_range\" : 0.2"))
    }

    @Test("a YAML key that does not exist names the file, the line and the closest key")
    func unknownYAMLKey() throws {
        let file = try temporaryDirectory().appendingPathComponent("ppo.yml")
        try "CartPole-v1:\n  n_envs: 4\n  learning_rat: 0.001\n".write(to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1", file: file) }
        #expect(error?.description == "\(file.path):3: unknown key 'learning_rat' (did you mean 'learning_rate'?)")
    }

    @Test("bad values and sizes are rejected naming the field")
    func badValues() throws {
        let cases: [(String, String)] = [("n_envs=0", "n_envs must be positive"), ("batch_size=-3", "batch_size must be positive"),
                                         ("gamma=1.5", "gamma must be in [0, 1]"), ("n_steps=abc", "n_steps expects an integer"),
                                         ("value_loss=huber", "value_loss expects one of"), ("normalize=maybe", "normalize expects true or false"),
                                         ("n_timesteps=10", "smaller than one rollout"), ("clip_rang=0.1", "did you mean 'clip_range'"),
                                         ("n_timestep=5", "did you mean 'n_timesteps'"), ("policy=CnnPolicy", "a registered policy (MlpPolicy"),
                                         ("policy_kwargs={net_arc: [3]}", "unknown key 'policy_kwargs.net_arc' (did you mean 'net_arch'?)")]
        for (override, phrase) in cases {
            let error = #expect(throws: ConfigurationError.self) {
                try RunConfiguration.resolve(algorithm: .ppo, environment: "CartPole-v1", overrides: [override])
            }
            #expect(error?.description.contains(phrase) == true, "\(override): \(error?.description ?? "no error")")
        }
    }

    @Test("bad command lines fail with one line and exit code 2", arguments: [
        (["train", "sac", "--env", "CartPole-v1"], "sac"),
        (["train", "ppo", "--env", "CartPole-v9"], "unknown environment 'CartPole-v9'"),
        (["train", "ppo", "--env", "CartPole-v1", "--set", "n_epocs=3"], "did you mean 'n_epochs'"),
        (["train", "ppo", "--env", "CartPole-v1", "--total-steps", "0"], "--total-steps must be positive"),
        (["train", "ppo", "--env", "CartPole-v1", "--set", "batch_size=-1"], "batch_size must be positive"),
        (["eval", "--run", "/nonexistent/run"], "/nonexistent/run: no such run directory or model file"),
        (["train", "ppo", "--envv", "CartPole-v1"], "unknown option '--envv' (did you mean '--env'?)"),
        (["train", "ppo", "stray", "--env", "CartPole-v1"], "unexpected argument 'stray'"),
    ])
    func badCommandLines(arguments: [String], phrase: String) throws {
        let result = try runProxima(arguments + ["--quiet"].filter { _ in arguments[0] == "train" })
        #expect(result.status == 2, "\(arguments): status \(result.status), output \(result.output)")
        #expect(result.output.contains(phrase), "\(arguments): \(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(result.output)")
    }

    @Test("eval --json prints mean, std and episode count on its last line; render --run writes an SVG")
    func evalAndRender() throws {
        let dir = try temporaryDirectory().appendingPathComponent("run")
        let trained = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "1024", "--set", "n_envs=2", "--set", "n_steps=64",
                                      "--set", "batch_size=64", "--set", "n_epochs=1", "--out", dir.path, "--eval-episodes", "0", "--quiet"])
        #expect(trained.status == 0, "\(trained.output)")
        let result = try runProxima(["eval", "--run", dir.path, "--episodes", "3", "--deterministic", "--json"])
        #expect(result.status == 0)
        let last = try #require(result.output.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])
        #expect(object["episodes"] as? Int == 3)
        #expect((object["mean_return"] as? Double ?? 0) >= 8)
        #expect(object["std_return"] is Double)
        let svg = dir.appendingPathComponent("episode.svg")
        #expect(try runProxima(["render", "--run", dir.path, "--out", svg.path]).status == 0)
        #expect(try String(contentsOf: svg, encoding: .utf8).contains("<animateTransform"))
        let listing = try runProxima(["runs", dir.deletingLastPathComponent().path])
        #expect(listing.output.contains("ppo") && listing.output.contains("CartPole-v1") && listing.output.contains("finished"))
        // A second training into the same directory would overwrite the run: refused, nothing touched.
        let before = try Data(contentsOf: dir.appendingPathComponent("model.safetensors"))
        let again = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "1024", "--out", dir.path, "--quiet"])
        #expect(again.status == 2 && again.output.contains("already holds a run"), "\(again.output)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("model.safetensors")) == before)
        let plot = dir.deletingLastPathComponent().appendingPathComponent("plot.svg")
        #expect(try runProxima(["plot", dir.path, "--smooth", "2", "--out", plot.path]).status == 0)
        #expect(FileManager.default.fileExists(atPath: plot.path))
    }
}

@Suite("The README's library example")
struct ReadmeLibraryTests {
    @Test("PPO(configuration, environment:).learn, save, load and evaluate as the README shows (fewer steps)")
    func readmePPO() throws {
        var configuration = PPOConfiguration()
        configuration.environmentCount = 8
        configuration.rolloutSteps = 32
        let ppo = try PPO(configuration, environment: "CartPole-v1")
        let result = try ppo.learn(steps: 2048)
        #expect(result.steps == 2048 && result.outcome == .completed)
        let url = try temporaryDirectory().appendingPathComponent("cartpole.safetensors")
        try ppo.save(to: url)
        let evaluation = try PolicyArtifact.read(url).evaluate(episodes: 20, deterministic: true, seed: 0)
        #expect(evaluation == (try ppo.evaluate(episodes: 20, deterministic: true, seed: 0)))
    }
}
