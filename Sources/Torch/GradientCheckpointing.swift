import CTorch

/// Runs `body(input)` without keeping its intermediate tensors for back-propagation, and recomputes them when the
/// gradient arrives (activation checkpointing, `torch.utils.checkpoint` in its re-entrant form).
///
/// The forward pass runs with gradient recording off, so only `input` and the output stay alive between the forward
/// and the backward pass. When the output's gradient arrives, `body` runs again on a detached copy of `input` with
/// recording on, and the gradient is back-propagated through that fresh graph: parameters used by `body` receive
/// their gradients in `grad` as they would without checkpointing, and the gradient with respect to `input` continues
/// down the outer graph. The result equals the plain computation's, value and gradients alike (tested in float64).
///
/// Randomness: `generators` (and libtorch's global generator when `replayGlobalGenerator`) are put back to their
/// states of the first pass before the recomputation and returned to their current states afterwards, so dropout
/// draws the same masks twice. Replay the global generator only when `body` draws from it: rewinding it is visible to
/// every other user of the global generator in the process.
///
/// When gradient recording is off this is just `body(input)`. An `input` that does not require a gradient (the frozen
/// embeddings of a LoRA model) is given an edge that does, so that the recomputation is reached; the recomputation
/// itself computes no gradient for it.
///
/// Parameter gradients reach the parameters' `grad` through the inner `backward()`, so a checkpointed computation
/// must be differentiated with `backward()`: `gradients(of:withRespectTo:)` sees only the gradient of `input`.
///
/// `body` must be a pure function of `input`, the parameters it reads and the generators: tensors it captures are read
/// again at backward time, so they must not change in between.
///
/// `surrogate`, when given, replaces `body` in the recomputation: called with the replayed input and the output's
/// gradient g, it returns a scalar whose gradients (with respect to the input and the parameters) are those of
/// ⟨g, body(input)⟩ — so it may skip products whose results only the output needed (a layer's last projection, see
/// `Linear.gradientSurrogate`). Same gradients as `body`, to rounding.
public func checkpointed(_ input: Tensor, generators: [Generator] = [], replayGlobalGenerator: Bool = false,
                         name: String = "Checkpoint", surrogate: ((Tensor, Tensor) -> Tensor)? = nil,
                         _ body: @escaping (Tensor) -> Tensor) -> Tensor {
    guard isGradEnabled else { return body(input) }
    let globalBefore = replayGlobalGenerator ? LibTorch.globalGeneratorState : nil
    let statesBefore = generators.map(\.state)
    let output = withNoGrad { body(input) }
    let edge = input.requiresGrad ? input : input.detach().requiringGrad()
    attachGradient(outputs: [output], inputs: [edge], name: name) { gradients in
        guard let gradient = gradients[0] else { return [nil] }
        let globalNow = globalBefore.map { _ in LibTorch.globalGeneratorState }
        let statesNow = generators.map(\.state)
        if let globalBefore { LibTorch.globalGeneratorState = globalBefore }
        for (generator, state) in zip(generators, statesBefore) { generator.state = state }
        defer {
            if let globalNow { LibTorch.globalGeneratorState = globalNow }
            for (generator, state) in zip(generators, statesNow) { generator.state = state }
        }
        // An input that needed no gradient gets none computed (only the parameters inside do).
        let replay = input.requiresGrad ? input.detach().requiringGrad() : input.detach()
        if let surrogate {
            let objective = withGradEnabled(true) { surrogate(replay, gradient) }
            if objective.requiresGrad { objective.backward() }
        } else {
            let recomputed = withGradEnabled(true) { body(replay) }
            if recomputed.requiresGrad { recomputed.backward(gradient: gradient) }
        }
        return [replay.grad]
    }
    return output
}
