import Foundation
import Testing
import TestSupport
import Torch
@testable import NeuralNetworks

/// Runs every file of golden/optim (PyTorch 2.x reference trajectories in float64).
@Suite("Optimizers, clipping and schedules against PyTorch (golden/optim)")
struct OptimizerGoldenTests {
    @Test("every golden/optim file matches", arguments: Fixtures.goldenFiles("optim"))
    func golden(file: URL) throws {
        let json = try Fixtures.json(file)
        let tolerance = json["tolerance"] as? Double ?? 1e-9
        switch json["function"] as? String {
        case "optimizer": try checkOptimizer(json, tolerance: tolerance, file.lastPathComponent)
        case "clip_grad_norm": checkClipping(json, tolerance: tolerance)
        case "lr_schedule": checkSchedules(json, tolerance: tolerance)
        default: Issue.record("\(file.lastPathComponent): unknown golden function \(json["function"] ?? "nil")")
        }
    }

    func checkOptimizer(_ json: [String: Any], tolerance: Double, _ name: String) throws {
        let params = json["params"] as! [String: Any]
        let inputs = json["inputs"] as! [String: Any]
        let shapes = inputs["shapes"] as! [[Int]]
        let initial = inputs["initial_params"] as! [Any]
        let tensors = zip(initial, shapes).map { Tensor(flatten($0.0).values, shape: $0.1).requiringGrad() }
        let lr = params["lr"] as! Double
        let weightDecay = params["weight_decay"] as? Double ?? 0
        let betas = (params["betas"] as? [Double]) ?? [0.9, 0.999]
        let optimizer: Optimizer
        switch json["optimizer"] as! String {
        case "SGD":
            optimizer = SGD(parameters: tensors, learningRate: lr, momentum: params["momentum"] as? Double ?? 0,
                            nesterov: params["nesterov"] as? Bool ?? false, weightDecay: weightDecay)
        case "Adam":
            optimizer = Adam(parameters: tensors, learningRate: lr, betas: (betas[0], betas[1]), eps: params["eps"] as? Double ?? 1e-8,
                             weightDecay: weightDecay)
        case "AdamW":
            optimizer = Adam.adamW(parameters: tensors, learningRate: lr, betas: (betas[0], betas[1]), eps: params["eps"] as? Double ?? 1e-8,
                                   weightDecay: weightDecay)
        default:
            Issue.record("\(name): unknown optimizer")
            return
        }
        for (k, step) in (inputs["steps"] as! [[String: Any]]).enumerated() {
            for (t, g) in zip(tensors, step["grads"] as! [Any]) { t.grad = Tensor(flatten(g).values, shape: t.shape) }
            optimizer.step()
            for (i, (t, expected)) in zip(tensors, step["params_after"] as! [Any]).enumerated() {
                expectClose(t.doubles, flatten(expected).values, atol: tolerance, rtol: tolerance, "\(name) step \(k) param \(i)")
            }
        }
    }

    func checkClipping(_ json: [String: Any], tolerance: Double) {
        for (k, c) in (json["cases"] as! [[String: Any]]).enumerated() {
            let grads = (c["grads"] as! [Any]).map { tensor($0) }
            let params = grads.map { Tensor.zeros(like: $0).requiringGrad() }
            for (p, g) in zip(params, grads) { p.grad = g }
            let normType: Double = (c["norm_type"] as? String) == "inf" ? .infinity : (c["norm_type"] as? Double ?? 2)
            let total = clipGradNorm(params, maxNorm: c["max_norm"] as! Double, normType: normType)
            expectClose([total], [c["total_norm_before"] as! Double], atol: tolerance, rtol: tolerance, "case \(k) total norm")
            for (p, expected) in zip(params, c["grads_after"] as! [Any]) {
                expectClose(p.grad!.doubles, flatten(expected).values, atol: tolerance, rtol: tolerance, "case \(k) clipped grads")
            }
        }
    }

    func checkSchedules(_ json: [String: Any], tolerance: Double) {
        for c in json["cases"] as! [[String: Any]] {
            let warmup = c["warmup_steps"] as! Int, total = c["total_steps"] as! Int, base = c["base_lr"] as! Double
            let schedule: Schedule
            switch c["kind"] as! String {
            case "cosine_warmup": schedule = .cosineWarmup(warmupSteps: warmup)
            case "linear_warmup": schedule = .linearWarmup(warmupSteps: warmup)
            default:
                Issue.record("unknown schedule \(c["kind"]!)")
                continue
            }
            let expected = c["lr_at_step"] as! [Double]
            let actual = expected.indices.map { ScheduledValue(base, schedule: schedule).value(at: $0, of: total) }
            expectClose(actual, expected, atol: tolerance, rtol: tolerance, "\(c["kind"]!) warmup \(warmup)")
        }
    }
}

@Suite("Optimizer behaviour")
struct OptimizerTests {
    @Test("parameter groups keep their own learning rate and weight decay")
    func groups() {
        let a = Tensor([1.0] as [Double]).requiringGrad(), b = Tensor([1.0] as [Double]).requiringGrad()
        let sgd = SGD([ParameterGroup(parameters: [a], learningRate: 0.1), ParameterGroup(parameters: [b], learningRate: 1, weightDecay: 0.5)])
        a.grad = Tensor([1.0] as [Double]); b.grad = Tensor([1.0] as [Double])
        sgd.step()
        #expect(a.doubles == [0.9])
        #expect(b.doubles == [-0.5])
        sgd.setLearningRate(0.01)
        #expect(sgd.parameterGroups.map(\.learningRate) == [0.01, 0.01])
        sgd.zeroGrad()
        #expect(a.grad == nil && b.grad == nil)
    }

    @Test("ATen's fused Adam step equals the step made of separate operations",
          arguments: [(false, 0.0, false), (false, 0.1, false), (true, 0.05, false), (false, 0.0, true), (true, 0.01, true)])
    func fusedAdam(decoupled: Bool, weightDecay: Double, amsgrad: Bool) {
        for dtype in [DType.float32, .float64] {
            let start = Tensor.randn([4, 3], dtype: dtype, generator: Generator(seed: 1))
            // The same values as a dense parameter (fused kernel) and as a transposed view (separate operations).
            let dense = start.clone().requiringGrad()
            let strided = start.transposed(0, 1).contiguous().transposed(0, 1).detach().requiringGrad()
            #expect(!strided.isContiguous)
            func make(_ p: Tensor) -> Adam {
                Adam([ParameterGroup(parameters: [p], learningRate: 0.01, weightDecay: weightDecay)], betas: (0.9, 0.99),
                     eps: 1e-8, amsgrad: amsgrad, decoupledWeightDecay: decoupled)
            }
            let a = make(dense), b = make(strided)
            // The dense parameter really takes the fused kernel, the view the separate operations.
            let probe = dense.detach().clone(), m = Tensor.zeros(like: probe), v = Tensor.zeros(like: probe)
            #expect(fusedAdamStep(parameter: probe, gradient: Tensor.ones(like: probe), exp: m, expSquared: v, maxExpSquared: nil,
                                  learningRate: 0.01, betas: (0.9, 0.99), eps: 1e-8, weightDecay: 0, decoupled: false, step: 1))
            #expect(!fusedAdamStep(parameter: strided.detach(), gradient: Tensor.ones(like: probe), exp: m, expSquared: v,
                                   maxExpSquared: nil, learningRate: 0.01, betas: (0.9, 0.99), eps: 1e-8, weightDecay: 0,
                                   decoupled: false, step: 1))
            let generator = Generator(seed: 2)
            for _ in 0..<6 {
                let g = Tensor.randn([4, 3], dtype: dtype, generator: generator)
                dense.grad = g.clone()
                strided.grad = g.transposed(0, 1).contiguous().transposed(0, 1)
                a.step(); b.step()
            }
            let tolerance = dtype == .float64 ? 1e-14 : 1e-6
            expectClose(dense, strided.doubles, atol: tolerance, rtol: tolerance, "\(dtype) decoupled \(decoupled) wd \(weightDecay) amsgrad \(amsgrad)")
            expectClose(a.moments["0.0"]!.expSquared, b.moments["0.0"]!.expSquared.doubles, atol: tolerance, rtol: tolerance, "second moment")
        }
    }

    @Test("AMSGrad keeps the running maximum of the second moment")
    func amsgrad() {
        let p = Tensor([0.0] as [Double]).requiringGrad()
        let adam = Adam(parameters: [p], learningRate: 0.1, amsgrad: true)
        p.grad = Tensor([10.0] as [Double]); adam.step()
        p.grad = Tensor([0.1] as [Double]); adam.step()
        let m = adam.moments["0.0"]!
        #expect(m.maxExpSquared!.item(Double.self) > m.expSquared.item(Double.self))
    }

    @Test("restoring optimizer state continues with the identical next step", arguments: ["sgd", "adam", "adamw", "rmsprop"])
    func stateRoundTrip(kind: String) throws {
        func make(_ p: Tensor) -> Optimizer {
            switch kind {
            case "sgd": return SGD(parameters: [p], learningRate: 0.1, momentum: 0.9)
            case "adam": return Adam(parameters: [p], learningRate: 0.1, amsgrad: true)
            case "adamw": return Adam.adamW(parameters: [p], learningRate: 0.1)
            default: return RMSprop(parameters: [p], learningRate: 0.1)
            }
        }
        let p = Tensor([1, -2, 3] as [Double]).requiringGrad()
        let optimizer = make(p)
        for g in [[1.0, 2, 3], [-1.0, 0.5, 2]] { p.grad = Tensor(g); optimizer.step() }
        let saved = optimizer.state()
        let q = p.detach().clone().requiringGrad()
        let restored = make(q)
        try restored.load(state: saved)
        p.grad = Tensor([0.3, -0.2, 0.1] as [Double]); optimizer.step()
        q.grad = Tensor([0.3, -0.2, 0.1] as [Double]); restored.step()
        #expect(p.doubles == q.doubles)
    }

    @Test("state for a different parameter shape is refused")
    func mismatchedState() {
        let p = Tensor([1, 2] as [Double]).requiringGrad()
        let adam = Adam(parameters: [p])
        p.grad = Tensor([1, 1] as [Double]); adam.step()
        let other = Adam(parameters: [Tensor([1, 2, 3] as [Double]).requiringGrad()])
        #expect(throws: OptimizerStateError.self) { try other.load(state: adam.state()) }
    }

    @Test("schedules: constant, linear (PPO annealing) and step decay")
    func schedules() {
        #expect(Schedule.constant.factor(at: 1000, of: 10) == 1)
        // On-policy RL reads the linear schedule after each rollout: 1 − updates done / updates (SB3's progress remaining).
        let updates = 4
        #expect((1...updates).map { Schedule.linear.factor(at: $0, of: updates) } == [0.75, 0.5, 0.25, 0])
        #expect(Schedule.linear.factor(at: 9, of: 4) == 0)
        #expect((0..<5).map { Schedule.stepDecay(stepSize: 2, gamma: 0.5).factor(at: $0, of: 5) } == [1, 1, 0.5, 0.5, 0.25])
        // RL Zoo's spellings.
        #expect(ScheduledValue(text: "lin_0.001") == .linear(0.001) && ScheduledValue(text: "3e-4") == 3e-4 && ScheduledValue(text: "x") == nil)
        #expect(ScheduledValue.linear(0.001).value(at: 3, of: 4) == 0.001 * 0.25)
    }
}

@Suite("Packed parameters")
struct ParameterBufferTests {
    @Test("Adam on a ParameterBuffer follows exactly the trajectory of Adam on the separate parameters")
    func sameTrajectory() {
        func run(packed: Bool) -> [Tensor] {
            let net = Sequential.mlp(sizes: [3, 8, 2], dtype: .float64, generator: Generator(seed: 4))
            let x = Tensor.randn([5, 3], dtype: .float64, generator: Generator(seed: 5))
            let buffer = packed ? ParameterBuffer(net.parameters()) : nil
            let adam = Adam(parameters: buffer.map { [$0.flat] } ?? net.parameters(), learningRate: 0.05)
            for _ in 0..<5 {
                if let buffer { buffer.zeroGrad() } else { adam.zeroGrad() }
                net(x).square().mean().backward()
                clipGradNorm(buffer.map { [$0.flat] } ?? net.parameters(), maxNorm: 0.1)
                adam.step()
            }
            return net.parameters()
        }
        let a = run(packed: false), b = run(packed: true)
        for (x, y) in zip(a, b) { expectClose(x.doubles, y.doubles, atol: 1e-12, rtol: 1e-12, "parameter") }
    }

    @Test("packed parameters keep their identity, names and state-dict loading")
    func identity() throws {
        let net = Sequential.mlp(sizes: [2, 3], generator: Generator(seed: 1))
        let before = net.parameters().map(ObjectIdentifier.init)
        let buffer = ParameterBuffer(net.parameters())
        #expect(net.parameters().map(ObjectIdentifier.init) == before)
        #expect(buffer.flat.count == 9)
        try net.load(stateDict: ["0.weight": Tensor.ones([3, 2]), "0.bias": Tensor.zeros([3])])
        #expect(buffer.flat.floats == [1, 1, 1, 1, 1, 1, 0, 0, 0])
        #expect(net.parameters()[0].isLeaf && net.parameters()[0].requiresGrad)
    }
}
