import ArgumentParser
import Environments
import Foundation
import ReinforcementLearning
import Torch
import Training

/// `proxima render`: draws an episode as an animated SVG (or text frames on the terminal).
struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render an episode of a trained policy (--run) or of random actions (--env) as an animated SVG.")

    @Option(name: .customLong("run"), help: "Run directory (or model file) whose policy acts deterministically.") var runPath: String?
    @Option(help: "Environment id to render with random actions.") var env: String?
    @Option(help: "Output SVG file (text frames on stdout when omitted).") var out: String?
    @Option(help: "Seed of the episode.") var seed: UInt64 = 0
    @Option(help: "Maximum number of steps.") var maxSteps: Int = 500

    func validate() throws {
        if (env == nil) == (runPath == nil) { throw ValidationError("give either --run DIR or --env ID") }
        if maxSteps <= 0 { throw ValidationError("--max-steps must be positive, got \(maxSteps)") }
    }

    func run() throws {
        if let out { try checkOutput(out, flag: "--out", inputs: runPath.map(inputFiles) ?? []) }
        if let runPath {
            let artifact = try PolicyArtifact.read(try modelFile(runPath))
            let environment = try Registry.make(artifact.environmentID)
            let states = try artifact.recordEpisode(environment: environment, seed: seed, maxSteps: maxSteps)
            let title = "\(artifact.algorithm.rawValue.uppercased()) on \(artifact.environmentID) — \(states.count - 1) steps, seed \(seed)"
            try writeEpisode(environment, states: states, title: title, to: out)
            return
        }
        let environment = try Registry.make(env!)
        var random = EnvironmentRandom(seed: seed)
        let states = try ReinforcementLearning.recordEpisode(environment, seed: seed, maxSteps: maxSteps) { _ in
            environment.actionSpace.sample(using: &random)
        }
        try writeEpisode(environment, states: states, title: "\(env!) — random actions, seed \(seed)", to: out)
    }
}

func writeEpisode(_ environment: Environment, states: [[Double]], title: String, to path: String?) throws {
    if let path {
        guard let svg = renderEpisodeSVG(environment: environment, states: states, title: title) else {
            throw UserError(message: "\(environment.id) has no SVG renderer")
        }
        try writeOutput(svg, to: path)
        print("wrote \(path) (\(states.count) frames)")
    } else {
        var inner: Environment = environment
        while let wrapper = inner as? Wrapper { inner = wrapper.env }
        for state in states {
            switch inner {
            case is CartPole: print(CartPole.text(state))
            case is Acrobot: print(Acrobot.text(state))
            case is MountainCar, is MountainCarContinuous: print(MountainCar.text(state))
            case is Pendulum: print(Pendulum.text(state))
            default: print(state)
            }
        }
    }
}
