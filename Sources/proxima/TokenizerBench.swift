import ArgumentParser
import Foundation
import LanguageModels

/// `proxima bench tokenizer`: byte-level BPE training and encoding speed on text every Debian system ships, against
/// Hugging Face `tokenizers` (Rust) in the same run.
///
/// 1. The corpus: `--corpus FILE`, or else what `Benchmarks/peers/tokenizer_corpus.sh` builds — the licence texts
///    in /usr/share/common-licenses and the /usr/share/doc/*/copyright files, concatenated whole in sorted order
///    until at least 5,000,000 bytes (the same file on the same system).
/// 2. Training: `BPETrainer` learns a `--vocabulary-size` byte-level BPE (one special token, `<|endoftext|>`) on
///    the whole corpus; the seconds are reported and the result is saved as `tokenizer.json`.
/// 3. Encoding: the corpus is cut after every "\n" (each line keeps it) and every line is encoded on this thread,
///    without special tokens; MB/s is the corpus's UTF-8 bytes over the fastest of three passes. The ids are
///    written as JSON lines (`ids.jsonl`, one array per line).
/// 4. With `--peer`: `Benchmarks/peers/hf_tokenizer.py` loads that `tokenizer.json` into `tokenizers`, encodes the
///    same lines on one thread (best of three) and compares every line's ids with the ones written here. The
///    ratio is Proxima's MB/s over the peer's. When Python cannot run the peer, the command says so and leaves the
///    peer's fields out of the JSON; ids that differ, or a peer that fails, end the command with status 1 after
///    the JSON line.
///
/// The files go to `--out` when given (kept), else to a temporary directory removed at the end.
struct TokenizerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Byte-level BPE training and single-thread encoding MB/s, optionally against HF tokenizers (--peer).",
        discussion: "Target: ≥ 5 MB of Debian licence and copyright text, a 16k-vocabulary BPE trained on it, encoded at ≥ 1× the MB/s of HF tokenizers (Rust, one thread) with identical ids."
    )

    @Option(help: "Text file to train on and encode (default: built by Benchmarks/peers/tokenizer_corpus.sh).")
    var corpus: String?
    @Option(name: .customLong("vocabulary-size"), help: "Vocabulary size to train, special token and 256 bytes included.")
    var vocabularySize = 16000
    @Flag(help: "Also run Benchmarks/peers/hf_tokenizer.py (HF tokenizers, one thread) and compare.")
    var peer = false
    @Option(help: "Keep the corpus, tokenizer.json and ids.jsonl in this directory.")
    var out: String?
    @OptionGroup var threads: ThreadOptions

    static let passes = 3
    static let minimumCorpusBytes = 5_000_000

    func validate() throws {
        guard vocabularySize >= 257 else {
            throw ValidationError("--vocabulary-size must be at least 257 (1 special token + 256 bytes), got \(vocabularySize)")
        }
        if let corpus, !FileManager.default.isReadableFile(atPath: corpus) {
            throw ValidationError("--corpus \(corpus): no readable file there")
        }
    }

    func run() throws {
        threads.apply()
        let files = FileManager.default
        let directory: URL
        if let out {
            directory = URL(fileURLWithPath: out)
        } else {
            directory = files.temporaryDirectory.appendingPathComponent("proxima-bench-tokenizer-\(getpid())")
        }
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if out == nil { try? files.removeItem(at: directory) } }

        // 1. The corpus.
        let corpusURL: URL
        if let corpus {
            corpusURL = URL(fileURLWithPath: corpus)
        } else {
            corpusURL = directory.appendingPathComponent("corpus.txt")
            try Self.buildCorpus(at: corpusURL)
        }
        let corpusData = try Data(contentsOf: corpusURL)
        let lines = Self.lines(of: corpusData)
        print("corpus: \(corpusURL.path), \(corpusData.count) bytes, \(lines.count) lines")
        if corpusData.count < Self.minimumCorpusBytes {
            print("note: the corpus is under the \(Self.minimumCorpusBytes) bytes the target asks for")
        }

        // 2. Training.
        let trainStart = DispatchTime.now().uptimeNanoseconds
        let tokenizer = try BPETrainer(vocabularySize: vocabularySize, minimumFrequency: 2, specialTokens: ["<|endoftext|>"])
            .train(files: [corpusURL])
        let trainSeconds = Double(DispatchTime.now().uptimeNanoseconds - trainStart) / 1e9
        let tokenizerURL = directory.appendingPathComponent("tokenizer.json")
        try tokenizer.save(to: tokenizerURL)
        print(String(format: "trained a byte-level BPE of %d tokens (asked for %d) in %.2f s → %@",
                     tokenizer.vocabularySize, vocabularySize, trainSeconds, tokenizerURL.path))

        // 3. Encoding, one thread, the fastest of the passes.
        var best = Double.infinity
        var bytes = 0
        for pass in 1...Self.passes {
            let measured = TokenizerBenchmark.encodeThroughput(tokenizer: tokenizer, texts: lines)
            bytes = measured.bytes
            best = min(best, measured.seconds)
            print(String(format: "proxima pass %d: %d bytes in %.3f s = %.2f MB/s", pass, measured.bytes, measured.seconds,
                         Double(measured.bytes) / measured.seconds / 1e6))
        }
        let swiftRate = Double(bytes) / best / 1e6
        let idsURL = directory.appendingPathComponent("ids.jsonl")
        let tokenCount = try Self.writeIDs(of: lines, with: tokenizer, to: idsURL)
        print("proxima: \(String(format: "%.2f", swiftRate)) MB/s on 1 thread (best of \(Self.passes)); \(tokenCount) tokens, ids of \(lines.count) lines → \(idsURL.path)")

        var result: [String: Any] = [
            "impl": "proxima", "swift_mb_per_s": swiftRate, "corpus_bytes": corpusData.count, "lines": lines.count,
            "tokens": tokenCount, "vocabulary": tokenizer.vocabularySize, "train_seconds": trainSeconds,
        ]
        guard peer else {
            printJSON(result)
            return
        }

        // 4. The peer.
        fflush(nil)
        switch Self.runPeer(tokenizer: tokenizerURL, corpus: corpusURL, ids: idsURL) {
        case .unavailable(let reason):
            print("peer not run: \(reason); the JSON below has no peer fields")
            printJSON(result)
        case .failed(let reason):
            print("peer FAILED: \(reason); the JSON below has no peer fields")
            printJSON(result)
            throw ExitCode.failure
        case .measured(let report):
            let identical = report.identicalLines == report.lines && report.lines == lines.count
            let ratio = swiftRate / report.megabytesPerSecond
            print(String(format: "tokenizers (Rust, 1 thread): %.2f MB/s; proxima / tokenizers = %.2f× (target ≥ 1×: %@)",
                         report.megabytesPerSecond, ratio, ratio >= 1 ? "met" : "missed"))
            print("ids: \(report.identicalLines) of \(report.lines) lines identical — \(identical ? "identical" : "DIFFERENT")")
            result["hf_mb_per_s"] = report.megabytesPerSecond
            result["ratio"] = ratio
            result["identical"] = identical
            result["identical_lines"] = report.identicalLines
            printJSON(result)
            if !identical { throw ExitCode.failure }
        }
    }

    /// The corpus cut after every "\n" byte, each line keeping its "\n" (the last one may have none) — the cut
    /// `hf_tokenizer.py` makes, so both sides encode the same strings.
    static func lines(of data: Data) -> [String] {
        var lines: [String] = []
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            let bytes = buffer.bindMemory(to: UInt8.self)
            var start = 0
            for index in bytes.indices where bytes[index] == 0x0A {
                lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...index]), as: UTF8.self))
                start = index + 1
            }
            if start < bytes.count {
                lines.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start...]), as: UTF8.self))
            }
        }
        return lines
    }

    /// Encodes every line again (untimed) and writes one JSON array of ids per line; returns the number of ids.
    static func writeIDs(of lines: [String], with tokenizer: Tokenizer, to url: URL) throws -> Int {
        var text = ""
        text.reserveCapacity(lines.count * 64)
        var count = 0
        for line in lines {
            let ids = tokenizer.encode(line, addSpecialTokens: false)
            count += ids.count
            text += "["
            text += ids.map(String.init).joined(separator: ",")
            text += "]\n"
        }
        try Data(text.utf8).write(to: url, options: .atomic)
        return count
    }

    /// A file of `Benchmarks/peers`, looked for under the current directory and then in the checkout this
    /// source file was compiled from.
    static func peerFile(_ name: String) -> URL? {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let roots = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath), checkout]
        return roots.map { $0.appendingPathComponent("Benchmarks/peers/\(name)") }
            .first { FileManager.default.isReadableFile(atPath: $0.path) }
    }

    /// Runs `Benchmarks/peers/tokenizer_corpus.sh`, which writes the deterministic Debian corpus to `url`.
    static func buildCorpus(at url: URL) throws {
        guard let script = peerFile("tokenizer_corpus.sh") else {
            throw ValidationError("Benchmarks/peers/tokenizer_corpus.sh is not under the current directory or the checkout; run from the checkout or pass --corpus FILE")
        }
        fflush(nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [script.path, url.path, String(minimumCorpusBytes)]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(script.path) could not build the corpus (exit status \(process.terminationStatus)); pass --corpus FILE instead")
        }
    }

    struct PeerReport {
        var megabytesPerSecond: Double
        var identicalLines: Int
        var lines: Int
    }

    enum PeerOutcome {
        /// Python, the script or its module is missing: nothing was measured.
        case unavailable(String)
        /// The peer ran and did not produce its JSON line.
        case failed(String)
        case measured(PeerReport)
    }

    /// Runs `python3 Benchmarks/peers/hf_tokenizer.py` on one thread, echoing its lines, and reads its last line.
    static func runPeer(tokenizer: URL, corpus: URL, ids: URL) -> PeerOutcome {
        guard let script = peerFile("hf_tokenizer.py") else {
            return .unavailable("Benchmarks/peers/hf_tokenizer.py is not under the current directory or the checkout")
        }
        let environment = ProcessInfo.processInfo.environment
        let searchPath = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        guard let python = searchPath.map({ "\($0)/python3" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .unavailable("no python3 on PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, "--tokenizer", tokenizer.path, "--corpus", corpus.path, "--ids", ids.path,
                             "--repeats", String(passes)]
        var childEnvironment = environment
        childEnvironment["TOKENIZERS_PARALLELISM"] = "false"
        childEnvironment["RAYON_NUM_THREADS"] = "1"
        process.environment = childEnvironment
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            return .unavailable("\(python) could not start (\(error.localizedDescription))")
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let outputLines = output.split(separator: "\n", omittingEmptySubsequences: true)
        for line in outputLines.dropLast() { print("  \(line)") }
        let last = outputLines.last.map(String.init) ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any]
        guard let object, object["impl"] as? String == "tokenizers" else {
            if !last.isEmpty { print("  \(last)") }
            let status = process.terminationStatus
            // peer_venv exits 0 with a message when it cannot provide the module: nothing to compare with.
            if status == 0 { return .unavailable("hf_tokenizer.py printed no result (\(last.isEmpty ? "no output" : "see above"))") }
            return .failed("hf_tokenizer.py exited with status \(status)")
        }
        guard process.terminationStatus == 0,
              let rate = object["mb_per_s"] as? Double, let identical = object["identical_lines"] as? Int,
              let count = object["lines"] as? Int else {
            return .failed("hf_tokenizer.py's result is incomplete or its exit status is \(process.terminationStatus): \(last)")
        }
        return .measured(PeerReport(megabytesPerSecond: rate, identicalLines: identical, lines: count))
    }
}
