import Foundation

/// Throughput measurements of the tokenizer.
public enum TokenizerBenchmark {
    /// Encodes every text once on the calling thread (no special tokens) and reports the UTF-8 bytes encoded and
    /// the wall-clock seconds taken.
    public static func encodeThroughput(tokenizer: Tokenizer, texts: [String]) -> (bytes: Int, seconds: Double) {
        var bytes = 0
        for t in texts { bytes += t.utf8.count }
        var tokens = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for t in texts { tokens += tokenizer.encode(t, addSpecialTokens: false).count }
        let end = DispatchTime.now().uptimeNanoseconds
        // Keep the work observable so it cannot be optimised away.
        if tokens < 0 { print(tokens) }
        return (bytes, Double(end - start) / 1e9)
    }
}
