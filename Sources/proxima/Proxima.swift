import ArgumentParser
import Foundation
import LanguageModels
import Torch
import ReinforcementLearning
import Tracking
import Training

@main
struct Proxima: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxima",
        abstract: "Policy optimization in Swift on libtorch: train, evaluate, render and compare reinforcement-learning policies; load, tokenize and generate with Hugging Face language models.",
        version: "proxima \(proximaVersion) (libtorch \(LibTorch.version))",
        subcommands: [Train.self, Evaluate.self, Render.self, Plot.self, Runs.self, Generate.self, Tokenize.self, ModelCommand.self, Align.self, Judge.self, DataCommand.self, Bench.self, Demo.self, Info.self, Diagnose.self]
    )

    /// glibc returns freed blocks above 128 KiB (and the heap's free top) to the kernel at once, so every training
    /// step that frees and reallocates its activations pays for fresh zeroed pages (7–8% of a DPO step in page faults,
    /// measured with perf). Keeping up to 1 GiB of freed memory in the process makes those pages reused instead.
    /// Since the caching allocator (installed next) takes every tensor block of 256 KiB or more, this governs the
    /// smaller ones and everything else that calls malloc.
    static func keepFreedMemory() {
        #if os(Linux)
        _ = glibcMallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD: blocks up to 32 MiB come from the heap
        _ = glibcMallopt(-1, 1 << 30)   // M_TRIM_THRESHOLD: keep up to 1 GiB of free heap top
        _ = glibcMallopt(-2, 64 << 20)  // M_TOP_PAD: grow the heap 64 MiB at a time
        #endif
    }

    /// `PROXIMA_PLAIN_PATHS=1` in the environment switches the language models' fast paths off (the scored-position
    /// pass, the frozen output layer's precomputed gradient, the fused LoRA projection, the checkpoint recomputation
    /// without the last projection, the GELU that keeps its derivative): the same results to rounding,
    /// computed the plain way, for comparing speed (`proxima bench sft --speed --plain`) or ruling a fast path out.
    static func usePlainPathsIfAsked() {
        guard let value = ProcessInfo.processInfo.environment["PROXIMA_PLAIN_PATHS"], !value.isEmpty, value != "0" else { return }
        ScoredPositionPass.isEnabled = false
        FrozenOutputGradient.isEnabled = false
        LoRAFusedUpdate.isEnabled = false
        CheckpointRecomputation.skipsLastProjection = false
        FusedGELU.isEnabled = false
    }

    /// Bad input — unknown flags or values, invalid settings, unreadable files — ends with a one-line error and exit
    /// code 2.
    static func main() {
        CrashReport.installShortTraces()
        keepFreedMemory()
        // Large blocks (activations) are reused by size class instead of fragmenting glibc's heap: a LoRA step on a
        // 135M model held ~150 MB live but ~630 MB of heap before (docs/benchmarks.md).
        LibTorch.useCachingAllocator()
        usePlainPathsIfAsked()
        do {
            var command = try parseAsRoot(valueOptionalFlags(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let error as any ProximaError {
            fail(error.description)
        } catch let error as NSError where [NSCocoaErrorDomain, NSPOSIXErrorDomain].contains(error.domain) {
            // A file-system failure that no layer turned into its own error: the path and the reason in words.
            let path = (error.userInfo[NSFilePathErrorKey] as? String) ?? (error.userInfo[NSURLErrorKey] as? URL)?.path
            fail((path.map { $0 + ": " } ?? "") + describe(error))
        } catch {
            if exitCode(for: error) == .validationFailure {
                fail(message(for: error).trimmingCharacters(in: .whitespacesAndNewlines))
            }
            exit(withError: error)
        }
    }

    /// TRL's `--resume-from-checkpoint` takes an optional value; given bare (last, or before another option) it
    /// means the output directory's checkpoint, written here as the value "true".
    static func valueOptionalFlags(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for (i, argument) in arguments.enumerated() {
            result.append(argument)
            if argument == "--resume-from-checkpoint", i + 1 == arguments.count || arguments[i + 1].hasPrefix("--") {
                result.append("true")
            }
        }
        return result
    }

    /// `proxima: error: <message>` on standard error, exit code 2. The message is kept to one line: control
    /// characters (newlines in echoed input, a parser's multi-line context) are written as escapes.
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("proxima: error: \(oneLine(message))\n".utf8))
        Foundation.exit(2)
    }

    static func oneLine(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}

/// Tracking has no dependency on Torch, where `ProximaError` lives; its one error type is reported the same way.
extension TrackingError: ProximaError {}

#if os(Linux)
/// glibc's `mallopt` (not exported by the Swift overlay); its constants are those of <malloc.h>.
@_silgen_name("mallopt") func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
