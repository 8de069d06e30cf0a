import Foundation
import Testing
import TestSupport
import Torch
@testable import LanguageModels

/// The Hugging Face fixtures' `expected.json` and `batch_expected.json`, read as plain JSON.
struct ModelFixture {
    let directory: URL
    let expected: [String: Any]
    let batch: [String: Any]

    init(_ directory: URL) throws {
        self.directory = directory
        expected = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as! [String: Any]
        batch = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("batch_expected.json"))) as! [String: Any]
    }

    var name: String { directory.lastPathComponent }
    var cases: [[String: Any]] { expected["cases"] as! [[String: Any]] }
    var atol: Double { expected["atol_logits"] as! Double }

    /// The model as the fixture's reference computed it: in float32; a bfloat16 checkpoint as the bfloat16 model
    /// upcast to float32 (fixtures/README.md), whose rotary table the cast rounded to bfloat16. (With a float32
    /// table the logits equal transformers 5.24's `from_pretrained(dtype=float32)` instead: both differ from this
    /// reference by the same 2.9e-4, 9.7e-5 and 6.8e-4 at most, measured.)
    func load() throws -> LanguageModel {
        let storedAsBFloat16 = (expected["dtype_on_disk"] as? String) == "torch.bfloat16"
        return try LanguageModel(directory: directory, rotaryFrequencyDType: storedAsBFloat16 ? .bfloat16 : nil)
    }
}

func ints(_ value: Any?) -> [Int] { (value as! [Any]).map { ($0 as! NSNumber).intValue } }
func intRows(_ value: Any?) -> [[Int]] { (value as! [Any]).map { ints($0) } }
func doubles(_ value: Any?) -> [Double] { (value as! [Any]).map { ($0 as! NSNumber).doubleValue } }

/// int64 [1, n] of `ids`.
func row(_ ids: [Int]) -> Tensor { Tensor(ids.map(Int64.init), shape: [1, ids.count]) }

@Suite("Hugging Face checkpoints")
struct ModelFixtureTests {
    @Test("logits of every prompt match transformers within atol_logits", arguments: Fixtures.huggingFaceModels)
    func logits(directory: URL) throws {
        let fixture = try ModelFixture(directory)
        let model = try fixture.load()
        #expect(!fixture.cases.isEmpty)
        for (k, item) in fixture.cases.enumerated() {
            let ids = ints(item["input_ids"])
            let expected = (item["logits"] as! [Any]).flatMap { doubles($0) }
            let logits = withInferenceMode {
                model.decoder.logits(row(ids), positions: Tensor.arange(ids.count).unsqueezed(0))
            }
            #expect(logits.shape == [1, ids.count, model.configuration.vocabularySize])
            expectClose(logits.doubles, expected, atol: fixture.atol, rtol: 0, "\(fixture.name) case \(k)")
        }
    }
}
