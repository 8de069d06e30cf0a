/// Expression tree. Every node keeps the location of its defining token so runtime errors can
/// point at it.
final class TemplateExpr: @unchecked Sendable {
    enum Kind {
        case literal(TemplateValue)
        case name(String)
        case list([TemplateExpr])
        case tuple([TemplateExpr])
        case dict([(TemplateExpr, TemplateExpr)])
        case getattr(TemplateExpr, String)
        case getitem(TemplateExpr, TemplateExpr)
        case slice(TemplateExpr?, TemplateExpr?, TemplateExpr?)
        case call(TemplateExpr, TemplateCallArguments)
        case filter(TemplateExpr, TemplateFilterRef)
        case test(TemplateExpr, TemplateTestRef, negated: Bool)
        case unary(TemplateUnaryOp, TemplateExpr)
        case binary(TemplateBinaryOp, TemplateExpr, TemplateExpr)
        case concat([TemplateExpr])
        case compare(TemplateExpr, [(TemplateCompareOperator, TemplateExpr)])
        case and(TemplateExpr, TemplateExpr)
        case or(TemplateExpr, TemplateExpr)
        case not(TemplateExpr)
        case conditional(test: TemplateExpr, then: TemplateExpr, otherwise: TemplateExpr?)
    }

    let kind: Kind
    let loc: TemplateSourceLoc
    /// Height of the tree below this node (the parser bounds it so evaluation cannot
    /// overflow the stack).
    let depth: Int

    init(_ kind: Kind, _ loc: TemplateSourceLoc) {
        self.kind = kind
        self.loc = loc
        var d = 0
        func see(_ e: TemplateExpr?) { if let e, e.depth > d { d = e.depth } }
        func see(_ a: TemplateCallArguments) {
            a.positional.forEach { see($0) }
            a.keywords.forEach { see($0.1) }
            see(a.star)
            see(a.doubleStar)
        }
        switch kind {
        case .literal, .name: break
        case .list(let items), .tuple(let items), .concat(let items): items.forEach { see($0) }
        case .dict(let pairs): pairs.forEach { see($0.0); see($0.1) }
        case .getattr(let e, _), .not(let e), .unary(_, let e): see(e)
        case .getitem(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
            see(a)
            see(b)
        case .slice(let a, let b, let c): see(a); see(b); see(c)
        case .call(let e, let args): see(e); see(args)
        case .filter(let e, let ref): see(e); see(ref.arguments)
        case .test(let e, let ref, _): see(e); see(ref.arguments)
        case .compare(let e, let ops): see(e); ops.forEach { see($0.1) }
        case .conditional(let t, let a, let b): see(t); see(a); see(b)
        }
        depth = d + 1
    }
}

enum TemplateUnaryOp { case negate, plus }

enum TemplateBinaryOp: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
}

enum TemplateCompareOperator {
    case eq, ne, lt, le, gt, ge, `in`, notIn
}

/// Arguments of a call, filter or test, as written.
struct TemplateCallArguments {
    var positional: [TemplateExpr] = []
    var keywords: [(String, TemplateExpr)] = []
    var star: TemplateExpr?
    var doubleStar: TemplateExpr?
}

/// A filter resolved at parse time.
struct TemplateFilterRef {
    /// `nil` for a name Jinja only rejects when it runs (inside `if` blocks and inline ifs).
    let filter: TemplateFilter?
    let name: String
    let arguments: TemplateCallArguments
    let loc: TemplateSourceLoc
}

/// A test (`is name`) resolved at parse time.
struct TemplateTestRef {
    /// `nil` for a name Jinja only rejects when it runs (inside `if` blocks and inline ifs).
    let test: TemplateTest?
    let name: String
    let arguments: TemplateCallArguments
}

/// Assignment target of `set` and `for`.
indirect enum TemplateAssignTarget {
    case name(String)
    case namespaceAttribute(String, String, TemplateSourceLoc)
    case tuple([TemplateAssignTarget], TemplateSourceLoc)
}

/// A macro as written in the template.
final class TemplateMacroDefinition: @unchecked Sendable {
    let name: String
    let parameters: [String]
    /// One entry per parameter; `nil` when the parameter has no default.
    let defaults: [TemplateExpr?]
    let body: [TemplateNode]
    let catchesVarargs: Bool
    let catchesKwargs: Bool
    let loc: TemplateSourceLoc

    init(
        name: String, parameters: [String], defaults: [TemplateExpr?], body: [TemplateNode], catchesVarargs: Bool,
        catchesKwargs: Bool, loc: TemplateSourceLoc
    ) {
        self.name = name
        self.parameters = parameters
        self.defaults = defaults
        self.body = body
        self.catchesVarargs = catchesVarargs
        self.catchesKwargs = catchesKwargs
        self.loc = loc
    }
}

struct TemplateForLoop {
    let target: TemplateAssignTarget
    let iterable: TemplateExpr
    let condition: TemplateExpr?
    let body: [TemplateNode]
    let otherwise: [TemplateNode]
    let loc: TemplateSourceLoc
}

/// Statement tree.
indirect enum TemplateNode {
    case text(String)
    case output(TemplateExpr)
    case `if`([(TemplateExpr, [TemplateNode])], otherwise: [TemplateNode])
    case `for`(TemplateForLoop)
    case set(TemplateAssignTarget, TemplateExpr, TemplateSourceLoc)
    case setBlock(TemplateAssignTarget, [TemplateFilterRef], [TemplateNode], TemplateSourceLoc)
    case macro(TemplateMacroDefinition)
    case generation([TemplateNode], TemplateSourceLoc)
    case `break`(TemplateSourceLoc)
    case `continue`(TemplateSourceLoc)
}
