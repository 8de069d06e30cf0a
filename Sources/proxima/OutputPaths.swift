import Foundation
import ReinforcementLearning
import Training

/// The files of a run directory (or the model file itself) that commands read and must never write over.
func inputFiles(of path: String) -> [URL] {
    let url = URL(fileURLWithPath: path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [url] }
    let run = RunDirectory(url)
    return [run.modelURL, run.checkpointURL, run.configURL, url.appendingPathComponent("run.json"),
            url.appendingPathComponent("metrics.jsonl"), url.appendingPathComponent("metrics.csv"), url.appendingPathComponent(".lock")]
}

/// Checks an output path given by `flag`: not empty, not a directory, and not one of `inputs`.
func checkOutput(_ path: String, flag: String, inputs: [URL]) throws {
    guard !path.isEmpty else { throw UserError(message: "\(flag) must not be empty") }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw UserError(message: "\(flag) \(path) is a directory; give a file name")
    }
    let target = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    if let input = inputs.first(where: { $0.standardizedFileURL.resolvingSymlinksInPath().path == target }) {
        throw UserError(message: "\(flag) \(path) would overwrite \(input.path), which this command reads")
    }
}

/// Writes `text` to `path`, reporting a failure as the path and the operating system's reason.
func writeOutput(_ text: String, to path: String) throws {
    do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
        throw UserError(message: "\(path): cannot write (\(describe(error, path: path)))")
    }
}

/// " (did you mean 'x'?)" for the closest of `candidates` within a small edit distance of `word`.
func closest(_ word: String, _ candidates: [String]) -> String {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() { current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)) }
            previous = current
        }
        return previous[b.count]
    }
    let best = candidates.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
    guard let (candidate, d) = best, d <= 2 else { return "" }
    return " (did you mean '\(candidate)'?)"
}
