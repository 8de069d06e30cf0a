import CTorch

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

/// Stops the program after a libtorch call failed. Such failures are programming errors (shapes, dtypes, indices);
/// the message names the operation and carries libtorch's text, and Swift's crash backtrace that follows shows the
/// call site in the caller's code.
@inline(never)
@_spi(CInterop) public func torchFailure(_ operation: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("libtorch error in \(operation): \(lastTorchError)", file: file, line: line)
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

