import Foundation
import Testing
import TestSupport

/// Every input kept from fuzzing (`Tests/Fixtures/fuzz/<target>/`, or `PROXIMA_FUZZ_CORPUS`) runs through the command
/// the fuzzer uses: it must end with exit 0, or exit 2 and one `proxima: error:` line.
@Suite("Fuzzing regressions")
struct FuzzRegressionTests {
    static var corpus: URL {
        if let path = ProcessInfo.processInfo.environment["PROXIMA_FUZZ_CORPUS"] { return URL(fileURLWithPath: path) }
        return Fixtures.root.appendingPathComponent("fuzz")
    }

    static var inputs: [URL] {
        let targets = ["yaml", "json", "set", "safetensors"]
        let files = targets.flatMap { target -> [URL] in
            let folder = corpus.appendingPathComponent(target)
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted().map { folder.appendingPathComponent($0) }
        }
        return files.isEmpty ? [corpus.appendingPathComponent(Fixtures.noCasesPlaceholder)] : files
    }

    @Test("each kept input is handled: exit 0, or exit 2 with one proxima: error: line", arguments: inputs)
    func handled(input: URL) throws {
        guard input.lastPathComponent != Fixtures.noCasesPlaceholder else {
            Issue.record("no fuzzing inputs in \(Self.corpus.path)")
            return
        }
        let arguments: [String]
        switch input.deletingLastPathComponent().lastPathComponent {
        case "yaml", "json": arguments = ["train", "ppo", "--env", "CartPole-v1", "--config", input.path, "--validate"]
        case "set":
            let value = String(decoding: try Data(contentsOf: input).filter { $0 != 0 }, as: UTF8.self)
            arguments = ["train", "ppo", "--env", "CartPole-v1", "--set", value, "--validate"]
        default: arguments = ["eval", "--run", input.path, "--episodes", "1", "--deterministic"]
        }
        let result = try runProxima(arguments)
        #expect(result.reason == .exit && (result.status == 0 || result.status == 2), "\(input.lastPathComponent): \(result.output)")
        if result.status == 2 {
            let lines = result.output.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("proxima: error: "), "\(input.lastPathComponent): \(result.output)")
        }
    }
}
