import Foundation
import Testing
import TestSupport
import Torch
import Tracking
import NeuralNetworks
@testable import ReinforcementLearning

/// One writer per run directory, truthful listings, outputs that never destroy inputs (issue 13).
@Suite("Run directories under concurrent and hostile use", .serialized)
struct RunDirectoryTests {
    /// Starts `proxima train` in the background and waits until `file` (relative to the run) exists.
    func startTraining(_ out: URL, arguments: [String], waitFor file: String) throws -> Process {
        let process = Process()
        process.executableURL = proximaExecutable
        process.arguments = ["train", "ppo", "--env", "CartPole-v1", "--threads", "1", "--eval-episodes", "0", "--quiet",
                             "--out", out.path] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        return process
    }

    @Test("a second writer is refused while a run trains; after kill -9 the lock is free, runs says so, and resume goes on")
    func oneWriter() throws {
        let root = try temporaryDirectory()
        // Far longer than the test: the run is killed, never finished (resume identity is tested in TrainerTests).
        let common = ["--set", "n_envs=2", "--set", "n_steps=64", "--set", "batch_size=64", "--set", "n_epochs=2",
                      "--set", "checkpoint_interval=2", "--total-steps", "100000000", "--seed", "5"]
        let live = root.appendingPathComponent("live")
        let process = try startTraining(live, arguments: common, waitFor: "checkpoints/checkpoint.safetensors")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let configBefore = try Data(contentsOf: live.appendingPathComponent("config.json"))

        let resume = try runProxima(["train", "--resume", live.path, "--quiet"])
        #expect(resume.status == 2 && resume.output.contains("is being written by another process"), "\(resume.output)")
        let again = try runProxima(["train", "ppo", "--env", "CartPole-v1", "--out", live.path, "--quiet"])
        #expect(again.status == 2, "\(again.output)")
        #expect(try Data(contentsOf: live.appendingPathComponent("config.json")) == configBefore)
        #expect(try runProxima(["runs", root.path]).output.contains("running"))

        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let listing = try runProxima(["runs", root.path]).output
        #expect(listing.contains("killed at step") && listing.contains("resumable"), "\(listing)")

        // A kill can leave a temporary checkpoint file behind; resume removes it. The run is resumed to one more
        // rollout than its checkpoint (128 steps), so it finishes at once.
        let stale = live.appendingPathComponent("checkpoints/.checkpoint.safetensors.tmp-1-2")
        try Data([1, 2, 3]).write(to: stale)
        let saved = try #require(try TrainingCheckpoint.read(from: RunDirectory(live).checkpointURL).counters["steps"])
        let resumed = try runProxima(["train", "--resume", live.path, "--total-steps", "\(saved + 128)", "--threads", "1",
                                      "--eval-episodes", "0", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(!FileManager.default.fileExists(atPath: stale.path))
        #expect(try runProxima(["runs", root.path]).output.contains("finished"))
    }

    @Test("a run killed before its first checkpoint resumes from the start to the same end")
    func killedBeforeFirstCheckpoint() throws {
        let root = try temporaryDirectory()
        let common = ["--set", "n_envs=2", "--set", "n_steps=64", "--set", "n_epochs=2", "--set", "checkpoint_interval=1000", "--total-steps", "4096", "--seed", "2"]
        let straight = root.appendingPathComponent("straight")
        #expect(try runProxima(["train", "ppo", "--env", "CartPole-v1", "--threads", "1", "--eval-episodes", "0", "--quiet",
                                "--out", straight.path] + common).status == 0)
        let killed = root.appendingPathComponent("killed")
        let process = try startTraining(killed, arguments: common, waitFor: "metrics.jsonl")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: killed.appendingPathComponent("checkpoints/checkpoint.safetensors").path))
        #expect(try runProxima(["runs", root.path]).output.contains("killed before its first checkpoint, resumable from the start"))
        let resumed = try runProxima(["train", "--resume", killed.path, "--threads", "1", "--eval-episodes", "0", "--quiet"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let a = try SafeTensors.read(straight.appendingPathComponent("model.safetensors")).tensors
        let b = try SafeTensors.read(killed.appendingPathComponent("model.safetensors")).tensors
        for (name, t) in a { #expect(t.equal(b[name]!), "\(name)") }
    }

    @Test("outputs never overwrite inputs; empty, misplaced and unwritable paths are errors naming the path; resume refuses flags")
    func outputs() throws {
        let root = try temporaryDirectory()
        let run = root.appendingPathComponent("run")
        #expect(try runProxima(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "512", "--set", "n_envs=2", "--set", "n_steps=64",
                                "--eval-episodes", "0", "--quiet", "--out", run.path]).status == 0)
        let model = run.appendingPathComponent("model.safetensors")
        let before = try Data(contentsOf: model)
        let file = root.appendingPathComponent("a-file")
        try Data().write(to: file)
        let cases: [([String], String)] = [
            (["render", "--run", run.path, "--out", model.path], "would overwrite \(model.path)"),
            (["render", "--run", model.path, "--out", model.path], "would overwrite"),
            (["plot", run.path, "--out", run.appendingPathComponent("metrics.csv").path], "would overwrite"),
            (["render", "--run", run.path, "--out", run.path], "is a directory"),
            (["render", "--run", run.path, "--out", ""], "--out must not be empty"),
            (["train", "ppo", "--env", "CartPole-v1", "--out", ""], "--out must not be empty"),
            (["train", "ppo", "--env", "CartPole-v1", "--out", file.path], "is a file, not a directory"),
            (["train", "ppo", "--env", "CartPole-v1", "--quiet", "--out", file.appendingPathComponent("run").path],
             "not a directory (\(file.path) is a file)"),
            (["plot", run.path, "--out", file.appendingPathComponent("p.svg").path], "cannot write"),
            (["train", "--resume", run.path, "--seed", "3", "--set", "n_epochs=1"], "--seed, --set cannot apply"),
            (["train", "a2c", "--resume", run.path], "ALGORITHM cannot apply"),
        ]
        for (arguments, phrase) in cases {
            let result = try runProxima(arguments)
            #expect(result.reason == .exit && result.status == 2, "\(arguments): \(result.output)")
            #expect(result.output.contains("proxima: error: ") && result.output.contains(phrase), "\(arguments): \(result.output)")
        }
        #expect(try Data(contentsOf: model) == before, "the model is untouched")
    }

    @Test("--total-steps on resume extends a finished run: the same directory, one metrics history, the new total in config.json")
    func extend() throws {
        let run = try temporaryDirectory().appendingPathComponent("run")
        let base = ["--set", "n_envs=2", "--set", "n_steps=64", "--set", "n_epochs=1", "--eval-episodes", "0", "--quiet"]
        #expect(try runProxima(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "1024", "--out", run.path] + base).status == 0)
        let extended = try runProxima(["train", "--resume", run.path, "--total-steps", "2048", "--eval-episodes", "0", "--quiet"])
        #expect(extended.status == 0 && extended.output.contains("update 8 of 16"), "\(extended.output)")
        #expect(try RunDirectory(run).configuration().totalSteps == 2048)
        let checkpoint = try TrainingCheckpoint.read(from: RunDirectory(run).checkpointURL)
        #expect(checkpoint.counters["steps"] == 2048 && checkpoint.counters["update"] == 16)
        let steps = try String(contentsOf: run.appendingPathComponent("metrics.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().filter { $0.contains(",rollout/episodes,") }.map { $0.split(separator: ",")[0] }
        #expect(steps.count == 16 && Set(steps).count == 16)
        #expect(TensorBoardWriter.eventFiles(in: run).count == 1)
        let shorter = try runProxima(["train", "--resume", run.path, "--total-steps", "1024", "--quiet"])
        #expect(shorter.status == 2 && shorter.output.contains("is not beyond the 2048 steps already done"), "\(shorter.output)")
    }
}
