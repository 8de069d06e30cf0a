import ArgumentParser
import Foundation
import Torch

/// `proxima demo`: fits y = 3x - 2 by gradient descent with autograd and prints the tensors (a smoke check of the
/// engine without any environment).
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fit a line with autograd and print the tensors (smoke demo).")

    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Gradient-descent steps.") var steps: Int = 200
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
    }

    func run() throws {
        threads.apply()
        let generator = Generator(seed: seed)
        let x = Tensor.randn([256, 1], generator: generator)
        let y = 3 * x - 2 + 0.1 * Tensor.randn([256, 1], generator: generator)
        let w = Tensor.zeros([1, 1]).requiringGrad()
        let b = Tensor.zeros([1]).requiringGrad()
        for step in 1...steps {
            let loss = x.linear(weight: w, bias: b).mseLoss(y)
            loss.backward()
            withNoGrad {
                w.add_(w.grad!, alpha: -0.1)
                b.add_(b.grad!, alpha: -0.1)
            }
            w.zeroGrad()
            b.zeroGrad()
            if step == 1 || step % 50 == 0 || step == steps {
                print("step \(step)  loss \(String(format: "%.5f", loss.item(Double.self)))")
            }
        }
        print("weight: \(w.detach())")
        print("bias:   \(b.detach())")
    }
}
