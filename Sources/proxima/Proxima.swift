import ArgumentParser
import Foundation
import Torch
import Tracking

@main
struct Proxima: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxima",
        abstract: "Policy optimization in Swift on libtorch: train, evaluate, render and compare reinforcement-learning policies.",
        subcommands: [Train.self, Evaluate.self, Render.self, Plot.self, Runs.self, Bench.self, Demo.self, Info.self, Diagnose.self]
    )

    /// Bad input — unknown flags or values, invalid settings, unreadable files — ends with a one-line error and exit
    /// code 2.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as any ProximaError {
            FileHandle.standardError.write(Data("proxima: error: \(error.description)\n".utf8))
            Foundation.exit(2)
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data(("proxima: error: " + message(for: error).trimmingCharacters(in: .whitespacesAndNewlines) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Tracking has no dependency on Torch, where `ProximaError` lives; its one error type is reported the same way.
extension TrackingError: ProximaError {}
