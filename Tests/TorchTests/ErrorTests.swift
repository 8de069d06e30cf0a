import Foundation
import Testing
import TestSupport

/// Programming errors stop the process with libtorch's message, never a bare segfault. These run `proxima diagnose`
/// in a child process, since a stop ends the process that hits it.
@Suite("Errors from libtorch")
struct ErrorTests {
    @Test("a shape mismatch stops with libtorch's message and the operation, not a segfault",
          arguments: [("matmul", "mat1 and mat2 shapes cannot be multiplied"),
                      ("add", "must match the size of tensor"),
                      ("reshape", "is invalid for input of size"),
                      ("dtype", "to have the same dtype"),
                      ("index", "index out of range")])
    func shapeMismatch(kind: String, phrase: String) throws {
        let run = try runProxima(["diagnose", kind], environment: ["SWIFT_BACKTRACE": "enable=yes,interactive=no,color=no"])
        let result = (status: run.status, reason: run.reason, stderr: run.output)
        #expect(result.reason == .uncaughtSignal)
        #expect(result.status != SIGSEGV, "segfault: \(result.stderr)")
        #expect(result.stderr.contains("libtorch error in"), "\(result.stderr)")
        #expect(result.stderr.contains(phrase), "\(result.stderr)")
        // The short trace names the caller's source line (debug builds carry the line tables), without registers or
        // the runtime's dump.
        #expect(result.stderr.contains("Diagnose.swift:"), "no call site in: \(result.stderr.prefix(2000))")
        #expect(!result.stderr.contains("Registers"), "\(result.stderr.prefix(2000))")
        #expect(result.stderr.split(separator: "\n").count <= 16, "trace too long: \(result.stderr.prefix(3000))")
    }

    @Test("any other programming error (a Swift precondition) ends with the runtime's message and a short trace")
    func preconditionFailure() throws {
        let run = try runProxima(["diagnose", "precondition"])
        #expect(run.reason == .uncaughtSignal && run.status != SIGSEGV, "\(run.output)")
        #expect(run.output.contains("a deliberate precondition failure"), "\(run.output)")
        #expect(run.output.contains("proxima crashed (signal") && run.output.contains("Diagnose.swift:"), "\(run.output.prefix(2000))")
        #expect(!run.output.contains("Registers") && run.output.split(separator: "\n").count <= 16, "\(run.output.prefix(3000))")
    }
}
