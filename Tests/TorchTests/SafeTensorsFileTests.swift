import Foundation
import Testing
@testable import Torch
import TestSupport

/// A file of raw bytes: the 8-byte length, `header` padded with spaces to `paddedTo`, then `data`.
private func rawFile(header: String, data: [UInt8], paddedTo multiple: Int = 1, in dir: URL) throws -> URL {
    var headerBytes = Array(header.utf8)
    while (8 + headerBytes.count) % multiple != 0 { headerBytes.append(0x20) }
    var file = Data()
    var length = UInt64(headerBytes.count).littleEndian
    file.append(Data(bytes: &length, count: 8))
    file.append(contentsOf: headerBytes)
    file.append(contentsOf: data)
    let url = dir.appendingPathComponent("raw-\(UUID().uuidString).safetensors")
    try file.write(to: url)
    return url
}

@Suite("safetensors mapping")
struct SafeTensorsFileTests {
    @Test("tensors of a mapped file view its bytes: no copy, the same address each time")
    func adoptionMakesNoCopy() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("w.safetensors")
        let weight = Tensor.randn([64, 32], dtype: .float64, generator: Generator(seed: 1))
        try SafeTensors.write(["w": weight, "b": Tensor.ones([32], dtype: .float64)], to: url)
        let file = try SafeTensorsFile(url)
        let first = try file.tensor("w")
        let (second, method) = try file.load("w", as: .float64)
        #expect(method == .adopted)
        #expect(file.contains(first) && file.contains(second))
        #expect(first.dataAddress == second.dataAddress)
        #expect(first.equal(weight))
        // A copy (what SafeTensors.read returns) lies outside the mapping.
        #expect(!file.contains(try SafeTensors.read(url).tensors["w"]!))
        #expect(!file.contains(weight))
    }

    @Test("a dtype change is one conversion straight from the mapping, with PyTorch's rounding")
    func conversion() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("bf16.safetensors")
        let source = Tensor.randn([16, 8], generator: Generator(seed: 2)).to(dtype: .bfloat16)
        try SafeTensors.write(["w": source], to: url)
        let file = try SafeTensorsFile(url)
        let (converted, method) = try file.load("w", as: .float64)
        #expect(method == .converted)
        #expect(converted.dtype == .float64)
        #expect(!file.contains(converted))
        #expect(converted.equal(source.to(dtype: .float64)))
        // Discarding the converted tensor's pages does not disturb a later view of the same bytes.
        #expect(try file.tensor("w").equal(source))
    }

    @Test("adopted tensors keep the mapping alive, and writes into them never reach the file")
    func lifetimeAndPrivacy() throws {
        let dir = try temporaryDirectory()
        let url = dir.appendingPathComponent("w.safetensors")
        let original = Tensor.arange(0.0, 1024.0, step: 1.0, dtype: .float32).reshaped([32, 32])
        try SafeTensors.write(["w": original], to: url)
        var file: SafeTensorsFile? = try SafeTensorsFile(url)
        var views: [Tensor] = [try file!.tensor("w"), try file!.tensor("w")]
        #expect(file!.mappingUseCount == 3)
        views.removeLast()
        #expect(file!.mappingUseCount == 2)
        file = nil
        let view = views[0]
        #expect(view.equal(original), "the mapping outlives the file object")
        view.fill_(7.0)
        #expect(view.floats.allSatisfy { $0 == 7 })
        #expect(try SafeTensors.read(url).tensors["w"]!.equal(original), "the file is unchanged")
        #expect(try SafeTensorsFile(url).tensor("w").equal(original), "a new mapping sees the file, not the writes")
    }

    @Test("a tensor misaligned for its dtype is copied once, not viewed")
    func misaligned() throws {
        let dir = try temporaryDirectory()
        let floats: [Float] = [1.5, -2.25]
        var data: [UInt8] = [9, 8]
        floats.withUnsafeBytes { data.append(contentsOf: $0) }
        let header = #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "f": {"dtype": "F32", "shape": [2], "data_offsets": [2, 10]}}"#
        let url = try rawFile(header: header, data: data, paddedTo: 8, in: dir)
        let file = try SafeTensorsFile(url)
        let (f, method) = try file.load("f", as: .float32)
        #expect(method == .copied)
        #expect(!file.contains(f))
        #expect(f.floats == floats)
        let (wide, wideMethod) = try file.load("f", as: .float64)
        #expect(wideMethod == .converted && wide.doubles == [1.5, -2.25])
        let (bytes, byteMethod) = try file.load("a", as: .uint8)
        #expect(byteMethod == .adopted && bytes.scalars(as: UInt8.self) == [9, 8])
    }

    @Test("headers are held to the reference rules; each error names the file and the tensor", arguments: [
        (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, 8, "'w' appears more than once"),
        (#"{"w": {"dtype": "F32", "dtype": "F64", "shape": [1], "data_offsets": [0, 4]}}"#, 4, "field 'dtype' more than once"),
        (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, 8, "gap"),
        (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, 12, "trailing bytes"),
        (#"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 4]}}"#, 4, "overflows"),
        (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 100000000000000000000000]}}"#, 4, "malformed data_offsets"),
        (#"{"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}"#, 4, "malformed shape"),
        (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.5]}}"#, 4, "malformed data_offsets"),
        (#"{"__metadata__": {"a": "1", "a": "2"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, 4, "'a' appears more than once"),
        (#"{"__metadata__": {"a": 1}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, 4, "not a string"),
        (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}} x"#, 4, "not valid JSON"),
        (#"{"w": {"dtype": "F32", "shape": [01], "data_offsets": [0, 4]}}"#, 4, "not valid JSON"),
        (#"{"w\u": {}}"#, 0, "not valid JSON"),
    ])
    func strictHeaders(header: String, dataBytes: Int, phrase: String) throws {
        let dir = try temporaryDirectory()
        let url = try rawFile(header: header, data: Array(repeating: 0, count: dataBytes), in: dir)
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(url) }
        #expect(error?.file == url.path)
        #expect(error?.reason.contains(phrase) == true, "expected '\(phrase)' in: \(error?.reason ?? "no error")")
    }

    @Test("names with escapes and non-ASCII characters decode exactly")
    func escapedNames() throws {
        let dir = try temporaryDirectory()
        let header = #"{"caf\u00e9.\ud83d\ude00\"q\"": {"dtype": "I8", "shape": [], "data_offsets": [0, 1]}, "plain": {"dtype": "I8", "shape": [1], "data_offsets": [1, 2]}}"#
        let url = try rawFile(header: header, data: [5, 6], in: dir)
        let file = try SafeTensorsFile(url)
        #expect(file.names == ["café.😀\"q\"", "plain"])
        #expect(try file.tensor("café.😀\"q\"").item(Int.self) == 5)
        // And what the writer produces reads back through the same parser.
        let written = dir.appendingPathComponent("names.safetensors")
        try SafeTensors.write(["ünï/cödé \\ \"x\"": Tensor.ones([1])], metadata: ["k\n": "v\t"], to: written)
        let back = try SafeTensorsFile(written)
        #expect(back.names == ["ünï/cödé \\ \"x\""])
        #expect(back.metadata == ["k\n": "v\t"])
    }

    @Test("a missing file, a directory and an unknown tensor name are errors naming the file")
    func unreadable() throws {
        let dir = try temporaryDirectory()
        let missing = dir.appendingPathComponent("none.safetensors")
        let error = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(missing) }
        #expect(error?.description == "\(missing.path): cannot open: No such file or directory")
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(dir) }
        let url = dir.appendingPathComponent("w.safetensors")
        try SafeTensors.write(["w": Tensor.ones([1])], to: url)
        let unknown = #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(url).tensor("v") }
        #expect(unknown?.description == "\(url.path): no tensor named 'v'")
    }
}
