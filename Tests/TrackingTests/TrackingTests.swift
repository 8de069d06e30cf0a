import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import Tracking

@Suite("TensorBoard record framing")
struct RecordFramingTests {
    @Test("CRC32C matches the standard check values")
    func crc() {
        #expect(CRC32C.checksum(Data("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Data(repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum(Data(repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Data((0..<32).map { UInt8($0) })) == 0x46DD_794E)
        // Masking rotates right by 15 and adds a constant.
        let crc = CRC32C.checksum(Data("a".utf8))
        #expect(CRC32C.masked(Data("a".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
    }

    @Test("records frame and unframe, and a corrupted byte is detected")
    func framing() throws {
        let payloads = [Data("hello".utf8), Data(), Data(repeating: 7, count: 300)]
        var file = Data()
        for p in payloads { file.append(TFRecord.frame(p)) }
        #expect(try TFRecord.records(file) == payloads)
        file[20] ^= 0x01
        #expect(throws: TrackingError.self) { try TFRecord.records(file) }
        #expect(throws: TrackingError.self) { try TFRecord.records(Data(file.prefix(10))) }
    }

    @Test("an event file holds a version event then one event per logged step")
    func eventFile() throws {
        let dir = try temporaryDirectory()
        let writer = try TensorBoardWriter(directory: dir)
        try writer.add(step: 7, wallTime: 1.5, scalars: ["train/loss": 0.25])
        let records = try TFRecord.records(Data(contentsOf: writer.url))
        #expect(records.count == 2)
        #expect(String(decoding: records[0], as: UTF8.self).contains("brain.Event:2"))
        // wall_time (field 1, double), step (field 2, varint 7), summary (field 5) with tag and float 0.25.
        var expected = Data([0x09]) + withUnsafeBytes(of: 1.5.bitPattern.littleEndian) { Data($0) } + Data([0x10, 0x07])
        let value = Data([0x0A, 10]) + Data("train/loss".utf8) + Data([0x15]) + withUnsafeBytes(of: Float(0.25).bitPattern.littleEndian) { Data($0) }
        let summary = Data([0x0A, UInt8(value.count)]) + value
        expected += Data([0x2A, UInt8(summary.count)]) + summary
        #expect(records[1] == expected)
    }
}

@Suite("Resumed runs in TensorBoard")
struct TensorBoardRestartTests {
    @Test("a resumed logger appends to the run's one event file, cut back to its last whole record, with a SessionLog START")
    func restartEvent() throws {
        let dir = try temporaryDirectory()
        do { _ = try MetricsLogger(directory: dir).log(step: 10, ["x": 1]) }
        let first = try #require(TensorBoardWriter.eventFiles(in: dir).first)
        // A kill tore the last record: half of another record's bytes at the end.
        let whole = try Data(contentsOf: first)
        let handle = try FileHandle(forWritingTo: first)
        try handle.seekToEnd()
        handle.write(TFRecord.frame(Data(repeating: 7, count: 40)).prefix(30))
        try handle.close()
        #expect(throws: TrackingError.self) { try TFRecord.records(Data(contentsOf: first)) }
        do { _ = try MetricsLogger(directory: dir, resumeFromStep: 8) }
        #expect(TensorBoardWriter.eventFiles(in: dir) == [first], "one event file per run")
        let records = try TFRecord.records(Data(contentsOf: first))
        #expect(records.count == 3, "version, the step-10 scalars, the restart")
        #expect(try Data(contentsOf: first).prefix(whole.count) == whole)
        // The restart: step 9 (field 2) and session_log (field 7) holding status START (field 1 = 1).
        #expect(records[2].suffix(6) == Data([0x10, 0x09, 0x3A, 0x02, 0x08, 0x01]))
    }

    @Test("a record whose length field claims more than 2^63 bytes is an error, not a trap")
    func hugeLength() {
        var length = UInt64.max.littleEndian
        var data = Data(bytes: &length, count: 8)
        data.append(contentsOf: withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { Array($0) })
        data.append(Data(repeating: 0, count: 8))
        #expect(throws: TrackingError.self) { try TFRecord.records(data) }
        #expect(TFRecord.wholeRecordsLength(data) == 0)
    }
}

@Suite("Metrics files")
struct MetricsTests {
    @Test("JSONL and CSV hold every record; a resumed run drops later steps and appends")
    func resumeAppend() throws {
        let dir = try temporaryDirectory()
        do {
            let logger = try MetricsLogger(directory: dir, tensorBoard: false)
            for step in [100, 200, 300] { try logger.log(step: step, ["a": Double(step), "b/c": 0.5]) }
        }
        var series = try readMetrics(dir)
        #expect(series["a"]?.map(\.step) == [100, 200, 300])
        // The run died after step 300 but its last checkpoint was at 200: resume from there.
        do {
            let logger = try MetricsLogger(directory: dir, resumeFromStep: 200, tensorBoard: false)
            try logger.log(step: 300, ["a": 301])
            try logger.log(step: 400, ["a": 400, "new": 1])
        }
        series = try readMetrics(dir)
        #expect(series["a"]?.map(\.step) == [100, 200, 300, 400])
        #expect(series["a"]?.map(\.value) == [100, 200, 301, 400])
        #expect(series["b/c"]?.count == 2)
        let csv = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.first == "step,wall_time,name,value")
        #expect(csv.count == 1 + 4 + 1 + 2)
        #expect(csv.filter { $0.hasPrefix("300,") }.count == 1)
        #expect(csv.last?.hasSuffix(",new,1") == true)
    }

    @Test("a half-written last line from a killed run is tolerated")
    func killedRun() throws {
        let dir = try temporaryDirectory()
        do {
            let logger = try MetricsLogger(directory: dir, tensorBoard: false)
            try logger.log(step: 1, ["x": 1])
        }
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("metrics.jsonl"))
        try handle.seekToEnd()
        handle.write(Data("{\"step\":2,\"x\":".utf8))
        try handle.close()
        #expect(try readMetrics(dir)["x"]?.count == 1)
        _ = try MetricsLogger(directory: dir, resumeFromStep: 5, tensorBoard: false)
        #expect(try readMetrics(dir)["x"]?.count == 1)
    }

    @Test("progress lines show steps, rate, ETA and metrics")
    func progressLine() {
        let line = ProgressReporter.line(label: "ppo CartPole-v1", step: 5000, total: 10000, elapsed: 2, metrics: [("return", 123.456)], bar: true)
        #expect(line.contains("5000/10000 (50%)"))
        #expect(line.contains("2500 steps/s"))
        #expect(line.contains("ETA 2s"))
        #expect(line.contains("return 123.5"))
        #expect(line.contains("[████████████············]"))
        #expect(ProgressReporter.formatDuration(3725) == "1h02m")
    }
}

@Suite("Plots")
struct PlotTests {
    func plot() -> LinePlot {
        var runs: [[(x: Double, y: Double)]] = []
        for seed in 0..<3 {
            var run: [(x: Double, y: Double)] = []
            for i in 0...20 { run.append((x: Double(i * 1000), y: Double(i * i + seed * 10))) }
            runs.append(run)
        }
        let mean = PlotSeries.aggregate(name: "ppo", runs: runs)
        let single = PlotSeries(name: "a2c", points: PlotSeries.smoothed(runs[0].map { ($0.x, $0.y / 2) }, window: 3))
        return LinePlot(title: "CartPole-v1 <episode return>", xLabel: "environment steps", yLabel: "return", series: [mean, single],
                        reference: (475, "solved"))
    }

    @Test("smoothing and aggregation compute moving means and mean ± std")
    func statistics() {
        let s = PlotSeries.smoothed([(0, 1), (1, 3), (2, 5), (3, 7)], window: 2)
        #expect(s.map(\.y) == [1, 2, 4, 6])
        let a = PlotSeries.aggregate(name: "r", runs: [[(0, 0), (10, 10)], [(0, 2), (5, 4), (10, 12)]])
        #expect(a.points.map(\.y) == [1, 11])
        #expect(a.band.map(\.high) == [2, 12])
        #expect(LinePlot.niceScale(0, 97).2 == [0, 20, 40, 60, 80, 100])
    }

    @Test("the SVG is well-formed, escapes text and holds lines, band, legend and reference")
    func svgStructure() {
        let svg = plot().svg()
        #expect(XMLParser(data: Data(svg.utf8)).parse())
        #expect(svg.contains("&lt;episode return&gt;"))
        #expect(svg.components(separatedBy: "<polyline").count == 3)
        #expect(svg.contains("<polygon"))
        #expect(svg.contains("mean ± std, 3 runs"))
        #expect(svg.contains("solved"))
    }

    @Test("rsvg-convert renders the plot to a non-blank PNG")
    func rendersWithRsvg() throws {
        guard let tool = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("rsvg-convert is missing in CI (.ci/run installs librsvg2-bin)") }
            return
        }
        let dir = try temporaryDirectory()
        let svgURL = dir.appendingPathComponent("plot.svg"), pngURL = dir.appendingPathComponent("plot.png")
        try plot().svg().write(to: svgURL, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = [svgURL.path, "-o", pngURL.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let png = try Data(contentsOf: pngURL)
        #expect(png.count > 5000)
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        // Width and height from the IHDR chunk.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 720 && height == 440)
        // Compressed size well above that of a blank image of the same size shows drawn content.
        let blank = dir.appendingPathComponent("blank.svg")
        try ##"<svg xmlns="http://www.w3.org/2000/svg" width="720" height="440"><rect width="100%" height="100%" fill="#fff"/></svg>"##.write(to: blank, atomically: true, encoding: .utf8)
        let p2 = Process()
        p2.executableURL = URL(fileURLWithPath: tool)
        p2.arguments = [blank.path, "-o", dir.appendingPathComponent("blank.png").path]
        try p2.run(); p2.waitUntilExit()
        let blankSize = try Data(contentsOf: dir.appendingPathComponent("blank.png")).count
        #expect(png.count > 5 * blankSize)
    }
}

@Suite("Metric names in JSON")
struct JSONStringTests {
    @Test("names with quotes, backslashes, control and non-ASCII characters read back unchanged")
    func roundTrip() throws {
        for name in ["train/policy_loss", "a\"b", "back\\slash", "tab\there\nnewline\r", "\u{01}\u{1f}", "ünï/cödé ✓"] {
            let data = Data(("[" + jsonString(name) + "]").utf8)
            let parsed = try #require(try JSONSerialization.jsonObject(with: data) as? [String])
            #expect(parsed == [name])
        }
    }
}
