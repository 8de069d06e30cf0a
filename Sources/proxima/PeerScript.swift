import Foundation

/// A Python peer benchmark of `Benchmarks/peers` run next to Proxima's own measurement: the script prints lines and
/// then one JSON object, which is returned.
enum PeerScript {
    /// The script's path, under the current directory or the checkout this source was compiled from.
    static func locate(_ name: String) -> URL? {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return [URL(fileURLWithPath: FileManager.default.currentDirectoryPath), checkout]
            .map { $0.appendingPathComponent("Benchmarks/peers/\(name)") }
            .first { FileManager.default.isReadableFile(atPath: $0.path) }
    }

    enum Outcome {
        /// Python or the script is missing, or the peers' venv could not be made: nothing was measured.
        case unavailable(String)
        case failed(String)
        case measured([String: Any])
    }

    /// Runs `python3 Benchmarks/peers/<name> arguments…`, echoing its output indented, and parses its last line.
    static func run(_ name: String, arguments: [String]) -> Outcome {
        guard let script = locate(name) else { return .unavailable("Benchmarks/peers/\(name) is not under the current directory or the checkout") }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        guard let python = path.map({ "\($0)/python3" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .unavailable("no python3 on PATH")
        }
        fflush(nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return .unavailable("\(python) could not start (\(error.localizedDescription))") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = output.split(separator: "\n", omittingEmptySubsequences: true)
        for line in lines.dropLast() { print("  \(line)") }
        let last = lines.last.map(String.init) ?? ""
        guard let object = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any] else {
            if !last.isEmpty { print("  \(last)") }
            return process.terminationStatus == 0 ? .unavailable("\(name) printed no result") : .failed("\(name) exited with status \(process.terminationStatus)")
        }
        return .measured(object)
    }
}
