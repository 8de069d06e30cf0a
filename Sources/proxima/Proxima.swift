import ArgumentParser
import Torch

@main
struct Proxima: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxima",
        abstract: "Policy optimization in Swift: reinforcement learning and preference alignment on libtorch.",
        subcommands: [Demo.self, Render.self, Bench.self, Info.self, Diagnose.self]
    )
}
