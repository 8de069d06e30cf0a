import Foundation
import LanguageModels
import Torch

/// A problem with training data, naming the file, the line and the field.
public struct DataError: ProximaError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// "FILE:LINE: field 'NAME': REASON" (the field part left out when nil).
    public init(file: String, line: Int, field: String? = nil, _ reason: String) {
        message = "\(file):\(line): " + (field.map { "field '\($0)': " } ?? "") + reason
    }
}

/// One JSON object per line (JSONL), read whole before anything uses it, so a malformed line fails before training
/// starts. Blank lines are skipped; every other line must be a JSON object.
public struct JSONLines {
    public struct Row {
        /// 1-based line number in the file.
        public let line: Int
        public let value: JSONValue

        /// The object's member `key`, or nil.
        public subscript(key: String) -> JSONValue? { value[key] }
    }

    public let path: String
    public let rows: [Row]

    /// Reads `url`; throws `DataError` naming the line for malformed JSON, a line that is not an object, or an
    /// unreadable file.
    public init(contentsOf url: URL) throws {
        path = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DataError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        var rows: [Row] = []
        var line = 0
        for slice in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            line += 1
            var bytes = Array(slice)
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            let value: JSONValue
            do { value = try JSONValue.parse(bytes, source: "\(url.path):\(line)") } catch {
                throw DataError(file: url.path, line: line, "not valid JSON: \(error.description)")
            }
            guard value.objectValue != nil else {
                throw DataError(file: url.path, line: line, "expected a JSON object, found \(value.kindName)")
            }
            rows.append(Row(line: line, value: value))
        }
        guard !rows.isEmpty else { throw DataError("\(url.path): no rows (the file is empty)") }
        self.rows = rows
    }

    /// The error for `row`'s `field`.
    public func error(_ row: Row, _ field: String?, _ reason: String) -> DataError {
        DataError(file: path, line: row.line, field: field, reason)
    }

    /// `row[field]` as a string; an error naming the line and field when it is missing or not a string.
    public func string(_ row: Row, _ field: String) throws -> String {
        guard let value = row[field] else { throw error(row, field, "missing") }
        guard let text = value.stringValue else { throw error(row, field, "expected a string, found \(value.kindName)") }
        return text
    }
}
