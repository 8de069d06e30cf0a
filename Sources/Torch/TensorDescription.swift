import Foundation

/// Prints like PyTorch: `tensor([[1.0000, 2.5000], [3.0000, 4.0000]], dtype=torch.float64, requires_grad=True)`.
extension Tensor: CustomStringConvertible {
    public var description: String {
        let shape = self.shape
        let dtype = self.dtype
        var suffix: [String] = []
        if dtype != .float32 && dtype != .int64 && dtype != .bool { suffix.append("dtype=\(dtype)") }
        if count == 0 && shape != [0] { suffix.append("size=(\(shape.map(String.init).joined(separator: ", ")))") }
        if case .cuda(let index) = device { suffix.append("device='cuda:\(index)'") }
        if requiresGrad {
            if let name = gradFunctionName { suffix.append("grad_fn=<\(name)>") } else { suffix.append("requires_grad=True") }
        }
        let format = ElementFormat(self)
        let body = render(shape: shape, format: format)
        return "tensor(" + ([body] + suffix).joined(separator: ", ") + ")"
    }

    private func render(shape: [Int], format: ElementFormat) -> String {
        let values = format.strings
        let summarize = values.count > 1000
        func level(_ depth: Int, _ offset: Int) -> String {
            if depth == shape.count { return values[offset] }
            let n = shape[depth]
            let stride = shape[(depth + 1)...].reduce(1, *)
            var parts: [String] = []
            let indices: [Int?] = summarize && n > 6 ? Array(0..<3) + [nil] + Array((n - 3)..<n) : Array(0..<n)
            for i in indices {
                if let i { parts.append(level(depth + 1, offset + i * stride)) } else { parts.append("...") }
            }
            let separator = depth == shape.count - 1 ? ", " : ",\n" + String(repeating: "\n", count: Swift.max(0, shape.count - depth - 2)) + String(repeating: " ", count: depth + 8)
            return "[" + parts.joined(separator: separator) + "]"
        }
        return level(0, 0)
    }
}

/// Chooses PyTorch's number style for a whole tensor: integers as-is, integral floats as `1.`, otherwise four decimals
/// or scientific notation when magnitudes span more than 1000× or leave [1e-4, 1e8).
private struct ElementFormat {
    let strings: [String]

    init(_ tensor: Tensor) {
        let dtype = tensor.dtype
        if dtype == .bool {
            let raw = tensor.bools.map { $0 ? "True" : "False" }
            let width = raw.map(\.count).max() ?? 0
            strings = raw.map { String(repeating: " ", count: width - $0.count) + $0 }
            return
        }
        if !dtype.isFloatingPoint {
            let raw = tensor.ints.map(String.init)
            let width = raw.map(\.count).max() ?? 0
            strings = raw.map { String(repeating: " ", count: width - $0.count) + $0 }
            return
        }
        let values = tensor.doubles
        let finite = values.filter { $0.isFinite }.map(Swift.abs)
        let nonzero = finite.filter { $0 != 0 }
        let integral = finite.allSatisfy { $0 == $0.rounded() }
        let maxAbs = nonzero.max() ?? 0
        let minAbs = nonzero.min() ?? 0
        let scientific = !nonzero.isEmpty && (maxAbs / minAbs > 1000 || maxAbs >= 1e8 || minAbs < 1e-4)
        let raw: [String] = values.map { v in
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if scientific { return String(format: "%.4e", v) }
            if integral { return String(format: "%.0f.", v) }
            return String(format: "%.4f", v)
        }
        let width = raw.map(\.count).max() ?? 0
        strings = raw.map { String(repeating: " ", count: width - $0.count) + $0 }
    }
}
