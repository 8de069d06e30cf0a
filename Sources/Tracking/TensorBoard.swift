import Foundation

/// Writes TensorBoard event files (`events.out.tfevents.<time>.<host>`): TFRecord framing (length, masked CRC32C of
/// the length, payload, masked CRC32C of the payload) around `Event` protocol buffers holding scalar summaries,
/// encoded by hand (only the few fields needed). A run has one event file: a continued run appends to it.
public final class TensorBoardWriter {
    public let url: URL
    let handle: FileHandle

    /// - Parameter continuing: append to the directory's existing event file (first cut back to its last whole
    ///   record: a kill can tear one) instead of starting a new file.
    public init(directory: URL, continuing: Bool = false) throws {
        let existing = continuing ? Self.eventFiles(in: directory).last : nil
        if let existing {
            url = existing
            let data = (try? Data(contentsOf: existing)) ?? Data()
            handle = try FileHandle(forWritingTo: existing)
            try handle.truncate(atOffset: UInt64(TFRecord.wholeRecordsLength(data)))
            try handle.seekToEnd()
            return
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        url = directory.appendingPathComponent("events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).proxima")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw TrackingError("\(url.path): cannot create the TensorBoard event file")
        }
        handle = try FileHandle(forWritingTo: url)
        try write(event(wallTime: Date().timeIntervalSince1970, step: 0, body: Protobuf.string(field: 3, "brain.Event:2")))
    }

    /// Proxima's event files in `directory`, oldest first.
    public static func eventFiles(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("events.out.tfevents.") && $0.hasSuffix(".proxima") }.sorted()
            .map { directory.appendingPathComponent($0) }
    }

    deinit { try? handle.close() }

    /// Tells TensorBoard that the run restarted at `step` (a resumed run): a `SessionLog` START event, on which
    /// TensorBoard drops the points at or after `step` that an earlier, killed process had logged.
    public func markRestart(step: Int) throws {
        let sessionLog = Protobuf.varintField(field: 1, 1)  // status = START
        try write(event(wallTime: Date().timeIntervalSince1970, step: step, body: Protobuf.bytes(field: 7, sessionLog)))
    }

    /// One event per call holding all scalars of that step.
    public func add(step: Int, wallTime: Double, scalars: [String: Double]) throws {
        var summary = Data()
        for (tag, value) in scalars.sorted(by: { $0.key < $1.key }) where value.isFinite {
            var v = Protobuf.string(field: 1, tag)
            v.append(Protobuf.float(field: 2, Float(value)))
            summary.append(Protobuf.bytes(field: 1, v))
        }
        try write(event(wallTime: wallTime, step: step, body: Protobuf.bytes(field: 5, summary)))
    }

    func event(wallTime: Double, step: Int, body: Data) -> Data {
        var e = Protobuf.double(field: 1, wallTime)
        e.append(Protobuf.varintField(field: 2, UInt64(bitPattern: Int64(step))))
        e.append(body)
        return e
    }

    /// Appends one record; a failed write (a full disk) throws a `TrackingError` naming the file.
    func write(_ payload: Data) throws { try append(TFRecord.frame(payload), to: handle, url) }
}

/// TFRecord framing.
public enum TFRecord {
    public static func frame(_ payload: Data) -> Data {
        var length = UInt64(payload.count).littleEndian
        let lengthBytes = Data(bytes: &length, count: 8)
        var out = lengthBytes
        out.append(littleEndian(CRC32C.masked(lengthBytes)))
        out.append(payload)
        out.append(littleEndian(CRC32C.masked(payload)))
        return out
    }

    /// The byte length of the leading run of whole, intact records (what survives a torn write at the end).
    public static func wholeRecordsLength(_ data: Data) -> Int {
        var offset = data.startIndex
        while data.endIndex - offset >= 12 {
            let lengthBytes = data[offset..<(offset + 8)]
            let length = lengthBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            let lengthCRC = data[(offset + 8)..<(offset + 12)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard lengthCRC == CRC32C.masked(Data(lengthBytes)), length <= UInt64(data.endIndex - offset - 16) else { break }
            let start = offset + 12, end = start + Int(length)
            let crc = data[end..<(end + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard crc == CRC32C.masked(Data(data[start..<end])) else { break }
            offset = end + 4
        }
        return offset - data.startIndex
    }

    /// Splits a file's bytes into payloads, checking both CRCs.
    public static func records(_ data: Data) throws -> [Data] {
        var records: [Data] = []
        var offset = data.startIndex
        while offset < data.endIndex {
            guard data.endIndex - offset >= 12 else { throw TrackingError("truncated record header at byte \(offset)") }
            let lengthBytes = data[offset..<(offset + 8)]
            let rawLength = lengthBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            let lengthCRC = data[(offset + 8)..<(offset + 12)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard lengthCRC == CRC32C.masked(Data(lengthBytes)) else { throw TrackingError("bad length CRC at byte \(offset)") }
            let start = offset + 12
            guard rawLength <= UInt64(data.endIndex - start), data.endIndex - start - Int(rawLength) >= 4 else {
                throw TrackingError("truncated record at byte \(offset)")
            }
            let length = Int(rawLength)
            let payload = Data(data[start..<(start + length)])
            let crc = data[(start + length)..<(start + length + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard crc == CRC32C.masked(payload) else { throw TrackingError("bad payload CRC at byte \(offset)") }
            records.append(payload)
            offset = start + length + 4
        }
        return records
    }

    static func littleEndian(_ x: UInt32) -> Data {
        var v = x.littleEndian
        return Data(bytes: &v, count: 4)
    }
}

/// CRC-32C (Castagnoli), as TFRecord uses it, and its masked form.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    public static func masked(_ data: Data) -> UInt32 {
        let crc = checksum(data)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// The protocol-buffer wire format pieces an Event needs.
enum Protobuf {
    static func varint(_ value: UInt64) -> Data {
        var v = value
        var out = Data()
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }

    static func key(_ field: Int, _ wireType: Int) -> Data { varint(UInt64(field << 3 | wireType)) }
    static func varintField(field: Int, _ value: UInt64) -> Data { key(field, 0) + varint(value) }
    static func double(field: Int, _ value: Double) -> Data {
        var bits = value.bitPattern.littleEndian
        return key(field, 1) + Data(bytes: &bits, count: 8)
    }
    static func float(field: Int, _ value: Float) -> Data {
        var bits = value.bitPattern.littleEndian
        return key(field, 5) + Data(bytes: &bits, count: 4)
    }
    static func bytes(field: Int, _ value: Data) -> Data { key(field, 2) + varint(UInt64(value.count)) + value }
    static func string(field: Int, _ value: String) -> Data { bytes(field: field, Data(value.utf8)) }
}
