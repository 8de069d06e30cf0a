// Proxima as a library: PPO on CartPole in memory, PPO on an environment defined here, save, load, evaluate.
// docs/library.md walks through this file. The last line printed is one JSON object.
import Environments
import Foundation
import NeuralNetworks
import ReinforcementLearning
import Torch

// 1. PPO on CartPole-v1 with RL Zoo's settings. `learn` trains in memory and writes nothing.
var cartPoleSettings = PPOConfiguration()
cartPoleSettings.environmentCount = 8
cartPoleSettings.rolloutSteps = 32
cartPoleSettings.minibatchSize = 256
cartPoleSettings.epochs = 20
cartPoleSettings.gamma = 0.98
cartPoleSettings.gaeLambda = 0.8
cartPoleSettings.learningRate = .linear(0.001)
cartPoleSettings.clipRange = .linear(0.2)

let cartPole = try PPO(cartPoleSettings, environment: "CartPole-v1")
let training = try cartPole.learn(steps: 100_000)
print(String(format: "CartPole-v1: %d steps in %.1f s, mean training return %.1f", training.steps, training.seconds,
             training.meanEpisodeReturn ?? .nan))
let cartPoleEvaluation = try cartPole.evaluate(episodes: 20, deterministic: true)

// 2. An environment of our own: walk right along a corridor of 5 cells; reaching the end pays 1 and ends the episode.
final class Corridor: Environment {
    let id = "Corridor"
    let observationSpace = Space.box(low: 0, high: 1, shape: [1])
    let actionSpace = Space.discrete(n: 2)
    var position = 0

    func reset(seed: UInt64?, options: [String: Double]) -> (observation: [Float], info: [String: Double]) {
        position = 0
        return ([0], [:])
    }

    func step(_ action: Action) throws -> Step {
        try validate(action)
        position = max(0, position + (action == .discrete(1) ? 1 : -1))
        return Step(observation: [Float(position) / 5], reward: position == 5 ? 1 : 0,
                    terminated: position == 5, truncated: false)
    }
}

var corridorSettings = PPOConfiguration()
corridorSettings.environmentCount = 4
corridorSettings.rolloutSteps = 64
corridorSettings.epochs = 4
corridorSettings.learningRate = 0.003
corridorSettings.gamma = 0.9
let corridor = try PPO(corridorSettings, makeEnvironment: { TimeLimit(Corridor(), maxEpisodeSteps: 50) })
try corridor.learn(steps: 8192)
let corridorEvaluation = try corridor.evaluate(episodes: 20, environment: TimeLimit(Corridor(), maxEpisodeSteps: 50))
print(String(format: "Corridor: mean return %.2f, mean length %.1f steps", corridorEvaluation.meanReturn, corridorEvaluation.meanLength))

// 3. Save the CartPole policy, load it back, and evaluate the loaded copy on the same seeds.
let file = FileManager.default.temporaryDirectory.appendingPathComponent("quickstart-cartpole-ppo.safetensors")
try cartPole.save(to: file)
let reloaded = try PolicyArtifact.read(file)
let reloadedEvaluation = try reloaded.evaluate(episodes: 20, deterministic: true, seed: 1_000_000)
try? FileManager.default.removeItem(at: file)

let summary: [String: Double] = [
    "cartpole_mean_return": cartPoleEvaluation.meanReturn,
    "custom_env_mean_return": corridorEvaluation.meanReturn,
    "reloaded_mean_return": reloadedEvaluation.meanReturn,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
