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
}
