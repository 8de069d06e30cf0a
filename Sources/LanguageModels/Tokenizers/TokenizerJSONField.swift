/// A JSON value together with where it sits (`file` and dotted `path`), so that every error names the field.
struct TokenizerJSONField {
    let value: JSONValue
    let file: String
    let path: String

    init(_ value: JSONValue, file: String, path: String = "") {
        self.value = value
        self.file = file
        self.path = path
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError("\(file): \(path.isEmpty ? "" : path + " ")\(message)")
    }

    func childPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The member `key` (nil when absent).
    func optional(_ key: String) -> TokenizerJSONField? {
        guard let member = value[key] else { return nil }
        return TokenizerJSONField(member, file: file, path: childPath(key))
    }

    /// The member `key`, which must exist and be non-null.
    func required(_ key: String) throws(TokenizerError) -> TokenizerJSONField {
        guard case .object = value else { throw error("must be an object (found \(value.kindName))") }
        guard let member = value[key], !member.isNull else {
            throw TokenizerError("\(file): \(childPath(key)) is missing")
        }
        return TokenizerJSONField(member, file: file, path: childPath(key))
    }

    /// The member `key` unless it is absent or null.
    func nonNull(_ key: String) -> TokenizerJSONField? {
        guard let member = optional(key), !member.value.isNull else { return nil }
        return member
    }

    func string() throws(TokenizerError) -> String {
        guard let s = value.stringValue else { throw error("must be a string (found \(value.kindName))") }
        return s
    }

    func bool() throws(TokenizerError) -> Bool {
        guard let b = value.boolValue else { throw error("must be a boolean (found \(value.kindName))") }
        return b
    }

    func int() throws(TokenizerError) -> Int {
        guard case .number(let n) = value else { throw error("must be an integer (found \(value.kindName))") }
        guard let i = n.intValue else { throw error("must be an integer (found \(n.literal))") }
        return i
    }

    func array() throws(TokenizerError) -> [TokenizerJSONField] {
        guard let a = value.arrayValue else { throw error("must be an array (found \(value.kindName))") }
        return a.enumerated().map { TokenizerJSONField($0.element, file: file, path: "\(path)[\($0.offset)]") }
    }

    func members() throws(TokenizerError) -> [(key: String, field: TokenizerJSONField)] {
        guard let o = value.objectValue else { throw error("must be an object (found \(value.kindName))") }
        return o.map { ($0.key, TokenizerJSONField($0.value, file: file, path: childPath($0.key))) }
    }

    /// `key` as a string, or `defaultValue` when absent or null.
    func string(_ key: String, default defaultValue: String? = nil) throws(TokenizerError) -> String {
        if let f = nonNull(key) { return try f.string() }
        if let defaultValue { return defaultValue }
        throw TokenizerError("\(file): \(childPath(key)) is missing")
    }

    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        try nonNull(key)?.string()
    }

    func bool(_ key: String, default defaultValue: Bool) throws(TokenizerError) -> Bool {
        try nonNull(key)?.bool() ?? defaultValue
    }

    func int(_ key: String, default defaultValue: Int) throws(TokenizerError) -> Int {
        try nonNull(key)?.int() ?? defaultValue
    }

    /// The `type` member, checked against the supported names.
    func type(supported: [String]) throws(TokenizerError) -> String {
        let t = try required("type")
        let name = try t.string()
        guard supported.contains(name) else {
            throw t.error("\"\(name)\" is not supported (supported: \(supported.joined(separator: ", ")))")
        }
        return name
    }

    /// A single Unicode scalar given as a one-character string.
    func singleScalar(_ key: String, default defaultValue: Unicode.Scalar? = nil) throws(TokenizerError) -> Unicode.Scalar {
        guard let f = nonNull(key) else {
            if let defaultValue { return defaultValue }
            throw TokenizerError("\(file): \(childPath(key)) is missing")
        }
        let s = try f.string()
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else {
            throw f.error("must be a single character (found \"\(s)\")")
        }
        return c
    }

    /// A `{"String": …}` / `{"Regex": …}` pattern as used by Split and Replace.
    func pattern() throws(TokenizerError) -> PatternScanner {
        if let s = nonNull("String") { return PatternScanner(literal: try s.string()) }
        if let r = nonNull("Regex") {
            do { return try PatternScanner(regex: try r.string()) } catch { throw r.error("is invalid: \(error.message)") }
        }
        throw error("must be {\"String\": …} or {\"Regex\": …}")
    }
}
