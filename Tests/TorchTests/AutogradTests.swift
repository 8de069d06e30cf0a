import Foundation
import Testing
@testable import Torch
import TestSupport

@Suite("Autograd")
struct AutogradTests {
    @Test("backward accumulates into leaves until cleared")
    func accumulation() {
        let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
        #expect(x.requiresGrad && x.isLeaf)
        (x * x).sum().backward()
        #expect(x.grad?.doubles == [2, 4, 6])
        (x * x).sum().backward()
        #expect(x.grad?.doubles == [4, 8, 12])
        x.zeroGrad(setToNone: false)
        #expect(x.grad?.doubles == [0, 0, 0])
        x.zeroGrad()
        #expect(x.grad == nil)
    }

    @Test("backward with an explicit gradient computes a vector-Jacobian product")
    func explicitGradient() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let y = x * x
        y.backward(gradient: Tensor([1, 10] as [Double]))
        #expect(x.grad?.doubles == [2, 40])
    }

    @Test("retainGraph allows a second backward through the same graph")
    func retainGraph() {
        let x = Tensor([3] as [Double]).requiringGrad()
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad?.doubles == [12])
    }

    @Test("gradients(of:withRespectTo:) leaves .grad alone and supports second derivatives")
    func functionalGradients() {
        let x = Tensor([2] as [Double]).requiringGrad()
        let y = x.pow(3).sum()
        let first = gradients(of: [y], withRespectTo: [x], createGraph: true)[0]!
        #expect(first.doubles == [12])
        #expect(x.grad == nil)
        let second = gradients(of: [first.sum()], withRespectTo: [x])[0]!
        #expect(second.doubles == [12])
        let z = Tensor([1] as [Double]).requiringGrad()
        #expect(gradients(of: [x.sum() * 2], withRespectTo: [x, z], allowUnused: true)[1] == nil)
    }

    @Test("detach, no-grad and inference mode stop recording")
    func stopRecording() {
        let x = Tensor([1, 2] as [Float]).requiringGrad()
        #expect(!(x * 2).detach().requiresGrad)
        #expect(isGradEnabled)
        let y = withNoGrad { x * 2 }
        #expect(!y.requiresGrad)
        #expect(isGradEnabled)
        let z = withInferenceMode { x * 2 }
        #expect(!z.requiresGrad && z.isInference)
        #expect((x * 2).requiresGrad)
        #expect((x * x).gradFunctionName == "MulBackward0")
        #expect(x.gradFunctionName == nil)
    }

    @Test("a non-leaf keeps its gradient only with retainGrad")
    func retainGrad() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let h = x * 3
        h.retainGrad()
        (h * h).sum().backward()
        #expect(h.grad?.doubles == [6, 12])
    }

    @Test("optimizer-style in-place update under no-grad")
    func inPlaceUpdate() {
        let w = Tensor([1, -1] as [Double]).requiringGrad()
        (w * w).sum().backward()
        withNoGrad { w.add_(w.grad!, alpha: -0.25) }
        #expect(w.doubles == [0.5, -0.5])
        #expect(w.requiresGrad && w.isLeaf)
    }

    final class Flag: @unchecked Sendable { var value = false }
    final class Witness { let flag: Flag; init(_ flag: Flag) { self.flag = flag }; deinit { flag.value = true } }

    @Test("attachGradient: a Swift-computed operation with a hand-written backward joins the graph")
    func customFunction() {
        let x = Tensor([1, -2, 3] as [Double]).requiringGrad()
        let w = Tensor([0.5, 0.5, 2] as [Double]).requiringGrad()
        let freedAfterBackward = Flag(), freedWithGraph = Flag()
        do {
            // y = Σ w·x³ computed without autograd; dy/dx = 3w·x², dy/dw = x³.
            let (xs, ws) = (x.doubles, w.doubles)
            let y = Tensor(zip(xs, ws).reduce(0) { $0 + $1.1 * $1.0 * $1.0 * $1.0 }, dtype: .float64)
            let witness = Witness(freedAfterBackward)
            attachGradient(outputs: [y], inputs: [x, w], name: "Cubic") { upstream in
                _ = witness
                let g = upstream[0]!.item(Double.self)
                return [Tensor(zip(xs, ws).map { 3 * $0.1 * $0.0 * $0.0 * g }), Tensor(xs.map { $0 * $0 * $0 * g })]
            }
            #expect(y.requiresGrad)
            #expect(y.gradFunctionName == "CubicBackward")
            (y * 2).backward(retainGraph: true)
            #expect(x.grad?.doubles == [3, 12, 108])
            #expect(w.grad?.doubles == [2, -16, 54])
            y.backward()
            #expect(x.grad?.doubles == [4.5, 18, 162], "a retained graph runs again and accumulates")
            // A graph that is dropped without backward frees its closure too.
            let unused = Tensor(1.0, dtype: .float64)
            let other = Witness(freedWithGraph)
            attachGradient(outputs: [unused], inputs: [x], name: "Unused") { _ in _ = other; return [nil] }
            #expect(unused.requiresGrad)
        }
        #expect(freedAfterBackward.value, "the backward closure is released once the graph is freed")
        #expect(freedWithGraph.value, "an unused graph releases its closure")
        // Without gradient recording nothing is attached.
        let z = Tensor(1.0, dtype: .float64)
        withNoGrad { attachGradient(outputs: [z], inputs: [x], name: "Nothing") { _ in [nil] } }
        #expect(!z.requiresGrad)
    }

    @Test("attachGradient gradients match finite differences")
    func customFunctionGradientCheck() {
        gradientCheck(GradCase(name: "custom softplus", shapes: [[5]]) { inputs in
            let x = inputs[0]
            let values = x.doubles
            let y = Tensor(values.map { Foundation.log1p(Foundation.exp($0)) })
            attachGradient(outputs: [y], inputs: [x], name: "Softplus") { upstream in
                let g = upstream[0]!.doubles
                return [Tensor(zip(values, g).map { $1 / (1 + Foundation.exp(-$0)) })]
            }
            return y
        })
    }
}

