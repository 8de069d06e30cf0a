import Foundation
import Testing
@testable import Torch

/// Where test data lives: `PROXIMA_GOLDEN_DIR` / `PROXIMA_HF_FIXTURES` when set, else the copies in Tests/Fixtures.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static var golden: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_GOLDEN_DIR"] { return URL(fileURLWithPath: path) }
        return root.appendingPathComponent("golden")
    }

    static var huggingFace: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_HF_FIXTURES"] { return URL(fileURLWithPath: path) }
        return root.appendingPathComponent("fixtures/hf")
    }

    /// Every Hugging Face fixture directory (each holds config.json and model.safetensors).
    static var huggingFaceModels: [URL] {
        let items = (try? FileManager.default.contentsOfDirectory(at: huggingFace, includingPropertiesForKeys: nil)) ?? []
        return items.filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
            .sorted { $0.path < $1.path }
    }
}

/// A fresh directory under the system temporary directory.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Element-wise |a - b| <= atol + rtol |b|, reporting the first offending element.
func expectClose(_ actual: [Double], _ expected: [Double], atol: Double = 1e-6, rtol: Double = 1e-6,
                 _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(context): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(Swift.abs(a - e) <= atol + rtol * Swift.abs(e)) {
        Issue.record("\(context): element \(i) is \(a), expected \(e)", sourceLocation: sourceLocation)
        return
    }
}

func expectClose(_ actual: Tensor, _ expected: [Double], atol: Double = 1e-6, rtol: Double = 1e-6,
                 _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(actual.doubles, expected, atol: atol, rtol: rtol, context, sourceLocation: sourceLocation)
}
