import Foundation

/// How much memory this process may use: the machine's physical memory, or less under a cgroup limit (containers).
/// Trainers compare their estimate against it before allocating, so an impossible configuration is an error naming
/// its settings instead of a failed allocation halfway through.
public enum MemoryBudget {
    /// Bytes available to the process.
    public static var availableBytes: UInt64 {
        var limit = ProcessInfo.processInfo.physicalMemory
        for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
               let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0 {
                limit = Swift.min(limit, value)
            }
        }
        return limit
    }

    /// `bytes` in words: "3.2 GB".
    public static func describe(_ bytes: Double) -> String {
        bytes >= 1e9 ? String(format: "%.1f GB", bytes / 1e9) : String(format: "%.0f MB", bytes / 1e6)
    }
}
