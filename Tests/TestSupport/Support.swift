import Foundation
import Testing
import Torch

/// Where test data lives: `PROXIMA_GOLDEN_DIR` / `PROXIMA_HF_FIXTURES` when set, else the copies in Tests/Fixtures.
public enum Fixtures {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    public static var golden: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_GOLDEN_DIR"] { return URL(fileURLWithPath: path) }
        return root.appendingPathComponent("golden")
    }

    public static var huggingFace: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_HF_FIXTURES"] { return URL(fileURLWithPath: path) }
        return root.appendingPathComponent("fixtures/hf")
    }

    public static var peft: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_PEFT_FIXTURES"] { return URL(fileURLWithPath: path) }
        return root.appendingPathComponent("fixtures/peft")
    }

    /// Every PEFT adapter fixture (each holds adapter_config.json); a folder without any yields one placeholder
    /// that does not exist, so tests over it fail instead of running no case.
    public static var peftAdapters: [URL] {
        let items = (try? FileManager.default.contentsOfDirectory(at: peft, includingPropertiesForKeys: nil)) ?? []
        let adapters = items.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("adapter_config.json").path) }
            .sorted { $0.path < $1.path }
        return adapters.isEmpty ? [peft.appendingPathComponent("NO-ADAPTER-DIRECTORIES-FOUND")] : adapters
    }

    public static var reward: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_REWARD_FIXTURES"] { return URL(fileURLWithPath: path) }
        return root.appendingPathComponent("fixtures/reward")
    }

    /// Every reward-model fixture (each holds config.json and expected.json); an empty folder yields one placeholder
    /// that does not exist, so tests over it fail instead of running no case.
    public static var rewardModels: [URL] {
        let items = (try? FileManager.default.contentsOfDirectory(at: reward, includingPropertiesForKeys: nil)) ?? []
        let models = items.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("expected.json").path) }
            .sorted { $0.path < $1.path }
        return models.isEmpty ? [reward.appendingPathComponent("NO-REWARD-MODEL-DIRECTORIES-FOUND")] : models
    }

    /// Every Hugging Face fixture directory (each holds config.json and model.safetensors). A folder without any
    /// yields one placeholder directory that does not exist, so tests over it fail instead of running no case.
    public static var huggingFaceModels: [URL] {
        let items = (try? FileManager.default.contentsOfDirectory(at: huggingFace, includingPropertiesForKeys: nil)) ?? []
        let models = items.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
            .sorted { $0.path < $1.path }
        return models.isEmpty ? [huggingFace.appendingPathComponent("NO-MODEL-DIRECTORIES-FOUND")] : models
    }
}

/// A fresh directory under the system temporary directory.
public func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Element-wise |a - b| <= atol + rtol |b|, reporting the first offending element.
public func expectClose(_ actual: [Double], _ expected: [Double], atol: Double = 1e-6, rtol: Double = 1e-6,
                 _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(context): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(Swift.abs(a - e) <= atol + rtol * Swift.abs(e)) {
        Issue.record("\(context): element \(i) is \(a), expected \(e)", sourceLocation: sourceLocation)
        return
    }
}

public func expectClose(_ actual: Tensor, _ expected: [Double], atol: Double = 1e-6, rtol: Double = 1e-6,
                 _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(actual.doubles, expected, atol: atol, rtol: rtol, context, sourceLocation: sourceLocation)
}

extension Fixtures {
    /// Every `*.json` file of a golden family folder (`golden/<family>`), sorted. A folder that is missing or holds no
    /// case yields one placeholder that fails when read (`json`, `Data(contentsOf:)`), so a wrong `PROXIMA_GOLDEN_DIR`
    /// fails the tests instead of letting them pass on no cases.
    public static func goldenFiles(_ family: String) -> [URL] { caseFiles(in: golden.appendingPathComponent(family)) }

    /// Proxima's own reference values (`Tests/Fixtures/reference/<family>`, written by the scripts in scripts/golden
    /// from PyTorch or transformers); not part of the shared golden set, so `PROXIMA_GOLDEN_DIR` does not move them.
    public static let reference = root.appendingPathComponent("reference")

    /// Every `*.json` file of a reference family, with the same placeholder as `goldenFiles` when there is none.
    public static func referenceFiles(_ family: String) -> [URL] { caseFiles(in: reference.appendingPathComponent(family)) }

    static func caseFiles(in dir: URL) -> [URL] {
        let items = (try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? []
        let cases = items.filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        return cases.isEmpty ? [dir.appendingPathComponent(noCasesPlaceholder)] : cases
    }

    /// The name of the placeholder `goldenFiles` returns for a folder without cases.
    public static let noCasesPlaceholder = "NO-CASES-FOUND.json"

    /// A JSON file as a dictionary.
    public static func json(_ url: URL) throws -> [String: Any] {
        if url.lastPathComponent == noCasesPlaceholder {
            throw TorchError("no golden cases in \(url.deletingLastPathComponent().path) (a folder with *.json cases is needed)")
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw TorchError("\(url.path): not a JSON object")
        }
        return object
    }
}

/// Nested JSON number arrays as a flat row-major list and a shape.
public func flatten(_ value: Any?) -> (values: [Double], shape: [Int]) {
    guard let value else { return ([], []) }
    if let n = value as? NSNumber { return ([n.doubleValue], []) }
    if let b = value as? Bool { return ([b ? 1 : 0], []) }
    guard let array = value as? [Any] else { return ([], []) }
    var values: [Double] = []
    var inner: [Int] = []
    for element in array {
        let (v, s) = flatten(element)
        values += v
        inner = s
    }
    return (values, [array.count] + inner)
}

/// A float64 tensor from nested JSON arrays.
public func tensor(_ value: Any?, dtype: DType = .float64) -> Tensor {
    let (values, shape) = flatten(value)
    return Tensor(values, shape: shape).to(dtype: dtype)
}

/// One differentiable operation to check: input shapes, how inputs are drawn, and the function.
public struct GradCase: Sendable, CustomStringConvertible {
    public enum Inputs: Sendable {
        /// Standard normal values pushed away from 0 by at least 0.2 (keeps kinks of abs/relu/clamp out of reach).
        case awayFromZero
        /// Values in [0.5, 2] (log, sqrt, division).
        case positive
    }
    public let name: String
    public let shapes: [[Int]]
    public var inputs: Inputs = .awayFromZero
    public let f: @Sendable ([Tensor]) -> Tensor
    public var description: String { name }

    public init(name: String, shapes: [[Int]], inputs: Inputs = .awayFromZero, f: @escaping @Sendable ([Tensor]) -> Tensor) {
        self.name = name
        self.shapes = shapes
        self.inputs = inputs
        self.f = f
    }
}

/// Central finite differences in float64 against autograd, for the weighted sum Σ w·f(x) with random weights w.
public func gradientCheck(_ c: GradCase, epsilon: Double = 1e-6, tolerance: Double = 1e-6) {
    let generator = Generator(seed: 42)
    let inputs: [Tensor] = c.shapes.map { shape in
        let r = Tensor.randn(shape, dtype: .float64, generator: generator)
        switch c.inputs {
        case .awayFromZero: return (r.sign() * (r.abs() + 0.2)).requiringGrad()
        case .positive: return (Tensor.rand(shape, dtype: .float64, generator: generator) * 1.5 + 0.5).requiringGrad()
        }
    }
    let output = c.f(inputs)
    let weights = Tensor.randn(output.shape, dtype: .float64, generator: generator)
    let analytic = gradients(of: [(output * weights).sum()], withRespectTo: inputs, allowUnused: true)
    for (k, input) in inputs.enumerated() {
        let flat = input.detach().view(-1)
        var numeric = [Double](repeating: 0, count: flat.count)
        for i in 0..<flat.count {
            let original = flat[i].item(Double.self)
            func value(at x: Double) -> Double {
                flat[i] = Tensor(x)
                return withNoGrad { (c.f(inputs) * weights).sum().item(Double.self) }
            }
            numeric[i] = (value(at: original + epsilon) - value(at: original - epsilon)) / (2 * epsilon)
            flat[i] = Tensor(original)
        }
        let exact = analytic[k]?.doubles ?? [Double](repeating: 0, count: numeric.count)
        expectClose(exact, numeric, atol: tolerance, rtol: tolerance, "\(c.name): input \(k)")
    }
}


/// The `proxima` executable, built into the same products directory as the test bundle.
public var proximaExecutable: URL {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("proxima").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("proxima")
}

/// Runs `proxima` to completion: exit status, how it ended, and standard output and error together.
/// Runs `executable` with `arguments` (and `environment` added to this process's), standard output and error
/// together.
public func runProcess(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) throws
    -> (status: Int32, reason: Process.TerminationReason, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, process.terminationReason, String(decoding: data, as: UTF8.self))
}

public func runProxima(_ arguments: [String], environment extra: [String: String] = [:])
    throws -> (status: Int32, reason: Process.TerminationReason, output: String) {
    try runProcess(proximaExecutable.path, arguments, environment: extra)
}
