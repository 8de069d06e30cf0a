import Foundation
import Torch

/// A problem with a model directory: a missing or malformed file, a key with the wrong type, an unsupported
/// architecture, a tensor that does not fit. The message names the file and, where there is one, the key.
public struct ModelLoadingError: ProximaError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One JSON object read from a file (`config.json`, `generation_config.json`, `tokenizer_config.json`), with typed
/// accessors whose errors name the file and the key. Nesting is bounded before parsing, so a hostile file cannot
/// exhaust the stack.
public struct ConfigurationFile {
    /// The file's path, as errors name it.
    public let path: String
    /// The parsed object.
    public let values: [String: Any]

    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 64
    /// The largest file read (configuration files are a few kilobytes).
    public static let maximumBytes = 16 << 20

    /// Reads and parses `url`; throws `ModelLoadingError` naming the file when it is missing, too large, not JSON,
    /// nested too deeply or not an object.
    public init(_ url: URL) throws {
        let data: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            if (attributes[.type] as? FileAttributeType) == .typeDirectory {
                throw ModelLoadingError("\(url.path): is a directory, not a JSON file")
            }
            if let size = attributes[.size] as? Int, size > Self.maximumBytes {
                throw ModelLoadingError("\(url.path): \(size) bytes is larger than the \(Self.maximumBytes >> 20) MB a configuration file may have")
            }
            data = try Data(contentsOf: url)
        } catch let error as ModelLoadingError {
            throw error
        } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw ModelLoadingError("\(url.path): \(exists ? "cannot be read" : "no such file")")
        }
        try self.init(data: data, path: url.path)
    }

    /// Parses `data` as the contents of the file at `path`.
    public init(data: Data, path: String) throws {
        self.path = path
        try Self.checkDepth(data, path: path)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ModelLoadingError("\(path): not valid JSON (\(Self.reason(error)))")
        }
        guard let dictionary = object as? [String: Any] else { throw ModelLoadingError("\(path): expected a JSON object at the top level") }
        values = dictionary
    }

    private static func reason(_ error: Error) -> String {
        let info = (error as NSError).userInfo
        return (info[NSDebugDescriptionErrorKey] as? String) ?? "\(error.localizedDescription)"
    }

    /// Refuses nesting deeper than `maximumDepth` (brackets outside strings), naming the line.
    static func checkDepth(_ data: Data, path: String) throws {
        var depth = 0, line = 1, inString = false, escaped = false
        for byte in data {
            if byte == 0x0A { line += 1 }
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth > maximumDepth { throw ModelLoadingError("\(path):\(line): nested deeper than \(maximumDepth) levels") }
            case 0x5D, 0x7D: depth -= 1
            default: break
            }
        }
    }

    /// Whether `key` is present with a non-null value.
    public func has(_ key: String) -> Bool { values[key].map { !($0 is NSNull) } ?? false }

    private func failure(_ key: String, _ expectation: String) -> ModelLoadingError {
        ModelLoadingError("\(path): key '\(key)' \(expectation), got \(Self.render(values[key]))")
    }

    /// Whether a parsed JSON value is `true` or `false` (on Linux every NSNumber casts to Bool; the booleans are
    /// the ones whose type code is "c").
    static func isBoolean(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    static func render(_ value: Any?) -> String {
        guard let value else { return "nothing (missing)" }
        if value is NSNull { return "null" }
        if let s = value as? String { return "\"\(s.prefix(80))\"" }
        return String("\(value)".prefix(80))
    }

    /// An integer value (an integral JSON number); nil when missing or null.
    public func optionalInt(_ key: String, in range: ClosedRange<Int> = 0...Int(Int32.max)) throws -> Int? {
        guard has(key) else { return nil }
        guard let number = values[key] as? NSNumber, !Self.isBoolean(values[key]), let value = Self.integer(number) else {
            throw failure(key, "expects an integer")
        }
        guard range.contains(value) else { throw failure(key, "must be from \(range.lowerBound) to \(range.upperBound)") }
        return value
    }

    /// A required integer value.
    public func int(_ key: String, in range: ClosedRange<Int> = 1...Int(Int32.max)) throws -> Int {
        guard let value = try optionalInt(key, in: range) else { throw failure(key, "is required (an integer)") }
        return value
    }

    /// The exact integer a JSON number holds (an integral float such as 1e5 included); nil otherwise.
    static func integer(_ number: NSNumber) -> Int? {
        let double = number.doubleValue
        guard double.isFinite, double.rounded() == double, Swift.abs(double) < 9.2e18 else { return nil }
        let exact = number.int64Value
        return Double(exact) == double ? Int(exact) : Int(double)
    }

    /// A finite number; nil when missing or null.
    public func optionalDouble(_ key: String) throws -> Double? {
        guard has(key) else { return nil }
        guard let number = values[key] as? NSNumber, !Self.isBoolean(values[key]), number.doubleValue.isFinite else {
            throw failure(key, "expects a finite number")
        }
        return number.doubleValue
    }

    /// A string; nil when missing or null.
    public func optionalString(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let string = values[key] as? String else { throw failure(key, "expects a string") }
        return string
    }

    /// A boolean; nil when missing or null.
    public func optionalBool(_ key: String) throws -> Bool? {
        guard has(key) else { return nil }
        guard Self.isBoolean(values[key]), let value = values[key] as? Bool else { throw failure(key, "expects true or false") }
        return value
    }

    /// A nested object as a `ConfigurationFile` whose errors name `key` inside this file; nil when missing or null.
    public func optionalObject(_ key: String) throws -> ConfigurationFile? {
        guard has(key) else { return nil }
        guard let object = values[key] as? [String: Any] else { throw failure(key, "expects an object") }
        return ConfigurationFile(path: "\(path): '\(key)'", values: object)
    }

    /// One integer or a list of integers (`eos_token_id` may be either); empty when missing or null.
    public func intList(_ key: String) throws -> [Int] {
        guard has(key) else { return [] }
        if let number = values[key] as? NSNumber, !Self.isBoolean(values[key]), let value = Self.integer(number), value >= 0 { return [value] }
        guard let list = values[key] as? [Any] else { throw failure(key, "expects an integer or a list of integers") }
        return try list.map { element in
            guard let number = element as? NSNumber, !Self.isBoolean(element), let value = Self.integer(number), value >= 0 else {
                throw failure(key, "expects non-negative integers")
            }
            return value
        }
    }

    init(path: String, values: [String: Any]) {
        self.path = path
        self.values = values
    }
}
