import Foundation

/// Trains a GPT-2-style byte-level BPE tokenizer: text is split with the GPT-2 pattern, each piece is taken as
/// UTF-8 bytes, and the most frequent adjacent pair is merged until the vocabulary reaches the target size.
///
/// The vocabulary is: the special tokens (ids 0…), the 256 byte symbols (in the order of their byte-level
/// characters), then one token per merge. Ties between equally frequent pairs go to the pair of smaller ids.
public struct BPETrainer: Sendable {
    /// The vocabulary size to reach, special tokens and the 256 byte symbols included.
    public var vocabularySize: Int
    /// Pairs seen fewer times than this are never merged.
    public var minimumFrequency: Int
    /// Tokens added first, as special added tokens.
    public var specialTokens: [String]
    /// Never merge a symbol holding an ASCII digit, so every digit stays a token of its own (what arithmetic
    /// tasks need: numbers are read digit by digit).
    public var keepsDigitsApart = false

    public init(vocabularySize: Int, minimumFrequency: Int = 2, specialTokens: [String] = []) {
        self.vocabularySize = vocabularySize
        self.minimumFrequency = minimumFrequency
        self.specialTokens = specialTokens
    }

    /// Trains on the contents of text files (read as UTF-8; invalid bytes are replaced).
    public func train(files: [URL]) throws(TokenizerError) -> Tokenizer {
        var texts: [String] = []
        for url in files {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw TokenizerError("\(url.path): cannot be read (\(error.localizedDescription))")
            }
            texts.append(String(decoding: data, as: UTF8.self))
        }
        return try train(texts: texts)
    }

    /// Trains on strings.
    public func train(texts: [String]) throws(TokenizerError) -> Tokenizer {
        let special = specialTokens.filter { !$0.isEmpty }
        guard vocabularySize >= special.count + 256 else {
            throw TokenizerError("BPETrainer: vocabularySize \(vocabularySize) is below the \(special.count) special tokens plus 256 byte symbols")
        }
        guard Set(special.map { TokenBytes($0) }).count == special.count else {
            throw TokenizerError("BPETrainer: special tokens must be distinct")
        }
        // 1. Count pieces (as bytes), keeping special tokens out of the statistics.
        var wordCounts: [[UInt8]: Int] = [:]
        let scanner = PreTokenizer.gpt2Scanner
        let specialMatcher = AddedTokenMatcher(special.enumerated().map { (pattern: Array($0.element.unicodeScalars), token: AddedToken(id: $0.offset, content: $0.element)) })
        for text in texts {
            let scalars = Array(text.unicodeScalars)
            for split in specialMatcher.split(scalars) {
                guard case .text(let range) = split, !range.isEmpty else { continue }
                let segment = Array(scalars[range])
                for m in scanner.matches(in: segment) {
                    var bytes: [UInt8] = []
                    for c in segment[m] { UTF8.encode(c) { bytes.append($0) } }
                    wordCounts[bytes, default: 0] += 1
                }
            }
        }

        // 2. The initial vocabulary.
        var tokens: [[UInt8]] = special.map { Array($0.utf8) }
        let byteOrder = (0..<256).sorted { ByteLevelAlphabet.byteToScalar[$0].value < ByteLevelAlphabet.byteToScalar[$1].value }
        var byteID = [Int32](repeating: 0, count: 256)
        for b in byteOrder {
            byteID[b] = Int32(tokens.count)
            tokens.append([UInt8(b)])
        }

        // 3. Words as symbol sequences; pair statistics.
        let entries = wordCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var words: [[Int32]] = entries.map { $0.key.map { byteID[Int($0)] } }
        let counts: [Int] = entries.map(\.value)
        var pairCounts: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }
        for (w, word) in words.enumerated() where word.count > 1 {
            for i in 0..<(word.count - 1) {
                let k = key(word[i], word[i + 1])
                pairCounts[k, default: 0] += counts[w]
                pairWords[k, default: []].append(Int32(w))
            }
        }
        var heap = BPEPairHeap()
        for (k, c) in pairCounts { heap.push(count: c, pair: k) }

        var merges: [(Int32, Int32)] = []
        while tokens.count < vocabularySize, let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {
                if current > 0 { heap.push(count: current, pair: top.pair) }
                continue
            }
            if current < max(minimumFrequency, 1) { break }
            let a = Int32(truncatingIfNeeded: top.pair >> 32)
            let b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            if keepsDigitsApart && (tokens[Int(a)] + tokens[Int(b)]).contains(where: { (0x30...0x39).contains($0) }) {
                pairCounts[top.pair] = nil
                continue
            }
            let newID = Int32(tokens.count)
            tokens.append(tokens[Int(a)] + tokens[Int(b)])
            merges.append((a, b))
            var touched: [UInt64: Int] = [:]
            var lastWord: Int32 = -1
            for w in pairWords[top.pair] ?? [] where w != lastWord {
                lastWord = w
                let old = words[Int(w)]
                var merged: [Int32] = []
                merged.reserveCapacity(old.count)
                var i = 0
                var changed = false
                while i < old.count {
                    if i + 1 < old.count && old[i] == a && old[i + 1] == b {
                        merged.append(newID)
                        i += 2
                        changed = true
                    } else {
                        merged.append(old[i])
                        i += 1
                    }
                }
                guard changed else { continue }
                let c = counts[Int(w)]
                for j in 0..<(old.count - 1) { touched[key(old[j], old[j + 1]), default: 0] -= c }
                if merged.count > 1 {
                    for j in 0..<(merged.count - 1) {
                        let k = key(merged[j], merged[j + 1])
                        touched[k, default: 0] += c
                        if merged[j] == newID || merged[j + 1] == newID { pairWords[k, default: []].append(w) }
                    }
                }
                words[Int(w)] = merged
            }
            for (k, delta) in touched where delta != 0 {
                let updated = (pairCounts[k] ?? 0) + delta
                if updated <= 0 { pairCounts[k] = nil } else { pairCounts[k] = updated }
                if delta > 0 && updated > 0 { heap.push(count: updated, pair: k) }
            }
            pairCounts[top.pair] = nil
            pairWords[top.pair] = nil
        }

        // 4. The tokenizer.
        func text(_ bytes: [UInt8]) -> String {
            var view = String.UnicodeScalarView()
            for b in bytes { view.append(ByteLevelAlphabet.byteToScalar[Int(b)]) }
            return String(view)
        }
        var vocabulary: [String] = special
        for t in tokens.dropFirst(special.count) { vocabulary.append(text(t)) }
        let mergeStrings = merges.map { (vocabulary[Int($0.0)], vocabulary[Int($0.1)]) }
        let document = TokenizerWriter.byteLevelBPEDocument(vocabulary: vocabulary, merges: mergeStrings, specialTokens: special)
        return try Tokenizer(tokenizerJSON: document)
    }
}

/// A max-heap of (count, pair): larger counts first, then smaller pair keys.
struct BPEPairHeap {
    private var items: [(count: Int, pair: UInt64)] = []

    private func above(_ x: (count: Int, pair: UInt64), _ y: (count: Int, pair: UInt64)) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }

    mutating func push(count: Int, pair: UInt64) {
        items.append((count, pair))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard above(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (count: Int, pair: UInt64)? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var best = i
                if l < items.count && above(items[l], items[best]) { best = l }
                if r < items.count && above(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return first
    }
}
