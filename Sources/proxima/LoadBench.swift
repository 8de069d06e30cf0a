import ArgumentParser
import Foundation
import NeuralNetworks
import Torch

/// `proxima bench load`: the memory a checkpoint load costs. Writes a float32 safetensors file of `--megabytes`
/// (and a bfloat16 copy), then measures the growth of the process's peak resident memory (VmHWM, reset through
/// /proc/self/clear_refs before each scenario) while loading it into a model built without initialisation — the
/// adopting path — and, for comparison, through `SafeTensors.read` + `load(stateDict:)` into an initialised model.
struct LoadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Peak memory of loading a safetensors checkpoint (adopted, converted from bfloat16, and copied)."
    )

    @Option(help: "Size of the float32 checkpoint in MiB (4 MiB per tensor).") var megabytes: Int = 200

    /// Layers of 1024 × 1024 weights, the shape of the file's tensors.
    final class Stack: Module {
        @Key var layers: [Linear]
        init(count: Int, dtype: DType) {
            layers = (0..<count).map { _ in Linear(inputSize: 1024, outputSize: 1024, bias: false, dtype: dtype) }
        }
    }

    func validate() throws {
        guard megabytes >= 4 else { throw ValidationError("--megabytes must be at least 4, got \(megabytes)") }
    }

    func run() throws {
        let count = megabytes / 4
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("proxima-bench-load-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let f32 = directory.appendingPathComponent("f32.safetensors")
        let bf16 = directory.appendingPathComponent("bf16.safetensors")
        try Self.writeCheckpoint(to: f32, count: count, dtype: .float32)
        try Self.writeCheckpoint(to: bf16, count: count, dtype: .bfloat16)
        let modelBytes = Double(count * 1024 * 1024 * 4)

        func measure(_ label: String, _ body: () throws -> Void) throws -> (peak: Double, seconds: Double) {
            let baseline = MemoryStatus.residentBytes()
            MemoryStatus.resetPeak()
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let growth = Double(MemoryStatus.peakBytes() - baseline)
            print("\(label): peak resident growth \(String(format: "%.0f", growth / 1_048_576)) MiB = \(String(format: "%.2f", growth / modelBytes))× the float32 weights, \(String(format: "%.2f", seconds)) s")
            return (growth / modelBytes, seconds)
        }
        /// Reads every weight, so that the mapped pages are resident when the peak is taken.
        func touch(_ model: Stack) { for p in model.parameters() { _ = p.sum().item(Double.self) } }

        print("checkpoint: \(count) float32 tensors of 1024×1024 (\(count * 4) MiB), and the same in bfloat16")
        let adopted = try measure("adopt float32 → float32 model, then read every weight") {
            let model = withoutInitialization { Stack(count: count, dtype: .float32) }
            let report = try model.load(safetensors: f32, mapping: { $0 })
            precondition(report.adopted.count == count, "expected every tensor adopted")
            touch(model)
        }
        let converted = try measure("convert bfloat16 file → float32 model, then read every weight") {
            let model = withoutInitialization { Stack(count: count, dtype: .float32) }
            let report = try model.load(safetensors: bf16)
            precondition(report.converted.count == count, "expected every tensor converted")
            touch(model)
        }
        let copied = try measure("for comparison: SafeTensors.read + load(stateDict:) into an initialised model") {
            let model = Stack(count: count, dtype: .float32)
            try model.load(stateDict: try SafeTensors.read(f32).tensors)
            touch(model)
        }
        print("target: adopting a float32 checkpoint grows peak memory by at most 1.3× its size — \(adopted.peak <= 1.3 ? "met" : "missed")")
        printJSON([
            "megabytes": count * 4,
            "adopt_peak_ratio": adopted.peak,
            "adopt_seconds": adopted.seconds,
            "convert_bf16_peak_ratio": converted.peak,
            "convert_bf16_seconds": converted.seconds,
            "read_copy_peak_ratio": copied.peak,
            "read_copy_seconds": copied.seconds,
        ])
    }

    /// Writes the tensors one at a time, so that writing needs one tensor's memory, not the file's.
    static func writeCheckpoint(to url: URL, count: Int, dtype: DType) throws {
        let tensorBytes = 1024 * 1024 * dtype.byteSize
        var header: [String: Any] = [:]
        for i in 0..<count {
            header["layers.\(i).weight"] = ["dtype": SafeTensors.formatName(of: dtype), "shape": [1024, 1024],
                                             "data_offsets": [i * tensorBytes, (i + 1) * tensorBytes]] as [String: Any]
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw ValidationError("cannot create \(url.path)") }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var length = UInt64(headerBytes.count).littleEndian
        try handle.write(contentsOf: Data(bytes: &length, count: 8) + headerBytes)
        let generator = Generator(seed: 0)
        for _ in 0..<count {
            try handle.write(contentsOf: Tensor.randn([1024, 1024], generator: generator).to(dtype: dtype).rawBytes())
        }
    }
}

/// The process's resident memory from /proc/self/status (Linux).
enum MemoryStatus {
    private static func field(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }

    static func residentBytes() -> Int { field("VmRSS") }
    static func peakBytes() -> Int { field("VmHWM") }

    /// Sets the peak to the current resident size (writing 5 to /proc/self/clear_refs).
    static func resetPeak() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }
}
