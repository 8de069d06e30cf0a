/// A template that cannot be parsed or rendered: a syntax error, a construct outside the
/// supported subset of Jinja, or a runtime error such as `1 + 'a'` or a missing variable used
/// where a value is required. Always names the place in the template it comes from.
public struct ChatTemplateError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, without the location prefix.
    public let message: String
    /// 1-based line of the construct at fault.
    public let line: Int
    /// 1-based column (in Unicode scalars) of the construct at fault.
    public let column: Int
    /// The template's name, as passed to `ChatTemplate.init(source:name:)`.
    public let templateName: String

    /// Creates an error at a location.
    public init(message: String, line: Int, column: Int, templateName: String) {
        self.message = message
        self.line = line
        self.column = column
        self.templateName = templateName
    }

    /// Reads like `chat_template.jinja:3:15: unknown filter 'foo'`.
    public var description: String { "\(templateName):\(line):\(column): \(message)" }
}

/// Thrown when the template calls `raise_exception(msg)`; `message` is `msg` exactly, as
/// transformers reports it.
public struct ChatTemplateRaised: Error, CustomStringConvertible, Sendable, Equatable {
    /// The message the template passed to `raise_exception`.
    public let message: String
    /// 1-based line of the `raise_exception` call.
    public let line: Int
    /// 1-based column of the `raise_exception` call.
    public let column: Int
    /// The template's name.
    public let templateName: String

    /// Creates the error.
    public init(message: String, line: Int = 0, column: Int = 0, templateName: String = "") {
        self.message = message
        self.line = line
        self.column = column
        self.templateName = templateName
    }

    /// The message, prefixed with where it was raised when known.
    public var description: String {
        line > 0 ? "\(templateName):\(line):\(column): raise_exception: \(message)" : message
    }
}

/// A position in the template source (1-based line and column).
struct TemplateSourceLoc: Sendable, Equatable {
    var line: Int32
    var column: Int32
    init(line: Int, column: Int) {
        self.line = Int32(clamping: line)
        self.column = Int32(clamping: column)
    }
    static let unknown = TemplateSourceLoc(line: 0, column: 0)
}

/// An error raised by a value operation that does not know where in the template it happened;
/// the interpreter attaches the location of the expression it was evaluating.
struct TemplateFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// An error that already carries its location (raised by the lexer, parser or interpreter).
struct TemplateLocatedFailure: Error {
    let message: String
    let loc: TemplateSourceLoc
}
