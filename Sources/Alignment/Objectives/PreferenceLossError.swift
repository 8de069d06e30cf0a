import Torch

/// A preference objective refused its parameters or inputs; the message names the parameter or input.
public struct PreferenceLossError: ProximaError, Equatable {
    /// What was refused, and why.
    public let message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
