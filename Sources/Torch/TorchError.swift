import CTorch
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// An error Proxima reports to its user in one line: bad input (a file, a setting, an environment id), a failed
/// write, a training run that cannot go on. Every library error type conforms, one type per concern; the command line
/// prints any of them as `proxima: error: <description>` and exits with code 2.
public protocol ProximaError: Error, CustomStringConvertible {}

/// An error about input from outside the program (files, configuration), or a libtorch failure caught by
/// `catchingTorchErrors` (out of memory, values from data that an operation refuses). Other libtorch failures are
/// programming errors such as a shape mismatch: they stop the program with libtorch's message (see `torchFailure`).
public struct TorchError: ProximaError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// Whether libtorch ran out of memory (its allocators' messages).
    public var isOutOfMemory: Bool {
        message.contains("can't allocate memory") || message.contains("out of memory") || message.contains("not enough memory")
    }
}

/// The first libtorch failure inside a `catchingTorchErrors` scope, and how many followed it.
final class TorchFailureRecord: @unchecked Sendable {
    var first: String?
    var later = 0
}

enum TorchFailureScope {
    @TaskLocal static var current: TorchFailureRecord?
}

/// Runs `body` with libtorch failures made recoverable: instead of stopping the program, a failed operation records
/// libtorch's message and returns an empty placeholder tensor, `body` runs on to its end, and then the first failure
/// is thrown as a `TorchError` prefixed with `context`. This is how the library's public edges (a training update, a
/// generation call, a load) turn out-of-memory and data-dependent failures into errors a caller can handle; whatever
/// `body` computed after the failure is meaningless and must be discarded (callers write nothing from it). A Swift
/// precondition that a placeholder violates still stops the program.
public func catchingTorchErrors<T>(_ context: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    let record = TorchFailureRecord()
    let result = try TorchFailureScope.$current.withValue(record) { try body() }
    if let first = record.first {
        let more = record.later > 0 ? " (and \(record.later) failure(s) after it)" : ""
        throw TorchError("\(context()): \(first)\(more)")
    }
    return result
}

/// Inside `catchingTorchErrors`, records the failure of `operation` and returns true; outside, returns false.
@_spi(CInterop) public func recordTorchFailure(_ operation: String) -> Bool {
    guard let record = TorchFailureScope.current else { return false }
    if record.first == nil { record.first = "libtorch error in \(operation): \(lastTorchError)" } else { record.later += 1 }
    return true
}

/// What a failed operation returns inside `catchingTorchErrors`: an empty float32 tensor.
@_spi(CInterop) public func failurePlaceholder() -> Tensor {
    var size: Int64 = 0
    return Tensor(owning: ct_empty(&size, 1, DType.float32.rawValue, 0, 0)!)
}

/// The message libtorch left for the last failed call on this thread.
@_spi(CInterop) public var lastTorchError: String { String(cString: ct_last_error()) }

/// Stops the program after a libtorch call failed. Such failures are programming errors (shapes, dtypes, indices):
/// the message names the operation and carries libtorch's text, followed by a short trace of the calling code (source
/// lines where the binary carries line tables, no registers), and the process ends with SIGABRT.
@inline(never)
@_spi(CInterop) public func torchFailure(_ operation: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    let message = "\(file):\(line): Fatal error: libtorch error in \(operation): \(lastTorchError)\n"
    writeToStandardError(message + shortTrace())
    // Swift's own crash handler would print the whole machine state again: end with the default action instead.
    signal(SIGABRT, SIG_DFL)
    abort()
}

/// The calling frames of the current thread, one line each, innermost first: function and source line, without
/// Proxima's own tensor plumbing, thunks and the runtime's frames; at most `limit` lines.
func shortTrace(limit: Int = 12) -> String {
    guard let symbolicated = try? Backtrace.capture().symbolicated() else { return "(no backtrace available)\n" }
    let plumbing = ["torchFailure", "failedHandle", "wrap(", "withHandle", "withExtendedLifetime", "shortTrace", "binaryHandle",
                    "partial apply", "closure #", "CrashReport"]
    var lines: [String] = []
    var omitted = 0
    // Inside a signal handler the frames up to the kernel's signal frame are the handler's own.
    var frames = Array(symbolicated.frames)
    if let signalFrame = frames.firstIndex(where: { ["sigaction", "__restore_rt"].contains($0.symbol?.name ?? "") }) {
        frames.removeFirst(signalFrame + 1)
    }
    for frame in frames {
        guard let symbol = frame.symbol else { continue }
        let name = symbol.name
        if frame.isSwiftThunk || frame.isSystem || plumbing.contains(where: { name.contains($0) }) { continue }
        if lines.count == limit { omitted += 1; continue }
        let place = symbol.sourceLocation.map { " at \($0.path):\($0.line)" } ?? " in \(symbol.imageName)"
        lines.append("  \(lines.count): \(name)\(place)")
    }
    if omitted > 0 { lines.append("  … \(omitted) more frame(s)") }
    return "Backtrace (innermost call first):\n" + lines.joined(separator: "\n") + "\n"
}

/// Short crash reports for the rest of the programming errors (a Swift precondition, a bad memory access): the
/// runtime's message, then the calling frames as `torchFailure` prints them, instead of the Swift runtime's full
/// report with registers and loaded images. The process still ends by the signal (its exit status says which).
public enum CrashReport {
    /// Replaces the handlers of SIGILL, SIGTRAP, SIGSEGV, SIGBUS and SIGFPE for the rest of the process, on a stack
    /// of their own (so a stack overflow is reported too). Symbolication inside a crashed process can stall; an alarm
    /// ends the process after 10 seconds whatever happens.
    public static func installShortTraces() {
        let size = 1 << 20
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        stack.ss_size = size
        sigaltstack(&stack, nil)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signalNumber in
            alarm(10)
            writeToStandardError("proxima crashed (signal \(signalNumber), a programming error). " + shortTrace())
            signal(signalNumber, SIG_DFL)
            raise(signalNumber)
        }
        action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND)) | Int32(SA_ONSTACK)
        for signalNumber in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE] { sigaction(signalNumber, &action, nil) }
    }
}

private func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// Wraps a handle returned by the C layer; when it is NULL, records the failure inside `catchingTorchErrors` (and
/// returns a placeholder) or stops with libtorch's message.
@inline(__always)
@_spi(CInterop) public func wrap(_ handle: ct_tensor?, _ operation: @autoclosure () -> String) -> Tensor {
    if let handle { return Tensor(owning: handle) }
    return failedHandle(operation())
}

@inline(never)
func failedHandle(_ operation: String) -> Tensor {
    if recordTorchFailure(operation) { return failurePlaceholder() }
    torchFailure(operation)
}

/// Checks a status-returning C call; a failure is recorded inside `catchingTorchErrors` or stops with libtorch's
/// message.
@inline(__always)
@_spi(CInterop) public func check(_ status: Int32, _ operation: @autoclosure () -> String) {
    if status != 0 && !recordTorchFailure(operation()) { torchFailure(operation()) }
}

