/// An error raised while reading, building, running or writing a tokenizer.
///
/// The message names the file and the field at fault where one is known, for example
/// `tokenizer.json: pre_tokenizer.pretokenizers[1].type "Foo" is not supported (supported: ...)`.
public struct TokenizerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The human-readable message.
    public let message: String

    /// Creates an error with the given message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
