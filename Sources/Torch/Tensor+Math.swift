import CTorch

extension Tensor {
    @inline(__always)
    func unary(_ op: ct_unary_op, _ name: String) -> Tensor {
        withHandle { wrap(ct_unary(Int32(op.rawValue), $0), name) }
    }

    @inline(__always)
    func binary(_ op: ct_binary_op, _ other: Tensor, _ name: String) -> Tensor {
        withHandle { a in
            other.withHandle { b in
                wrap(ct_binary(Int32(op.rawValue), a, b), "\(name) of \(shape) and \(other.shape)")
            }
        }
    }

    @inline(__always)
    func binary<T: TensorScalar>(_ op: ct_binary_op, _ scalar: T, reversed: Bool = false, _ name: String) -> Tensor {
        withHandle { wrap(ct_binary_scalar(Int32(op.rawValue), $0, scalar.ctScalar, reversed ? 1 : 0), name) }
    }

    public func exp() -> Tensor { unary(CT_EXP, "exp") }
    public func log() -> Tensor { unary(CT_LOG, "log") }
    public func log2() -> Tensor { unary(CT_LOG2, "log2") }
    public func log1p() -> Tensor { unary(CT_LOG1P, "log1p") }
    public func expm1() -> Tensor { unary(CT_EXPM1, "expm1") }
    public func sqrt() -> Tensor { unary(CT_SQRT, "sqrt") }
    public func rsqrt() -> Tensor { unary(CT_RSQRT, "rsqrt") }
    public func abs() -> Tensor { unary(CT_ABS, "abs") }
    public func sign() -> Tensor { unary(CT_SIGN, "sign") }
    public func square() -> Tensor { unary(CT_SQUARE, "square") }
    public func reciprocal() -> Tensor { unary(CT_RECIPROCAL, "reciprocal") }
    public func sin() -> Tensor { unary(CT_SIN, "sin") }
    public func cos() -> Tensor { unary(CT_COS, "cos") }
    public func erf() -> Tensor { unary(CT_ERF, "erf") }
    public func floor() -> Tensor { unary(CT_FLOOR, "floor") }
    public func ceil() -> Tensor { unary(CT_CEIL, "ceil") }
    public func round() -> Tensor { unary(CT_ROUND, "round") }
    public func tanh() -> Tensor { unary(CT_TANH, "tanh") }
    public func sigmoid() -> Tensor { unary(CT_SIGMOID, "sigmoid") }
    /// log(sigmoid(x)), computed without overflow.
    public func logSigmoid() -> Tensor { unary(CT_LOGSIGMOID, "logSigmoid") }
    public func relu() -> Tensor { unary(CT_RELU, "relu") }
    /// GELU; `approximate: true` uses the tanh formula (GPT-2's "gelu_new"), through `FusedGELU`'s kernel while a
    /// gradient is recorded through a float32 tensor.
    public func gelu(approximate: Bool = false) -> Tensor {
        approximate ? withHandle { wrap(ct_gelu_tanh($0), "gelu(tanh)") } : unary(CT_GELU, "gelu")
    }
    public func silu() -> Tensor { unary(CT_SILU, "silu") }
    /// log(1 + exp(beta x)) / beta, linear above `threshold` (PyTorch's softplus).
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor {
        withHandle { wrap(ct_softplus($0, beta, threshold), "softplus") }
    }
    public func logicalNot() -> Tensor { unary(CT_LOGICAL_NOT, "logicalNot") }
    public func isNaN() -> Tensor { unary(CT_ISNAN, "isNaN") }
    public func isInfinite() -> Tensor { unary(CT_ISINF, "isInfinite") }
    public func isFinite() -> Tensor { unary(CT_ISFINITE, "isFinite") }

    public func pow(_ exponent: Tensor) -> Tensor { binary(CT_POW, exponent, "pow") }
    public func pow<T: TensorScalar>(_ exponent: T) -> Tensor { binary(CT_POW, exponent, "pow") }
    public func minimum(_ other: Tensor) -> Tensor { binary(CT_MINIMUM, other, "minimum") }
    public func maximum(_ other: Tensor) -> Tensor { binary(CT_MAXIMUM, other, "maximum") }
    public func remainder<T: TensorScalar>(_ divisor: T) -> Tensor { binary(CT_REMAINDER, divisor, "remainder") }
    public func floorDivide(_ other: Tensor) -> Tensor { binary(CT_FLOOR_DIVIDE, other, "floorDivide") }
    public func logicalAnd(_ other: Tensor) -> Tensor { binary(CT_LOGICAL_AND, other, "logicalAnd") }
    public func logicalOr(_ other: Tensor) -> Tensor { binary(CT_LOGICAL_OR, other, "logicalOr") }

    /// Limits every element to [min, max] (either bound optional).
    public func clamp(min: Double? = nil, max: Double? = nil) -> Tensor {
        withHandle { wrap(ct_clamp($0, optScalar(min), optScalar(max)), "clamp") }
    }

    /// Limits elementwise by tensor bounds (either optional; broadcasting).
    public func clamp(min: Tensor?, max: Tensor?) -> Tensor {
        withExtendedLifetime((min, max)) {
            withHandle { wrap(ct_clamp_tensor($0, min?.handle, max?.handle), "clamp(tensors)") }
        }
    }
}

func optScalar(_ value: Double?) -> ct_opt_scalar {
    guard let value else { return ct_opt_scalar(present: 0, value: ct_scalar()) }
    return ct_opt_scalar(present: 1, value: value.ctScalar)
}

// MARK: Operators (broadcasting, PyTorch's type promotion)

extension Tensor {
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_ADD, rhs, "+") }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_SUB, rhs, "-") }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_MUL, rhs, "*") }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_DIV, rhs, "/") }
    public static prefix func - (x: Tensor) -> Tensor { x.unary(CT_NEG, "negation") }

    public static func + <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_ADD, rhs, "+") }
    public static func - <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_SUB, rhs, "-") }
    public static func * <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_MUL, rhs, "*") }
    public static func / <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_DIV, rhs, "/") }
    public static func + <T: TensorScalar>(lhs: T, rhs: Tensor) -> Tensor { rhs.binary(CT_ADD, lhs, reversed: true, "+") }
    public static func - <T: TensorScalar>(lhs: T, rhs: Tensor) -> Tensor { rhs.binary(CT_SUB, lhs, reversed: true, "-") }
    public static func * <T: TensorScalar>(lhs: T, rhs: Tensor) -> Tensor { rhs.binary(CT_MUL, lhs, reversed: true, "*") }
    public static func / <T: TensorScalar>(lhs: T, rhs: Tensor) -> Tensor { rhs.binary(CT_DIV, lhs, reversed: true, "/") }

    public static func .== (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_EQ, rhs, ".==") }
    public static func .!= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_NE, rhs, ".!=") }
    public static func .< (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_LT, rhs, ".<") }
    public static func .<= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_LE, rhs, ".<=") }
    public static func .> (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_GT, rhs, ".>") }
    public static func .>= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.binary(CT_GE, rhs, ".>=") }
    public static func .== <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_EQ, rhs, ".==") }
    public static func .!= <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_NE, rhs, ".!=") }
    public static func .< <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_LT, rhs, ".<") }
    public static func .<= <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_LE, rhs, ".<=") }
    public static func .> <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_GT, rhs, ".>") }
    public static func .>= <T: TensorScalar>(lhs: Tensor, rhs: T) -> Tensor { lhs.binary(CT_GE, rhs, ".>=") }

    /// Elementwise logical and / or of boolean tensors.
    public static func .& (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.logicalAnd(rhs) }
    public static func .| (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.logicalOr(rhs) }
}
