import Foundation
import Torch

/// A configuration or input mistake (a setting, a file, a policy or environment name), reported in one line that
/// names the file and line, the flag or the field.
public struct ConfigurationError: ProximaError {
    public let description: String
    public init(_ description: String) { self.description = description }
}
