import CTorch

/// An error about input from outside the program (files, configuration). Programming errors such as a shape mismatch
/// are not thrown: they stop the program with libtorch's message (see `torchFailure`).
public struct TorchError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
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

/// Wraps a handle returned by the C layer, stopping with libtorch's message when it is NULL.
@inline(__always)
@_spi(CInterop) public func wrap(_ handle: ct_tensor?, _ operation: @autoclosure () -> String) -> Tensor {
    guard let handle else { torchFailure(operation()) }
    return Tensor(owning: handle)
}

/// Stops with libtorch's message when a status-returning C call failed.
@inline(__always)
@_spi(CInterop) public func check(_ status: Int32, _ operation: @autoclosure () -> String) {
    if status != 0 { torchFailure(operation()) }
}

