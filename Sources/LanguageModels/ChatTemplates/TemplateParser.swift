/// Recursive-descent parser following Jinja's grammar and operator precedence:
/// `if-else` < `or` < `and` < `not` < comparisons / `in` < `+ -` < `~` < `* / // %` < `**`
/// < unary `- +` < postfix (`.attr`, `[i]`, `(call)`) and filters / tests.
struct TemplateParser {
    private var tokens: [TemplateToken]
    private var index = 0
    private var depth = 0
    private var loopDepth = 0
    /// Names referenced inside the macro being parsed (to see whether it uses varargs/kwargs).
    private var macroNameUses: [Set<String>] = []
    private(set) var hasGenerationBlocks = false
    /// Inside an `if` statement or inline `if` expression (Jinja's "soft" frames), where
    /// unknown filters and tests are only errors if they actually run.
    private var soft = false
    /// Unknown filter/test names seen so far; the ones outside soft frames fail the parse.
    private var unknownNames: [(message: String, loc: TemplateSourceLoc, soft: Bool)] = []

    static let maxNesting = 150
    /// Deepest expression tree accepted.
    static let maxExpressionDepth = 250

    private func makeExpr(_ kind: TemplateExpr.Kind, _ loc: TemplateSourceLoc) throws -> TemplateExpr {
        let e = TemplateExpr(kind, loc)
        if e.depth > TemplateParser.maxExpressionDepth { throw fail("expression nests too deeply", loc) }
        return e
    }

    private static let unsupportedTags: Set<String> = [
        "block", "extends", "include", "import", "from", "with", "autoescape", "call", "filter", "do",
    ]

    init(tokens: [TemplateToken]) { self.tokens = tokens }

    // MARK: token helpers

    private var current: TemplateToken { tokens[min(index, tokens.count - 1)] }

    private func peek(_ offset: Int = 1) -> TemplateToken { tokens[min(index + offset, tokens.count - 1)] }

    @discardableResult
    private mutating func advance() -> TemplateToken {
        let t = current
        if index < tokens.count - 1 { index += 1 }
        return t
    }

    private func fail(_ message: String, _ loc: TemplateSourceLoc) -> TemplateLocatedFailure {
        TemplateLocatedFailure(message: message, loc: loc)
    }

    private func isName(_ name: String, _ t: TemplateToken? = nil) -> Bool {
        if case .name(let n) = (t ?? current).kind { return n == name }
        return false
    }

    private func isOp(_ op: String, _ t: TemplateToken? = nil) -> Bool {
        if case .op(let o) = (t ?? current).kind { return o == op }
        return false
    }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) {
            advance()
            return true
        }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) {
            advance()
            return true
        }
        return false
    }

    private func unexpected(_ expected: String) -> TemplateLocatedFailure {
        if current.isEOF { return fail("unexpected end of template, expected '\(expected)'", current.loc) }
        return fail("expected '\(expected)', got '\(current.describe)'", current.loc)
    }

    private mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw unexpected(op) }
    }

    private mutating func expectName() throws -> (String, TemplateSourceLoc) {
        guard case .name(let n) = current.kind else { throw unexpected("name") }
        let loc = current.loc
        advance()
        return (n, loc)
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw unexpected("end of statement block") }
        advance()
    }

    private mutating func enter(_ loc: TemplateSourceLoc) throws {
        depth += 1
        if depth > TemplateParser.maxNesting { throw fail("template nests too deeply", loc) }
    }

    // MARK: statements

    mutating func parseTemplate() throws -> [TemplateNode] {
        let (body, end) = try subparse(endTags: [])
        if let end { throw fail("unexpected tag '\(end.0)'", end.1) }
        if let hard = unknownNames.first(where: { !$0.soft }) { throw fail(hard.message, hard.loc) }
        return body
    }

    /// Runs `body` with the soft-frame flag set to `value`, restoring it afterwards.
    private mutating func withSoft<T>(_ value: Bool, _ body: (inout TemplateParser) throws -> T) rethrows -> T {
        let saved = soft
        soft = value
        defer { soft = saved }
        return try body(&self)
    }

    /// Parses nodes until one of `endTags` opens a block (the current token is then that tag's
    /// name) or the template ends (`nil`).
    private mutating func subparse(endTags: Set<String>) throws -> ([TemplateNode], (String, TemplateSourceLoc)?) {
        var body: [TemplateNode] = []
        while true {
            let token = current
            switch token.kind {
            case .data(let s):
                body.append(.text(s))
                advance()
            case .variableBegin:
                advance()
                let e = try parseTuple(withCondexpr: true)
                guard current.kind == .variableEnd else { throw unexpected("end of print statement") }
                advance()
                body.append(.output(e))
            case .blockBegin:
                advance()
                if case .name(let n) = current.kind, endTags.contains(n) { return (body, (n, current.loc)) }
                try body.append(contentsOf: parseStatement())
                try expectBlockEnd()
            case .eof:
                return (body, nil)
            default:
                throw fail("unexpected '\(token.describe)'", token.loc)
            }
        }
    }

    /// Body of a block statement: `%}` then nodes up to one of `endTags`. Returns the body and
    /// the end tag reached; with `drop`, the end tag's name is consumed.
    private mutating func parseBody(
        _ endTags: Set<String>, opener: String, openerLoc: TemplateSourceLoc, drop: Bool
    ) throws -> ([TemplateNode], String) {
        _ = skipOp(":")
        try expectBlockEnd()
        try enter(openerLoc)
        defer { depth -= 1 }
        let (body, end) = try subparse(endTags: endTags)
        guard let end else {
            let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw fail("unexpected end of template: '\(opener)' is never closed (expected \(expected))", openerLoc)
        }
        if drop { advance() }
        return (body, end.0)
    }

    private mutating func parseStatement() throws -> [TemplateNode] {
        guard case .name(let tag) = current.kind else { throw fail("tag name expected", current.loc) }
        let loc = current.loc
        switch tag {
        case "if": return [try parseIf()]
        case "for": return [try parseFor()]
        case "set": return [try parseSet()]
        case "macro": return [try parseMacro()]
        case "generation":
            advance()
            hasGenerationBlocks = true
            let savedLoop = loopDepth
            loopDepth = 0
            defer { loopDepth = savedLoop }
            let (body, _) = try withSoft(false) {
                try $0.parseBody(["endgeneration"], opener: "generation", openerLoc: loc, drop: true)
            }
            return [.generation(body, loc)]
        case "break", "continue":
            advance()
            if loopDepth == 0 { throw fail("'\(tag)' outside loop", loc) }
            return [tag == "break" ? .break(loc) : .continue(loc)]
        case "print":
            advance()
            var out: [TemplateNode] = []
            while current.kind != .blockEnd {
                if !out.isEmpty { try expectOp(",") }
                out.append(.output(try parseExpression()))
            }
            return out
        default:
            if TemplateParser.unsupportedTags.contains(tag) {
                throw fail("unsupported tag '\(tag)'", loc)
            }
            if tag.hasPrefix("end") || tag == "elif" || tag == "else" {
                throw fail("unexpected tag '\(tag)'", loc)
            }
            throw fail("unknown tag '\(tag)'", loc)
        }
    }

    private mutating func parseIf() throws -> TemplateNode {
        try withSoft(true) { try $0.parseIfBody() }
    }

    private mutating func parseIfBody() throws -> TemplateNode {
        var openerLoc = advance().loc
        var branches: [(TemplateExpr, [TemplateNode])] = []
        var otherwise: [TemplateNode] = []
        var opener = "if"
        while true {
            let test = try parseTuple(withCondexpr: false)
            let (body, end) = try parseBody(["elif", "else", "endif"], opener: opener, openerLoc: openerLoc, drop: false)
            branches.append((test, body))
            let endLoc = current.loc
            advance()
            if end == "elif" {
                opener = "elif"
                openerLoc = endLoc
                continue
            }
            if end == "else" {
                (otherwise, _) = try parseBody(["endif"], opener: "else", openerLoc: endLoc, drop: true)
            }
            break
        }
        return .if(branches, otherwise: otherwise)
    }

    private mutating func parseFor() throws -> TemplateNode {
        let loc = advance().loc
        let target = try parseAssignTarget(extraEnd: ["in"], withNamespace: false)
        guard skipName("in") else { throw unexpected("in") }
        let iterable = try parseTuple(withCondexpr: false, extraEnd: ["recursive"])
        var condition: TemplateExpr?
        if skipName("if") { condition = try withSoft(false) { try $0.parseExpression() } }
        if isName("recursive") { throw fail("recursive for loops are not supported", current.loc) }
        loopDepth += 1
        let (body, end) = try withSoft(false) {
            try $0.parseBody(["endfor", "else"], opener: "for", openerLoc: loc, drop: false)
        }
        loopDepth -= 1
        let elseLoc = current.loc
        advance()
        var otherwise: [TemplateNode] = []
        if end == "else" {
            (otherwise, _) = try withSoft(false) {
                try $0.parseBody(["endfor"], opener: "else", openerLoc: elseLoc, drop: true)
            }
        }
        return .for(
            TemplateForLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, loc: loc))
    }

    private mutating func parseSet() throws -> TemplateNode {
        let loc = advance().loc
        let target = try parseAssignTarget(extraEnd: [], withNamespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            return .set(target, value, loc)
        }
        return try withSoft(false) { p in
            var filters: [TemplateFilterRef] = []
            while p.skipOp("|") { filters.append(try p.parseFilterRef()) }
            let (body, _) = try p.parseBody(["endset"], opener: "set", openerLoc: loc, drop: true)
            return .setBlock(target, filters, body, loc)
        }
    }

    private mutating func parseMacro() throws -> TemplateNode {
        try withSoft(false) { try $0.parseMacroBody() }
    }

    private mutating func parseMacroBody() throws -> TemplateNode {
        let loc = advance().loc
        let (name, _) = try expectName()
        try expectOp("(")
        var params: [String] = []
        var defaults: [TemplateExpr?] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let (p, ploc) = try expectName()
            if skipOp("=") {
                defaults.append(try parseExpression())
            } else {
                if defaults.contains(where: { $0 != nil }) {
                    throw fail("a parameter without a default may not follow one with a default", ploc)
                }
                defaults.append(nil)
            }
            params.append(p)
        }
        try expectOp(")")
        macroNameUses.append([])
        let savedLoop = loopDepth
        loopDepth = 0
        let (body, _) = try parseBody(["endmacro"], opener: "macro", openerLoc: loc, drop: true)
        loopDepth = savedLoop
        let used = macroNameUses.popLast() ?? []
        let def = TemplateMacroDefinition(
            name: name, parameters: params, defaults: defaults, body: body,
            catchesVarargs: used.contains("varargs"), catchesKwargs: used.contains("kwargs"), loc: loc)
        return .macro(def)
    }

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .eof: return true
        case .op(")"): return true
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    private mutating func parseAssignTarget(extraEnd: Set<String>, withNamespace: Bool) throws -> TemplateAssignTarget {
        let loc = current.loc
        var items: [TemplateAssignTarget] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(try parseTargetItem(withNamespace: withNamespace))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            guard let only = items.first else { throw fail("expected an assignment target, got '\(current.describe)'", current.loc) }
            return only
        }
        return .tuple(items, loc)
    }

    private mutating func parseTargetItem(withNamespace: Bool) throws -> TemplateAssignTarget {
        let token = current
        switch token.kind {
        case .name(let n):
            if ["true", "false", "True", "False", "none", "None"].contains(n) {
                throw fail("can't assign to '\(n)'", token.loc)
            }
            advance()
            if withNamespace && isOp(".") {
                advance()
                let (attr, _) = try expectName()
                return .namespaceAttribute(n, attr, token.loc)
            }
            return .name(n)
        case .op("("):
            advance()
            try enter(token.loc)
            defer { depth -= 1 }
            let inner = try parseAssignTarget(extraEnd: [], withNamespace: withNamespace)
            try expectOp(")")
            return inner
        default:
            throw fail("can't assign to '\(token.describe)'", token.loc)
        }
    }

    // MARK: expressions

    mutating func parseExpression(withCondexpr: Bool = true) throws -> TemplateExpr {
        try enter(current.loc)
        defer { depth -= 1 }
        return withCondexpr ? try parseCondexpr() : try parseOr()
    }

    private mutating func parseCondexpr() throws -> TemplateExpr {
        let mark = unknownNames.count
        var expr = try parseOr()
        while isName("if") {
            // The whole inline if (including the part before `if`) is a soft frame.
            for i in mark..<unknownNames.count { unknownNames[i].soft = true }
            let loc = advance().loc
            let (test, otherwise) = try withSoft(true) { p -> (TemplateExpr, TemplateExpr?) in
                let test = try p.parseOr()
                var otherwise: TemplateExpr?
                if p.skipName("else") { otherwise = try p.parseExpression() }
                return (test, otherwise)
            }
            expr = try makeExpr(.conditional(test: test, then: expr, otherwise: otherwise), loc)
        }
        return expr
    }

    private mutating func parseOr() throws -> TemplateExpr {
        var left = try parseAnd()
        while isName("or") {
            let loc = advance().loc
            left = try makeExpr(.or(left, try parseAnd()), loc)
        }
        return left
    }

    private mutating func parseAnd() throws -> TemplateExpr {
        var left = try parseNot()
        while isName("and") {
            let loc = advance().loc
            left = try makeExpr(.and(left, try parseNot()), loc)
        }
        return left
    }

    private mutating func parseNot() throws -> TemplateExpr {
        if isName("not") {
            let loc = advance().loc
            try enter(loc)
            defer { depth -= 1 }
            return try makeExpr(.not(try parseNot()), loc)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> TemplateExpr {
        let first = try parseMath1()
        var ops: [(TemplateCompareOperator, TemplateExpr)] = []
        var loc = first.loc
        while true {
            let op: TemplateCompareOperator
            switch current.kind {
            case .op("=="): op = .eq
            case .op("!="): op = .ne
            case .op("<"): op = .lt
            case .op("<="): op = .le
            case .op(">"): op = .gt
            case .op(">="): op = .ge
            case .name("in"): op = .in
            case .name("not") where isName("in", peek()):
                op = .notIn
                if ops.isEmpty { loc = current.loc }
                advance()
            default:
                return try ops.isEmpty ? first : makeExpr(.compare(first, ops), loc)
            }
            if ops.isEmpty && op != .notIn { loc = current.loc }
            advance()
            ops.append((op, try parseMath1()))
        }
    }

    private mutating func parseMath1() throws -> TemplateExpr {
        var left = try parseConcat()
        while true {
            let op: TemplateBinaryOp
            if isOp("+") { op = .add } else if isOp("-") { op = .subtract } else { return left }
            let loc = advance().loc
            left = try makeExpr(.binary(op, left, try parseConcat()), loc)
        }
    }

    private mutating func parseConcat() throws -> TemplateExpr {
        let first = try parseMath2()
        guard isOp("~") else { return first }
        let loc = current.loc
        var items = [first]
        while skipOp("~") { items.append(try parseMath2()) }
        return try makeExpr(.concat(items), loc)
    }

    private mutating func parseMath2() throws -> TemplateExpr {
        var left = try parsePow()
        while true {
            let op: TemplateBinaryOp
            switch current.kind {
            case .op("*"): op = .multiply
            case .op("/"): op = .divide
            case .op("//"): op = .floorDivide
            case .op("%"): op = .modulo
            default: return left
            }
            let loc = advance().loc
            left = try makeExpr(.binary(op, left, try parsePow()), loc)
        }
    }

    private mutating func parsePow() throws -> TemplateExpr {
        var left = try parseUnary()
        while isOp("**") {
            let loc = advance().loc
            left = try makeExpr(.binary(.power, left, try parseUnary()), loc)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> TemplateExpr {
        let loc = current.loc
        try enter(loc)
        defer { depth -= 1 }
        var node: TemplateExpr
        if skipOp("-") {
            node = try makeExpr(.unary(.negate, try parseUnary(withFilter: false)), loc)
        } else if skipOp("+") {
            node = try makeExpr(.unary(.plus, try parseUnary(withFilter: false)), loc)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary() throws -> TemplateExpr {
        let token = current
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return try makeExpr(.literal(.bool(true)), token.loc)
            case "false", "False": return try makeExpr(.literal(.bool(false)), token.loc)
            case "none", "None": return try makeExpr(.literal(.none), token.loc)
            default:
                if !macroNameUses.isEmpty { macroNameUses[macroNameUses.count - 1].insert(n) }
                return try makeExpr(.name(n), token.loc)
            }
        case .string(let s):
            advance()
            var buffer = s
            while case .string(let more) = current.kind {
                buffer += more
                advance()
            }
            return try makeExpr(.literal(.string(buffer)), token.loc)
        case .integer(let i):
            advance()
            return try makeExpr(.literal(.int(i)), token.loc)
        case .float(let d):
            advance()
            return try makeExpr(.literal(.double(d)), token.loc)
        case .op("("):
            advance()
            try enter(token.loc)
            defer { depth -= 1 }
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            return try parseList()
        case .op("{"):
            return try parseDict()
        case .eof:
            throw fail("unexpected end of template, expected an expression", token.loc)
        default:
            throw fail("unexpected '\(token.describe)'", token.loc)
        }
    }

    mutating func parseTuple(
        withCondexpr: Bool = true, extraEnd: Set<String> = [], explicitParentheses: Bool = false
    ) throws -> TemplateExpr {
        let loc = current.loc
        var items: [TemplateExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(try parseExpression(withCondexpr: withCondexpr))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses {
                if current.isEOF { throw fail("unexpected end of template, expected an expression", current.loc) }
                throw fail("expected an expression, got '\(current.describe)'", current.loc)
            }
        }
        return try makeExpr(.tuple(items), loc)
    }

    private mutating func parseList() throws -> TemplateExpr {
        let loc = advance().loc
        try enter(loc)
        defer { depth -= 1 }
        var items: [TemplateExpr] = []
        while !isOp("]") {
            if !items.isEmpty { try expectOp(",") }
            if isOp("]") { break }
            items.append(try parseExpression())
        }
        try expectOp("]")
        return try makeExpr(.list(items), loc)
    }

    private mutating func parseDict() throws -> TemplateExpr {
        let loc = advance().loc
        try enter(loc)
        defer { depth -= 1 }
        var items: [(TemplateExpr, TemplateExpr)] = []
        while !isOp("}") {
            if !items.isEmpty { try expectOp(",") }
            if isOp("}") { break }
            let key = try parseExpression()
            try expectOp(":")
            let value = try parseExpression()
            items.append((key, value))
        }
        try expectOp("}")
        return try makeExpr(.dict(items), loc)
    }

    private mutating func parsePostfix(_ start: TemplateExpr) throws -> TemplateExpr {
        var node = start
        var steps = 0
        while true {
            steps += 1
            if steps > TemplateParser.maxNesting * 4 { throw fail("expression is too long", current.loc) }
            if isOp(".") || isOp("[") {
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    private mutating func parseFilterExpr(_ start: TemplateExpr) throws -> TemplateExpr {
        var node = start
        var steps = 0
        while true {
            steps += 1
            if steps > TemplateParser.maxNesting * 4 { throw fail("expression is too long", current.loc) }
            if isOp("|") {
                advance()
                let ref = try parseFilterRef()
                node = try makeExpr(.filter(node, ref), ref.loc)
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ node: TemplateExpr) throws -> TemplateExpr {
        let token = advance()
        if case .op(".") = token.kind {
            let attr = current
            advance()
            switch attr.kind {
            case .name(let n): return try makeExpr(.getattr(node, n), attr.loc)
            case .integer(let i): return try makeExpr(.getitem(node, try makeExpr(.literal(.int(i)), attr.loc)), attr.loc)
            default: throw fail("expected name or number", attr.loc)
            }
        }
        try enter(token.loc)
        defer { depth -= 1 }
        var args: [TemplateExpr] = []
        while !isOp("]") {
            if !args.isEmpty { try expectOp(",") }
            args.append(try parseSubscribed())
        }
        try expectOp("]")
        guard args.count != 1 else { return try makeExpr(.getitem(node, args[0]), token.loc) }
        return try makeExpr(.getitem(node, try makeExpr(.tuple(args), token.loc)), token.loc)
    }

    private mutating func parseSubscribed() throws -> TemplateExpr {
        let loc = current.loc
        var start: TemplateExpr?
        if !isOp(":") {
            let e = try parseExpression()
            if !isOp(":") { return e }
            start = e
        }
        advance()  // the colon
        var stop: TemplateExpr?
        var step: TemplateExpr?
        if !isOp(":") && !isOp("]") && !isOp(",") { stop = try parseExpression() }
        if skipOp(":") {
            if !isOp("]") && !isOp(",") { step = try parseExpression() }
        }
        return try makeExpr(.slice(start, stop, step), loc)
    }

    private mutating func parseCallArguments() throws -> TemplateCallArguments {
        let open = current.loc
        try expectOp("(")
        try enter(open)
        defer { depth -= 1 }
        var args = TemplateCallArguments()
        var requireComma = false
        func ensure(_ ok: Bool) throws {
            if !ok { throw fail("malformed argument list in a call", open) }
        }
        while !isOp(")") {
            if requireComma {
                try expectOp(",")
                if isOp(")") { break }
            }
            if isOp("*") {
                try ensure(args.star == nil && args.doubleStar == nil)
                advance()
                args.star = try parseExpression()
            } else if isOp("**") {
                try ensure(args.doubleStar == nil)
                advance()
                args.doubleStar = try parseExpression()
            } else if case .name(let key) = current.kind, isOp("=", peek()) {
                try ensure(args.doubleStar == nil)
                advance()
                advance()
                args.keywords.append((key, try parseExpression()))
            } else {
                try ensure(args.star == nil && args.doubleStar == nil && args.keywords.isEmpty)
                args.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOp(")")
        return args
    }

    private mutating func parseCall(_ node: TemplateExpr) throws -> TemplateExpr {
        let args = try parseCallArguments()
        return try makeExpr(.call(node, args), node.loc)
    }

    private mutating func dottedName() throws -> (String, TemplateSourceLoc) {
        var (name, loc) = try expectName()
        while isOp(".") {
            advance()
            name += "." + (try expectName()).0
        }
        return (name, loc)
    }

    private mutating func parseFilterRef() throws -> TemplateFilterRef {
        let (name, loc) = try dottedName()
        let filter = TemplateFilter.named(name)
        if filter == nil { unknownNames.append(("unknown filter '\(name)'", loc, soft)) }
        let args = isOp("(") ? try parseCallArguments() : TemplateCallArguments()
        return TemplateFilterRef(filter: filter, name: name, arguments: args, loc: loc)
    }

    private mutating func parseTest(_ node: TemplateExpr) throws -> TemplateExpr {
        let isLoc = advance().loc
        let negated = skipName("not")
        let (name, nameLoc) = try dottedName()
        let test = TemplateTest.named(name)
        if test == nil { unknownNames.append(("unknown test '\(name)'", nameLoc, soft)) }
        var args = TemplateCallArguments()
        if isOp("(") {
            args = try parseCallArguments()
        } else {
            switch current.kind {
            case .name("else"), .name("or"), .name("and"):
                break
            case .name("is"):
                throw fail("one test per 'is': tests cannot be chained", current.loc)
            case .name, .string, .integer, .float, .op("("), .op("["), .op("{"):
                let arg = try parsePostfix(try parsePrimary())
                args.positional = [arg]
            default:
                break
            }
        }
        return try makeExpr(.test(node, TemplateTestRef(test: test, name: name, arguments: args), negated: negated), isLoc)
    }
}
