import Testing
@testable import Torch
import TestSupport

let gradientCases: [GradCase] = [
    // shape
    GradCase(name: "reshaped", shapes: [[2, 3]]) { $0[0].reshaped(3, 2) * Tensor.arange(6).reshaped(3, 2) },
    GradCase(name: "view", shapes: [[2, 3]]) { $0[0].view(6).square() },
    GradCase(name: "permuted", shapes: [[2, 3, 2]]) { $0[0].permuted(2, 0, 1).contiguous().view(-1).cumsum(dim: 0) },
    GradCase(name: "transposed", shapes: [[2, 3]]) { $0[0].transposed(0, 1).matmul($0[0]) },
    GradCase(name: "squeezed/unsqueezed", shapes: [[2, 1, 3]]) { $0[0].squeezed().unsqueezed(0).square() },
    GradCase(name: "flattened", shapes: [[2, 2, 2]]) { $0[0].flattened().cumsum(dim: 0) },
    GradCase(name: "expanded", shapes: [[1, 3]]) { $0[0].expanded([4, 3]).square() },
    GradCase(name: "repeated", shapes: [[2]]) { $0[0].repeated([3]).square() },
    GradCase(name: "cat", shapes: [[2], [3]]) { Tensor.cat([$0[0], $0[1]]).cumsum(dim: 0) },
    GradCase(name: "stack", shapes: [[2], [2]]) { Tensor.stack([$0[0], $0[1]], dim: 1).square() },
    GradCase(name: "split", shapes: [[5]]) { $0[0].split(size: 2)[1].square() },
    GradCase(name: "chunked", shapes: [[6]]) { $0[0].chunked(3)[2] * 3 },
    GradCase(name: "narrow", shapes: [[4, 3]]) { $0[0].narrow(dim: 0, start: 1, length: 2).square() },
    GradCase(name: "subscript", shapes: [[4, 4]]) { $0[0][1..., .slice(step: 2)].square() },
    GradCase(name: "indexSelect", shapes: [[4]]) { $0[0].indexSelect(dim: 0, index: Tensor([3, 0, 3] as [Int])).square() },
    GradCase(name: "gather", shapes: [[2, 3]]) { $0[0].gather(dim: 1, index: Tensor([[2, 0], [1, 1]] as [[Int]])) },
    GradCase(name: "scatter", shapes: [[2, 3], [2, 2]]) { $0[0].scatter(dim: 1, index: Tensor([[2, 0], [1, 0]] as [[Int]]), source: $0[1]).square() },
    GradCase(name: "scatterAdd", shapes: [[2, 3], [2, 2]]) { $0[0].scatterAdd(dim: 1, index: Tensor([[2, 2], [1, 0]] as [[Int]]), source: $0[1]).square() },
    GradCase(name: "maskedFill", shapes: [[4]]) { $0[0].maskedFill(Tensor([true, false, true, false]), 0.0).square() },
    GradCase(name: "maskedSelect", shapes: [[4]]) { $0[0].maskedSelect(Tensor([true, false, true, true])).square() },
    GradCase(name: "where", shapes: [[3], [3]]) { Tensor.where(Tensor([true, false, true]), $0[0], $0[1]).square() },
    GradCase(name: "tril/triu", shapes: [[3, 3]]) { $0[0].tril().square() + $0[0].triu(1) },
    GradCase(name: "pad constant", shapes: [[2, 3]]) { $0[0].pad([1, 2], value: 1).square() },
    GradCase(name: "pad reflect", shapes: [[1, 2, 4]]) { $0[0].pad([2, 1], mode: .reflect).square() },
    // elementwise
    GradCase(name: "add/sub/mul/div", shapes: [[2, 3], [3]], inputs: .positive) { ($0[0] + $0[1]) * $0[0] - $0[1] / $0[0] },
    GradCase(name: "scalar operators", shapes: [[3]], inputs: .positive) { 2 - $0[0] * 3 + 1.5 / $0[0] - $0[0] / 4 },
    GradCase(name: "negation", shapes: [[3]]) { -$0[0] * $0[0] },
    GradCase(name: "pow tensor", shapes: [[3], [3]], inputs: .positive) { $0[0].pow($0[1]) },
    GradCase(name: "pow scalar", shapes: [[3]], inputs: .positive) { $0[0].pow(2.5) },
    GradCase(name: "exp", shapes: [[3]]) { $0[0].exp() },
    GradCase(name: "log", shapes: [[3]], inputs: .positive) { $0[0].log() },
    GradCase(name: "log1p", shapes: [[3]], inputs: .positive) { $0[0].log1p() },
    GradCase(name: "expm1", shapes: [[3]]) { $0[0].expm1() },
    GradCase(name: "sqrt", shapes: [[3]], inputs: .positive) { $0[0].sqrt() },
    GradCase(name: "rsqrt", shapes: [[3]], inputs: .positive) { $0[0].rsqrt() },
    GradCase(name: "abs", shapes: [[4]]) { $0[0].abs() },
    GradCase(name: "sign (zero gradient)", shapes: [[4]]) { $0[0].sign() * 3 + $0[0] },
    GradCase(name: "clamp", shapes: [[6]]) { $0[0].clamp(min: -0.5, max: 0.5) },
    GradCase(name: "minimum/maximum", shapes: [[4], [4]]) { $0[0].minimum($0[1]) + 2 * $0[0].maximum($0[1]) },
    GradCase(name: "tanh", shapes: [[4]]) { $0[0].tanh() },
    GradCase(name: "sigmoid", shapes: [[4]]) { $0[0].sigmoid() },
    GradCase(name: "logSigmoid", shapes: [[4]]) { $0[0].logSigmoid() },
    GradCase(name: "relu", shapes: [[4]]) { $0[0].relu() },
    GradCase(name: "gelu exact", shapes: [[4]]) { $0[0].gelu() },
    GradCase(name: "gelu tanh", shapes: [[4]]) { $0[0].gelu(approximate: true) },
    GradCase(name: "silu", shapes: [[4]]) { $0[0].silu() },
    GradCase(name: "softplus", shapes: [[4]]) { $0[0].softplus(beta: 2) },
    GradCase(name: "softmax", shapes: [[2, 4]]) { $0[0].softmax(dim: 1) },
    GradCase(name: "logSoftmax", shapes: [[2, 4]]) { $0[0].logSoftmax(dim: 0) },
    GradCase(name: "logSumExp", shapes: [[2, 4]]) { $0[0].logSumExp(dim: 1) },
    // reductions
    GradCase(name: "sum", shapes: [[2, 3]]) { $0[0].sum(dim: 1).square() + $0[0].sum() },
    GradCase(name: "mean", shapes: [[2, 3]]) { $0[0].mean(dims: [0], keepDim: true).square() },
    GradCase(name: "prod", shapes: [[2, 3]]) { $0[0].prod(dim: 1) + $0[0].prod() },
    GradCase(name: "max/min", shapes: [[2, 3]]) { $0[0].max(dim: 1).values + $0[0].min(dims: [1]) + $0[0].max() },
    GradCase(name: "variance", shapes: [[2, 4]]) { $0[0].variance(dims: [1]) },
    GradCase(name: "std", shapes: [[2, 4]]) { $0[0].std(correction: 0) },
    GradCase(name: "norm", shapes: [[2, 3]]) { $0[0].norm(dims: [1]) + $0[0].norm(1) },
    GradCase(name: "cumsum", shapes: [[2, 3]]) { $0[0].cumsum(dim: 1).square() },
    GradCase(name: "sorted values", shapes: [[5]]) { $0[0].sorted().values * Tensor.arange(5).to(dtype: .float64) },
    GradCase(name: "topK values", shapes: [[5]]) { $0[0].topK(2).values.square() },
    // linear algebra and losses
    GradCase(name: "matmul", shapes: [[2, 3], [3, 4]]) { $0[0].matmul($0[1]) },
    GradCase(name: "matmul broadcast", shapes: [[2, 2, 3], [3]]) { $0[0].matmul($0[1]) },
    GradCase(name: "bmm", shapes: [[2, 2, 3], [2, 3, 2]]) { $0[0].bmm($0[1]) },
    GradCase(name: "einsum", shapes: [[2, 3], [3, 2]]) { Tensor.einsum("ij,jk->ik", $0[0], $0[1]) },
    GradCase(name: "einsum trace-like", shapes: [[3, 3]]) { Tensor.einsum("ii->i", $0[0]) },
    GradCase(name: "linear", shapes: [[4, 3], [2, 3], [2]]) { $0[0].linear(weight: $0[1], bias: $0[2]).tanh() },
    GradCase(name: "crossEntropy", shapes: [[4, 5]]) { $0[0].crossEntropy(target: Tensor([0, 4, 2, -100] as [Int]), labelSmoothing: 0.1) },
    GradCase(name: "crossEntropy weighted sum", shapes: [[3, 4]]) {
        $0[0].crossEntropy(target: Tensor([1, 3, 0] as [Int]), weight: Tensor([1, 2, 0.5, 1] as [Double]), reduction: .sum)
    },
    GradCase(name: "nllLoss", shapes: [[3, 4]]) { $0[0].logSoftmax(dim: 1).nllLoss(target: Tensor([1, 3, 0] as [Int])) },
    GradCase(name: "mseLoss", shapes: [[3], [3]]) { $0[0].mseLoss($0[1]) },
    GradCase(name: "long temporary chain", shapes: [[3]]) { (($0[0] + 1) * 2 - $0[0].exp()).tanh().sum() },
]

@Suite("Finite-difference gradient checks (float64)")
struct GradientCheckTests {
    @Test("autograd matches central differences", arguments: gradientCases)
    func check(_ c: GradCase) {
        gradientCheck(c)
    }
}
