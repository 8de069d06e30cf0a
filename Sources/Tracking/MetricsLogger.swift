import Foundation

/// Writes scalar metrics of a run: `metrics.jsonl` (one object per step: step, wall_time, then name → value) and
/// `metrics.csv` (long format: step, wall_time, name, value — new metric names never break the header), plus
/// TensorBoard event files when enabled. Lines are flushed as they are written, so a killed run leaves readable
/// files; reopening for a resumed run first drops everything logged after the resume step, so steps never repeat.
public final class MetricsLogger {
    public let directory: URL
    let jsonl: FileHandle
    let csv: FileHandle
    let tensorBoard: TensorBoardWriter?
    let start: Date

    /// - Parameter resumeFromStep: keep only records with step ≤ this (a resumed run); nil starts fresh files.
    public init(directory: URL, resumeFromStep: Int? = nil, tensorBoard: Bool = true) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let jsonlURL = directory.appendingPathComponent("metrics.jsonl")
        let csvURL = directory.appendingPathComponent("metrics.csv")
        if let step = resumeFromStep {
            try Self.truncate(jsonlURL, keepingThrough: step, header: nil) { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
            }
            try Self.truncate(csvURL, keepingThrough: step, header: "step,wall_time,name,value") { line in
                Int(line.split(separator: ",").first ?? "")
            }
        } else {
            try Data().write(to: jsonlURL)
            try Data("step,wall_time,name,value\n".utf8).write(to: csvURL)
        }
        if !FileManager.default.fileExists(atPath: csvURL.path) { try Data("step,wall_time,name,value\n".utf8).write(to: csvURL) }
        if !FileManager.default.fileExists(atPath: jsonlURL.path) { try Data().write(to: jsonlURL) }
        jsonl = try FileHandle(forWritingTo: jsonlURL)
        csv = try FileHandle(forWritingTo: csvURL)
        try jsonl.seekToEnd()
        try csv.seekToEnd()
        self.tensorBoard = tensorBoard ? try TensorBoardWriter(directory: directory, continuing: resumeFromStep != nil) : nil
        if let step = resumeFromStep { try self.tensorBoard?.markRestart(step: step + 1) }
        start = Date()
    }

    deinit {
        try? jsonl.close()
        try? csv.close()
    }

    /// Appends one record. Names should be namespaced (`train/policy_loss`, `rollout/episode_return`). A failed write
    /// (a full disk) throws a `TrackingError` naming the file and the system's reason.
    public func log(step: Int, _ metrics: [String: Double]) throws {
        let wall = Date().timeIntervalSince1970
        let names = metrics.keys.sorted()
        var object = "{\"step\":\(step),\"wall_time\":\(String(format: "%.3f", wall))"
        var rows = ""
        for name in names {
            let value = metrics[name]!
            object += ",\(jsonString(name)):\(jsonNumber(value))"
            rows += "\(step),\(String(format: "%.3f", wall)),\(csvField(name)),\(csvNumber(value))\n"
        }
        object += "}\n"
        try append(Data(object.utf8), to: jsonl, directory.appendingPathComponent("metrics.jsonl"))
        try append(Data(rows.utf8), to: csv, directory.appendingPathComponent("metrics.csv"))
        try tensorBoard?.add(step: step, wallTime: wall, scalars: metrics)
    }

    static func truncate(_ url: URL, keepingThrough step: Int, header: String?, stepOf: (String) -> Int?) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        var kept: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if let header, line == header { kept.append(line); continue }
            // A half-written last line (killed run) has no parseable step and is dropped.
            if let s = stepOf(line), s <= step { kept.append(line) }
        }
        try Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8).write(to: url)
    }
}

/// `s` as a JSON string literal (quotes, backslashes and control characters escaped). Written out rather than through
/// JSONSerialization, whose per-call cost is far above a loop over the characters; a run logs dozens of names per
/// update.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

func jsonNumber(_ x: Double) -> String {
    guard x.isFinite else { return "null" }
    if x == x.rounded() && Swift.abs(x) < 1e15 { return String(Int64(x)) }
    return "\(x)"
}

func csvNumber(_ x: Double) -> String { x.isFinite ? (x == x.rounded() && Swift.abs(x) < 1e15 ? String(Int64(x)) : "\(x)") : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf")) }

func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

/// Reads a run's `metrics.jsonl` into step-ordered series: name → [(step, value)].
public func readMetrics(_ directory: URL) throws -> [String: [(step: Int, value: Double)]] {
    let url = directory.appendingPathComponent("metrics.jsonl")
    let text: String
    do { text = try String(contentsOf: url, encoding: .utf8) } catch {
        throw TrackingError("\(url.path): cannot read metrics (\(error.localizedDescription))")
    }
    var series: [String: [(step: Int, value: Double)]] = [:]
    for (number, line) in text.split(separator: "\n").enumerated() {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let step = object["step"] as? Int else {
            // Only a killed run's unfinished last line may be unreadable.
            if number == text.split(separator: "\n").count - 1 { continue }
            throw TrackingError("\(url.path): line \(number + 1) is not a metrics record")
        }
        for (key, value) in object where key != "step" && key != "wall_time" {
            if let v = value as? Double { series[key, default: []].append((step, v)) }
        }
    }
    return series
}

public struct TrackingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Writes `data` at the end of the file open in `handle`; a failure becomes a `TrackingError` with the file's path and
/// the system's reason in words ("No space left on device", "File too large").
func append(_ data: Data, to handle: FileHandle, _ url: URL) throws {
    do {
        try handle.write(contentsOf: data)
    } catch {
        let underlying = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError) ?? (error as NSError)
        let reason = underlying.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(underlying.code))) : "\(error)"
        throw TrackingError("cannot write \(url.path): \(reason)")
    }
}
