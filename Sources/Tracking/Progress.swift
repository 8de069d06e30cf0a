import Foundation

/// Reports training progress: on a terminal one live line (bar, steps/total, rate, ETA, headline metrics) redrawn in
/// place at most 10 times a second; otherwise (CI, pipes) a plain line every `plainInterval` seconds.
public final class ProgressReporter {
    public let total: Int
    public let label: String
    public let isTerminal: Bool
    public let plainInterval: Double
    let start = Date()
    var lastDraw = Date.distantPast
    var lastLength = 0

    public init(total: Int, label: String, plainInterval: Double = 5, forceTerminal: Bool? = nil) {
        self.total = total
        self.label = label
        self.plainInterval = plainInterval
        isTerminal = forceTerminal ?? (isatty(STDOUT_FILENO) != 0)
    }

    /// Call as often as you like; drawing is rate-limited.
    public func update(step: Int, metrics: [(String, Double)] = [], force: Bool = false) {
        let now = Date()
        let interval = isTerminal ? 0.1 : plainInterval
        guard force || now.timeIntervalSince(lastDraw) >= interval else { return }
        lastDraw = now
        let line = Self.line(label: label, step: step, total: total, elapsed: now.timeIntervalSince(start), metrics: metrics, bar: isTerminal)
        if isTerminal {
            let padding = String(repeating: " ", count: Swift.max(0, lastLength - line.count))
            print("\r" + line + padding, terminator: "")
            lastLength = line.count
        } else {
            print(line)
        }
        fflush(nil)
    }

    /// Draws the final state and ends the live line.
    public func finish(step: Int, metrics: [(String, Double)] = []) {
        update(step: step, metrics: metrics, force: true)
        if isTerminal { print("") }
    }

    /// The text of one progress line.
    public static func line(label: String, step: Int, total: Int, elapsed: Double, metrics: [(String, Double)], bar: Bool) -> String {
        let fraction = total > 0 ? Swift.min(1, Double(step) / Double(total)) : 0
        let rate = elapsed > 0 ? Double(step) / elapsed : 0
        let remaining = rate > 0 ? Double(total - step) / rate : .infinity
        var parts: [String] = [label]
        if bar {
            let width = 24
            let filled = Int((fraction * Double(width)).rounded(.down))
            parts.append("[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "]")
        }
        parts.append("\(step)/\(total) (\(Int((fraction * 100).rounded()))%)")
        parts.append("\(formatCount(rate)) steps/s")
        parts.append("ETA \(formatDuration(remaining))")
        for (name, value) in metrics where value.isFinite { parts.append("\(name) \(formatValue(value))") }
        return parts.joined(separator: "  ")
    }

    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    static func formatCount(_ x: Double) -> String {
        if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
        if x >= 1e4 { return String(format: "%.1fk", x / 1e3) }
        return String(format: "%.0f", x)
    }

    static func formatValue(_ x: Double) -> String {
        let a = Swift.abs(x)
        if a != 0 && (a < 1e-3 || a >= 1e5) { return String(format: "%.3e", x) }
        return String(format: a >= 100 ? "%.1f" : "%.3f", x)
    }
}
