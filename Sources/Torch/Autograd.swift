import CTorch

extension Tensor {
    /// Whether autograd records operations on this tensor. Only floating-point leaves can require gradients.
    public var requiresGrad: Bool {
        get { withHandle { ct_requires_grad($0) != 0 } }
        set { withHandle { check(ct_set_requires_grad($0, newValue ? 1 : 0), "requiresGrad") } }
    }

    /// Sets `requiresGrad` and returns the same tensor, for chaining.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// Whether this tensor was created by the user rather than by a recorded operation.
    public var isLeaf: Bool { withHandle { ct_is_leaf($0) != 0 } }

    /// Whether this tensor was created in inference mode.
    public var isInference: Bool { withHandle { ct_is_inference($0) != 0 } }

    /// The gradient accumulated by `backward()`, or nil.
    public var grad: Tensor? {
        get {
            var out: ct_tensor?
            withHandle { check(ct_grad($0, &out), "grad") }
            return out.map { Tensor(owning: $0) }
        }
        set {
            withExtendedLifetime(newValue) {
                withHandle { check(ct_set_grad($0, newValue?.handle), "grad (set)") }
            }
        }
    }

    /// Clears the gradient (PyTorch's default `set_to_none`) or zeroes it in place.
    public func zeroGrad(setToNone: Bool = true) {
        if setToNone { grad = nil } else { grad?.zero_() }
    }

    /// Points this tensor at `source`'s storage and shape (PyTorch's `tensor.data = source`); the tensor keeps its
    /// identity, so modules and optimizers holding it see the new storage.
    public func setData(_ source: Tensor) {
        withHandle { h in source.withHandle { check(ct_set_data(h, $0), "setData of \(source.shape) into \(shape)") } }
    }

    /// Keeps the gradient of a non-leaf tensor after `backward()`.
    public func retainGrad() { withHandle { check(ct_retain_grad($0), "retainGrad") } }

    /// The name of the autograd node that produced this tensor (`TanhBackward0`), or nil for a leaf.
    public var gradFunctionName: String? {
        withHandle { h in
            var buffer = [CChar](repeating: 0, count: 128)
            let n = Int(ct_grad_fn_name(h, &buffer, Int64(buffer.count)))
            if n == 0 { return nil }
            return String(decoding: buffer.prefix(Swift.min(n, buffer.count - 1)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Accumulates d(self)/d(leaf) into every leaf's `grad`. `gradient` is required for non-scalar tensors.
    public func backward(gradient: Tensor? = nil, retainGraph: Bool = false, createGraph: Bool = false) {
        withExtendedLifetime(gradient) {
            withHandle {
                check(ct_backward($0, gradient?.handle, retainGraph ? 1 : 0, createGraph ? 1 : 0), "backward of \(shape)")
            }
        }
    }
}

/// Gradients of `outputs` with respect to `inputs` without touching any `.grad` (`torch.autograd.grad`).
/// - Parameters:
///   - gradOutputs: vector-Jacobian weights, one per output (nil for scalar outputs).
///   - allowUnused: return nil for an input the outputs do not depend on instead of stopping.
public func gradients(of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor?]? = nil,
                      retainGraph: Bool = false, createGraph: Bool = false, allowUnused: Bool = false) -> [Tensor?] {
    if let gradOutputs {
        precondition(gradOutputs.count == outputs.count, "gradients: \(gradOutputs.count) gradOutputs for \(outputs.count) outputs")
    }
    var out = [ct_tensor?](repeating: nil, count: inputs.count)
    withExtendedLifetime((outputs, inputs, gradOutputs)) {
        let o: [ct_tensor?] = outputs.map { $0.handle }
        let i: [ct_tensor?] = inputs.map { $0.handle }
        let g: [ct_tensor?]? = gradOutputs?.map { $0?.handle }
        let status: Int32
        if let g {
            status = ct_autograd_grad(o, Int64(o.count), g, i, Int64(i.count), retainGraph ? 1 : 0, createGraph ? 1 : 0,
                                      allowUnused ? 1 : 0, &out)
        } else {
            status = ct_autograd_grad(o, Int64(o.count), nil, i, Int64(i.count), retainGraph ? 1 : 0, createGraph ? 1 : 0,
                                      allowUnused ? 1 : 0, &out)
        }
        check(status, "gradients(of:withRespectTo:)")
    }
    return out.map { $0.map { Tensor(owning: $0) } }
}

/// Whether operations on this thread are being recorded for autograd.
public var isGradEnabled: Bool { ct_is_grad_enabled() != 0 }

/// Runs `body` without recording operations for autograd (`torch.no_grad()`), restoring the mode afterwards.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try withGradEnabled(false, body)
}

/// Runs `body` with gradient recording switched on or off (`torch.set_grad_enabled`).
public func withGradEnabled<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let previous = ct_set_grad_enabled(enabled ? 1 : 0)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}

/// Runs `body` in inference mode (`torch.inference_mode()`): faster than no-grad, but the tensors it creates can never
/// be used in autograd later.
public func withInferenceMode<R>(_ body: () throws -> R) rethrows -> R {
    let guardHandle = ct_inference_mode_enter()
    defer { ct_inference_mode_exit(guardHandle) }
    return try body()
}

/// Makes `outputs`, computed by Swift code with gradient recording off, differentiable with respect to `inputs`
/// (what `torch.autograd.Function` does in PyTorch). During back-propagation `backward` receives the gradient of each
/// output (nil where none arrived) and returns the gradient of each input, in order (nil for an input without one).
/// When gradient recording is off or no input requires a gradient, nothing is attached. `name` appears in
/// `gradFunctionName` and in errors. `backward` runs at most once unless the graph is retained.
///
/// Use it to replace a long chain of small operations by one pass of your own code with its hand-derived gradient.
public func attachGradient(outputs: [Tensor], inputs: [Tensor], name: String,
                           backward: @escaping ([Tensor?]) -> [Tensor?]) {
    let context = Unmanaged.passRetained(BackwardContext(backward, expected: inputs.count, name: name)).toOpaque()
    withExtendedLifetime((outputs, inputs)) {
        let i: [ct_tensor?] = inputs.map { $0.handle }
        let o: [ct_tensor?] = outputs.map { $0.handle }
        check(ct_attach_backward(i, Int64(i.count), o, Int64(o.count), callBackward, releaseBackward, context, name),
              "attachGradient(\(name))")
    }
}

private final class BackwardContext {
    let backward: ([Tensor?]) -> [Tensor?]
    let expected: Int
    let name: String
    init(_ backward: @escaping ([Tensor?]) -> [Tensor?], expected: Int, name: String) {
        self.backward = backward
        self.expected = expected
        self.name = name
    }
}

private let callBackward: ct_backward_fn = { context, gradOutputs, outputCount, gradInputs, inputCount in
    let box = Unmanaged<BackwardContext>.fromOpaque(context!).takeUnretainedValue()
    let incoming: [Tensor?] = (0..<Int(outputCount)).map { gradOutputs![$0].map { Tensor(owning: $0) } }
    let result = box.backward(incoming)
    guard result.count == Int(inputCount) else {
        ct_set_error("\(box.name) returned \(result.count) gradients for \(inputCount) inputs")
        return 1
    }
    for (k, gradient) in result.enumerated() {
        gradInputs![k] = gradient.map { g in g.withHandle { ct_alias($0) } } ?? nil
    }
    return 0
}

private let releaseBackward: ct_release_fn = { context in
    Unmanaged<BackwardContext>.fromOpaque(context!).release()
}
