import Foundation
import Testing
import Torch
import TestSupport

private func maxDifference(_ a: Tensor, _ b: Tensor) -> Double { (a - b).abs().max().item(Double.self) }

private func decodeScaling(_ object: Any?) throws -> RopeScaling {
    guard let object, !(object is NSNull) else { return .default }
    return try JSONDecoder().decode(RopeScaling.self, from: JSONSerialization.data(withJSONObject: object))
}

@Suite("Rotary position embeddings")
struct RotaryTests {
    @Test("reference/rope holds cases")
    func goldenFolderIsNotEmpty() {
        let folder = Fixtures.reference.appendingPathComponent("rope")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        #expect(files.contains { $0.hasSuffix(".json") }, "no *.json in \(folder.path)")
    }

    @Test("inverse frequencies, cos/sin, rotated query/key and position ids match transformers (reference/rope)",
          arguments: Fixtures.referenceFiles("rope"))
    func golden(file: URL) throws {
        let json = try Fixtures.json(file)
        let name = file.lastPathComponent
        let params = json["params"] as! [String: Any]
        let inputs = json["inputs"] as! [String: Any]
        let expected = json["expected"] as! [String: Any]
        let scaling = try decodeScaling(params["rope_scaling"])
        #expect(scaling.ropeType == json["rope_type"] as? String, "\(name)")
        let rotary = RotaryEmbedding(dimension: params["dimension"] as! Int, base: params["base"] as! Double,
                                     scaling: scaling)
        #expect(rotary.attentionScaling == params["attention_scaling"] as? Double, "\(name)")

        // float32 values, so the tolerances are a few float32 rounding steps.
        #expect(rotary.inverseFrequencies.dtype == .float32)
        expectClose(rotary.inverseFrequencies, flatten(expected["inv_freq"]).values, atol: 0, rtol: 1e-6, "\(name) inv_freq")
        let positions = tensor(inputs["position_ids"], dtype: .int64)
        let (cos, sin) = rotary.cosSin(positionIds: positions)
        #expect(cos.shape == flatten(expected["cos"]).shape)
        expectClose(cos, flatten(expected["cos"]).values, atol: 1e-6, rtol: 0, "\(name) cos")
        expectClose(sin, flatten(expected["sin"]).values, atol: 1e-6, rtol: 0, "\(name) sin")

        let query = tensor(inputs["query"], dtype: .float32), key = tensor(inputs["key"], dtype: .float32)
        let rotated = applyRotary(query: query, key: key, cos: cos, sin: sin)
        expectClose(rotated.query, flatten(expected["query_embed"]).values, atol: 1e-5, rtol: 1e-5, "\(name) query")
        expectClose(rotated.key, flatten(expected["key_embed"]).values, atol: 1e-5, rtol: 1e-5, "\(name) key")

        let mask = tensor(inputs["attention_mask"], dtype: .int64)
        #expect(positionIds(fromAttentionMask: mask).ints == flatten(expected["position_ids_from_mask"]).values.map { Int($0) },
                "\(name) position ids")
    }

    @Test("applyRotary rotates each pair (x_i, x_{i+d/2}) by its angle and preserves norms")
    func directFormula() {
        let g = Generator(seed: 21)
        let (b, h, t, d) = (2, 3, 5, 8)
        let q = Tensor.randn([b, h, t, d], dtype: .float64, generator: g)
        let k = Tensor.randn([b, 1, t, d], dtype: .float64, generator: g)
        let halfAngles = Tensor.randn([b, t, d / 2], dtype: .float64, generator: g) * 3
        let angles = Tensor.cat([halfAngles, halfAngles], dim: -1)
        let rotated = applyRotary(query: q, key: k, cos: angles.cos(), sin: angles.sin())
        for (x, y) in [(q, rotated.query), (k, rotated.key)] {
            let x1 = x.narrow(dim: -1, start: 0, length: d / 2), x2 = x.narrow(dim: -1, start: d / 2, length: d / 2)
            let c = halfAngles.cos().unsqueezed(1), s = halfAngles.sin().unsqueezed(1)
            let direct = Tensor.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim: -1)
            #expect(maxDifference(y, direct) < 1e-12)
            #expect(maxDifference(y.norm(dims: [-1]), x.norm(dims: [-1])) < 1e-12)
            let pairNorms = { (z: Tensor) in
                (z.narrow(dim: -1, start: 0, length: d / 2).square() + z.narrow(dim: -1, start: d / 2, length: d / 2).square()).sqrt()
            }
            #expect(maxDifference(pairNorms(y), pairNorms(x)) < 1e-12)
        }
    }

    @Test("rotated query·key depends only on the distance between their positions")
    func relativePositions() {
        let g = Generator(seed: 22)
        let rotary = RotaryEmbedding(dimension: 16, base: 10_000)
        let q = Tensor.randn([1, 1, 1, 16], dtype: .float64, generator: g)
        let k = Tensor.randn([1, 1, 1, 16], dtype: .float64, generator: g)
        func score(_ m: Int, _ n: Int) -> Double {
            let (cq, sq) = rotary.cosSin(positionIds: Tensor([[m]] as [[Int]]), dtype: .float64)
            let (ck, sk) = rotary.cosSin(positionIds: Tensor([[n]] as [[Int]]), dtype: .float64)
            let rq = applyRotary(query: q, key: q, cos: cq, sin: sq).query
            let rk = applyRotary(query: k, key: k, cos: ck, sin: sk).key
            return (rq * rk).sum().item(Double.self)
        }
        let near = score(7, 3)
        #expect(Swift.abs(score(57, 53) - near) < 1e-4)
        #expect(Swift.abs(score(4, 0) - near) < 1e-4)
        #expect(Swift.abs(score(3, 7) - near) > 1e-3)
    }

    @Test("linear scaling by f at position p·f gives the default tables at p")
    func linearIsInterpolation() {
        let plain = RotaryEmbedding(dimension: 32, base: 10_000)
        let stretched = RotaryEmbedding(dimension: 32, base: 10_000, scaling: .linear(factor: 4))
        let p = Tensor([[0, 1, 2, 5, 100]] as [[Int]])
        let (c0, s0) = plain.cosSin(positionIds: p)
        let (c1, s1) = stretched.cosSin(positionIds: p * 4)
        #expect(maxDifference(c0, c1) < 1e-4 && maxDifference(s0, s1) < 1e-4)
        #expect(maxDifference(stretched.inverseFrequencies * 4, plain.inverseFrequencies) < 1e-7)
    }

    @Test("cos² + sin² = 1 and the second half of each table repeats the first")
    func tableShape() {
        let rotary = RotaryEmbedding(dimension: 64, base: 500_000, scaling: .llama3(factor: 8, lowFrequencyFactor: 1,
                                                                                    highFrequencyFactor: 4, originalMaxPositionEmbeddings: 8192))
        let positions = Tensor([[0, 0, 1, 2], [10, 11, 12, 13]] as [[Int]])
        let (cos, sin) = rotary.cosSin(positionIds: positions, dtype: .float64)
        #expect(cos.shape == [2, 4, 64] && cos.dtype == .float64)
        #expect(maxDifference(cos.square() + sin.square(), Tensor.ones([2, 4, 64], dtype: .float64)) < 1e-6)
        #expect(cos.narrow(dim: -1, start: 0, length: 32).equal(cos.narrow(dim: -1, start: 32, length: 32)))
        #expect(cos[0, 0].equal(cos[0, 1]))  // a left pad repeats position 0
    }

    @Test("RopeScaling decodes transformers' rope_scaling objects and rejects unknown types")
    func decoding() throws {
        func decode(_ text: String) throws -> RopeScaling { try JSONDecoder().decode(RopeScaling.self, from: Data(text.utf8)) }
        #expect(try decode(#"{"rope_type": "default"}"#) == .default)
        #expect(try decode(#"{"type": "linear", "factor": 2.0}"#) == .linear(factor: 2))
        #expect(try decode(#"{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_theta": 500000.0}"#)
            == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositionEmbeddings: 8192))
        #expect(throws: DecodingError.self) { try decode(#"{"rope_type": "yarn", "factor": 4.0}"#) }
        #expect(throws: DecodingError.self) { try decode(#"{"rope_type": "linear"}"#) }
    }

    @Test("rotatedHalf maps (x1, x2) to (-x2, x1)")
    func rotateHalf() {
        #expect(Tensor([1.0, 2, 3, 4]).rotatedHalf().doubles == [-3, -4, 1, 2])
    }
}
