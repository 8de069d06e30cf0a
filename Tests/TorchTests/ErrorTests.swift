import Foundation
import Testing

/// Programming errors stop the process with libtorch's message, never a bare segfault. These run `proxima diagnose`
/// in a child process, since a stop ends the process that hits it.
@Suite("Errors from libtorch")
struct ErrorTests {
    static var proxima: URL {
        // The test bundle and the executable are built into the same products directory.
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("proxima").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("proxima")
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, reason: Process.TerminationReason, stderr: String) {
        let process = Process()
        process.executableURL = proxima
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=yes,interactive=no,color=no"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason, String(decoding: data, as: UTF8.self))
    }

    @Test("a shape mismatch stops with libtorch's message and the operation, not a segfault",
          arguments: [("matmul", "mat1 and mat2 shapes cannot be multiplied"),
                      ("add", "must match the size of tensor"),
                      ("reshape", "is invalid for input of size"),
                      ("dtype", "expected scalar type"),
                      ("index", "index out of range")])
    func shapeMismatch(kind: String, phrase: String) throws {
        let result = try Self.run(["diagnose", kind])
        #expect(result.reason == .uncaughtSignal)
        #expect(result.status != SIGSEGV, "segfault: \(result.stderr)")
        #expect(result.stderr.contains("libtorch error in"), "\(result.stderr)")
        #expect(result.stderr.contains(phrase), "\(result.stderr)")
        // Swift's backtrace names the caller's source line (debug builds carry the line tables).
        #expect(result.stderr.contains("Diagnose.swift:"), "no call site in: \(result.stderr.prefix(2000))")
    }
}
