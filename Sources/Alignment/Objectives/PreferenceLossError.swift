import Torch

/// A preference objective refused its parameters or inputs; the message names the parameter or input.
public struct PreferenceLossError: ProximaError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
