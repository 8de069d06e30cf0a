import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks

@Suite("Checkpoints")
struct CheckpointTests {
    @Test("save then load gives identical outputs and an identical next optimizer step")
    func roundTrip() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("checkpoint.safetensors")
        let g = Generator(seed: 0)
        let net = Sequential.mlp(sizes: [3, 16, 2], generator: g)
        let adam = Adam(parameters: net.parameters(), learningRate: 0.01)
        let x = Tensor.randn([8, 3], generator: g)
        for _ in 0..<3 {
            adam.zeroGrad()
            net(x).square().mean().backward()
            adam.step()
        }
        let sampler = Generator(seed: 42)
        _ = Tensor.rand([3], generator: sampler)
        try TrainingCheckpoint.capture(model: net, optimizer: adam, generators: ["sampler": sampler],
                                       extra: ["obs_mean": Tensor([1, 2] as [Double])],
                                       counters: ["step": 3], config: #"{"lr": 0.01}"#).write(to: url)

        let restoredNet = Sequential.mlp(sizes: [3, 16, 2], generator: Generator(seed: 99))
        let restoredAdam = Adam(parameters: restoredNet.parameters(), learningRate: 0.5)
        let restoredSampler = Generator(seed: 7)
        let checkpoint = try TrainingCheckpoint.read(from: url)
        try checkpoint.restore(model: restoredNet, optimizer: restoredAdam, generators: ["sampler": restoredSampler])
        #expect(checkpoint.counters == ["step": 3])
        #expect(checkpoint.config == #"{"lr": 0.01}"#)
        #expect(checkpoint.extra["obs_mean"]?.doubles == [1, 2])
        #expect(restoredAdam.learningRate == 0.01)
        #expect(net(x).equal(restoredNet(x)))
        #expect(Tensor.rand([4], generator: sampler).equal(Tensor.rand([4], generator: restoredSampler)))

        for (model, optimizer) in [(net, adam), (restoredNet, restoredAdam)] {
            optimizer.zeroGrad()
            model(x).square().mean().backward()
            optimizer.step()
        }
        for (a, b) in zip(net.parameters(), restoredNet.parameters()) { #expect(a.equal(b)) }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoint.json").path))
    }

    @Test("loading into a mismatched model lists the offending keys")
    func mismatch() throws {
        let url = try temporaryDirectory().appendingPathComponent("c.safetensors")
        try TrainingCheckpoint.capture(model: Sequential.mlp(sizes: [3, 16, 2])).write(to: url)
        let error = #expect(throws: StateDictError.self) {
            try TrainingCheckpoint.read(from: url).restore(model: Sequential.mlp(sizes: [3, 8, 8, 2]))
        }
        #expect(error?.unexpected == [])
        #expect(error?.missing == ["4.bias", "4.weight"])
        #expect(error?.shapeMismatched.count == 4)
    }

    @Test("a plain safetensors file is not mistaken for a checkpoint")
    func notACheckpoint() throws {
        let url = try temporaryDirectory().appendingPathComponent("plain.safetensors")
        try SafeTensors.write(["w": Tensor.ones([2])], to: url)
        #expect(throws: CheckpointError.self) { try TrainingCheckpoint.read(from: url) }
    }

    @Test("killing the writer mid-write never replaces the last good checkpoint")
    func killedWriter() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("checkpoint.safetensors")
        try TrainingCheckpoint.capture(model: Sequential.mlp(sizes: [2, 2]), counters: ["round": -1]).write(to: url)
        for delay in [0.0, 0.05, 0.15, 0.3] {
            let process = Process()
            process.executableURL = proximaExecutable
            process.arguments = ["diagnose", "write-checkpoints", "--path", url.path]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            // The child announces each finished write; wait for the first, so the kill lands while it is writing
            // again (a child that never wrote would leave round -1 and fail below).
            var seen = Data()
            let deadline = Date().addingTimeInterval(60)
            while !String(decoding: seen, as: UTF8.self).contains("wrote "), Date() < deadline {
                seen.append(output.fileHandleForReading.availableData)
            }
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let checkpoint = try TrainingCheckpoint.read(from: url)
            #expect((checkpoint.counters["round"] ?? -1) >= 0, "the child never completed a write: \(String(decoding: seen, as: UTF8.self))")
            #expect(checkpoint.model.count >= 2)
        }
    }
}
