/// Walks the parsed template and produces its output.
final class TemplateInterpreter {
    static let maxOutputBytes = 64 << 20
    static let maxMacroDepth = 256
    static let maxIterations = 10_000_000
    static let maxValueNesting = 400
    /// Deepest combined nesting of statement blocks and expressions being evaluated (macro
    /// recursion included); keeps the worst case well inside the render thread's stack.
    static let maxEvaluationDepth = 1000

    let templateName: String
    private(set) var out = ""
    /// Bytes held by output buffers suspended while a macro or `set` block captures output.
    private var suspendedBytes = 0
    private var captureDepth = 0
    private(set) var spans: [Range<Int>] = []
    private var macroDepth = 0
    private var iterations = 0
    private var evaluationDepth = 0
    /// Objects whose references are dropped at the end, so reference cycles do not leak.
    private var namespaces: [TemplateObject] = []
    private var macros: [TemplateMacroClosure] = []

    enum Flow { case normal, breakLoop, continueLoop }

    init(templateName: String) { self.templateName = templateName }

    deinit { releaseObjects() }

    func releaseObjects() {
        for ns in namespaces { ns.attributes = OrderedDict() }
        for m in macros { m.scope = nil }
        namespaces.removeAll()
        macros.removeAll()
    }

    func render(_ nodes: [TemplateNode], variables: [String: TemplateValue]) throws -> String {
        let root = TemplateScope(parent: nil)
        for f in TemplateBuiltinFunction.allCases { root.vars[f.name] = .object(TemplateObject(.function(f))) }
        for (k, v) in variables { root.vars[k] = v }
        let scope = TemplateScope(parent: root)
        _ = try exec(nodes, scope)
        releaseObjects()
        return out
    }

    // MARK: output

    private func emit(_ s: String, at loc: TemplateSourceLoc) throws {
        out += s
        if out.utf8.count + suspendedBytes > TemplateInterpreter.maxOutputBytes {
            throw TemplateLocatedFailure(message: "output exceeds \(TemplateInterpreter.maxOutputBytes >> 20) MiB", loc: loc)
        }
    }

    /// Runs `body` with output redirected into a fresh buffer and returns what it wrote.
    private func capture(_ body: () throws -> Void) throws -> String {
        let saved = out
        suspendedBytes += saved.utf8.count
        captureDepth += 1
        out = ""
        defer {
            captureDepth -= 1
            suspendedBytes -= saved.utf8.count
        }
        do {
            try body()
        } catch {
            out = saved
            throw error
        }
        let captured = out
        out = saved
        return captured
    }

    // MARK: statements

    private func enterNesting(_ loc: TemplateSourceLoc) throws {
        evaluationDepth += 1
        if evaluationDepth > TemplateInterpreter.maxEvaluationDepth {
            throw TemplateLocatedFailure(message: "template nests too deeply while rendering (macro recursion?)", loc: loc)
        }
    }

    func exec(_ nodes: [TemplateNode], _ scope: TemplateScope) throws -> Flow {
        try enterNesting(.unknown)
        defer { evaluationDepth -= 1 }
        for node in nodes {
            switch node {
            case .text(let s):
                try emit(s, at: .unknown)
            case .output(let e):
                let v = try eval(e, scope)
                let s: String
                do { s = try PyFormat.str(v) } catch let f as TemplateFailure {
                    throw TemplateLocatedFailure(message: f.message, loc: e.loc)
                }
                try emit(s, at: e.loc)
            case .if(let branches, let otherwise):
                var taken = false
                for (test, body) in branches where PyOps.truthy(try eval(test, scope)) {
                    taken = true
                    let flow = try exec(body, scope)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try exec(otherwise, scope)
                    if flow != .normal { return flow }
                }
            case .for(let loop):
                let flow = try execFor(loop, scope)
                if flow != .normal { return flow }
            case .set(let target, let expr, let loc):
                try assign(target, try eval(expr, scope), scope, loc)
            case .setBlock(let target, let filters, let body, let loc):
                // The body has a scope of its own (its sets stay inside); a break or continue in it acts on
                // the enclosing loop.
                var flow = Flow.normal
                var value = TemplateValue.string(try capture { flow = try exec(body, TemplateScope(parent: scope)) })
                // A break or continue leaves before the assignment, as Jinja's compiled loop does.
                if flow != .normal { return flow }
                for f in filters { value = try applyFilterRef(f, value, scope) }
                try assign(target, value, scope, loc)
            case .macro(let def):
                let closure = TemplateMacroClosure(definition: def, scope: scope)
                macros.append(closure)
                scope.vars[def.name] = .object(TemplateObject(.macro(closure)))
            case .generation(let body, _):
                let start = out.utf8.count
                let inner = TemplateScope(parent: scope)
                _ = try exec(body, inner)
                if captureDepth == 0 { spans.append(start..<out.utf8.count) }
            case .break:
                return .breakLoop
            case .continue:
                return .continueLoop
            }
        }
        return .normal
    }

    private func countIteration(_ loc: TemplateSourceLoc) throws {
        iterations += 1
        if iterations > TemplateInterpreter.maxIterations {
            throw TemplateLocatedFailure(message: "template runs too long (over \(TemplateInterpreter.maxIterations) steps)", loc: loc)
        }
    }

    private func execFor(_ loop: TemplateForLoop, _ scope: TemplateScope) throws -> Flow {
        let iterable = try eval(loop.iterable, scope)
        var items: [TemplateValue]
        do { items = try PyOps.iterate(iterable) } catch let f as TemplateFailure {
            throw TemplateLocatedFailure(message: f.message, loc: loop.iterable.loc)
        }
        if let condition = loop.condition {
            var kept: [TemplateValue] = []
            for item in items {
                try countIteration(loop.loc)
                let s = TemplateScope(parent: scope)
                try assign(loop.target, item, s, loop.loc)
                if PyOps.truthy(try eval(condition, s)) { kept.append(item) }
            }
            items = kept
        }
        // The else block has its own scope, like the loop body.
        if items.isEmpty { return try exec(loop.otherwise, TemplateScope(parent: scope)) }
        for i in items.indices {
            try countIteration(loop.loc)
            let s = TemplateScope(parent: scope)
            try assign(loop.target, items[i], s, loop.loc)
            let state = TemplateObject(.loop(TemplateLoopState(items: items, index0: i)))
            s.vars["loop"] = .object(state)
            if try exec(loop.body, s) == .breakLoop { break }
        }
        return .normal
    }

    private func assign(_ target: TemplateAssignTarget, _ value: TemplateValue, _ scope: TemplateScope, _ loc: TemplateSourceLoc) throws {
        switch target {
        case .name(let n):
            scope.vars[n] = value
        case .namespaceAttribute(let ns, let attr, let aloc):
            guard case .object(let o)? = scope.lookup(ns), case .namespace = o.kind else {
                throw TemplateLocatedFailure(message: "cannot assign attribute on non-namespace object", loc: aloc)
            }
            if attr.hasPrefix("_") {
                throw TemplateLocatedFailure(
                    message: "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attr)'",
                    loc: aloc)
            }
            if PyOps.nestingExceeds(value, TemplateInterpreter.maxValueNesting) {
                throw TemplateLocatedFailure(message: "value nests too deeply", loc: aloc)
            }
            o.attributes[attr] = value
        case .tuple(let targets, let tloc):
            let items: [TemplateValue]
            do { items = try PyOps.iterate(value) } catch {
                throw TemplateLocatedFailure(message: "cannot unpack non-iterable \(PyFormat.typeName(value)) object", loc: tloc)
            }
            if case .undefined = value {
                throw TemplateLocatedFailure(message: "cannot unpack an undefined value", loc: tloc)
            }
            if items.count > targets.count {
                throw TemplateLocatedFailure(message: "too many values to unpack (expected \(targets.count))", loc: tloc)
            }
            if items.count < targets.count {
                throw TemplateLocatedFailure(
                    message: "not enough values to unpack (expected \(targets.count), got \(items.count))", loc: tloc)
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope, loc) }
        }
    }

    // MARK: expressions

    func eval(_ e: TemplateExpr, _ scope: TemplateScope) throws -> TemplateValue {
        try enterNesting(e.loc)
        defer { evaluationDepth -= 1 }
        do {
            return try evalNode(e, scope)
        } catch let f as TemplateFailure {
            throw TemplateLocatedFailure(message: f.message, loc: e.loc)
        }
    }

    /// How an expression that produced `undefined` is named in errors.
    private func describe(_ e: TemplateExpr) -> String {
        switch e.kind {
        case .name(let n): return n
        case .getattr(let base, let attr): return describe(base) + "." + attr
        case .getitem(let base, let idx):
            if case .literal(let v) = idx.kind, let r = try? PyFormat.repr(v) { return describe(base) + "[" + r + "]" }
            return describe(base) + "[...]"
        case .call(let callee, _): return describe(callee) + "(...)"
        case .literal(let v): return (try? PyFormat.repr(v)) ?? "value"
        default: return "value"
        }
    }

    private func undefinedError(_ e: TemplateExpr) -> TemplateFailure {
        TemplateFailure("'\(describe(e))' is undefined")
    }

    /// Evaluates an operand that must not be undefined.
    private func defined(_ e: TemplateExpr, _ scope: TemplateScope) throws -> TemplateValue {
        let v = try eval(e, scope)
        if case .undefined = v { throw TemplateLocatedFailure(message: undefinedError(e).message, loc: e.loc) }
        return v
    }

    private func checkNesting(_ v: TemplateValue) throws -> TemplateValue {
        if PyOps.nestingExceeds(v, TemplateInterpreter.maxValueNesting) { throw TemplateFailure("value nests too deeply") }
        return v
    }

    private func evalNode(_ e: TemplateExpr, _ scope: TemplateScope) throws -> TemplateValue {
        switch e.kind {
        case .literal(let v):
            return v
        case .name(let n):
            return scope.lookup(n) ?? .undefined
        case .list(let items):
            return try checkNesting(.list(try items.map { try eval($0, scope) }))
        case .tuple(let items):
            return try checkNesting(.tuple(try items.map { try eval($0, scope) }))
        case .dict(let pairs):
            var d = OrderedDict()
            for (k, v) in pairs {
                let key = try eval(k, scope)
                do { try PyOps.checkHashable(key) } catch let f as TemplateFailure {
                    throw TemplateLocatedFailure(message: f.message, loc: k.loc)
                }
                d[key: key] = try eval(v, scope)
            }
            return try checkNesting(.dictionary(d))
        case .getattr(let base, let attr):
            let v = try eval(base, scope)
            if case .undefined = v { throw undefinedError(base) }
            return try TemplateBuiltins.attribute(of: v, attr)
        case .getitem(let base, let index):
            let v = try eval(base, scope)
            if case .undefined = v { throw undefinedError(base) }
            if case .slice(let start, let stop, let step) = index.kind {
                let bounds = try [start, stop, step].map { try $0.map { try eval($0, scope) } }
                return try TemplateBuiltins.slice(v, bounds[0], bounds[1], bounds[2])
            }
            return try TemplateBuiltins.item(of: v, try eval(index, scope))
        case .slice:
            throw TemplateFailure("slice outside of a subscript")
        case .call(let callee, let args):
            let fn = try eval(callee, scope)
            if case .undefined = fn { throw undefinedError(callee) }
            let evaluated = try evalArguments(args, scope)
            return try call(fn, evaluated, at: e.loc)
        case .filter(let input, let ref):
            return try applyFilterRef(ref, try eval(input, scope), scope)
        case .test(let input, let ref, let negated):
            let v = try eval(input, scope)
            guard let test = ref.test else { throw TemplateFailure("No test named '\(ref.name)' found.") }
            let args = try evalArguments(ref.arguments, scope)
            let r = try TemplateTestRunner.apply(test, name: ref.name, v, args)
            return .bool(negated ? !r : r)
        case .unary(let op, let operand):
            let v = try defined(operand, scope)
            return op == .negate ? try PyOps.negate(v) : try PyOps.plus(v)
        case .binary(let op, let l, let r):
            let a = try defined(l, scope)
            let b = try defined(r, scope)
            switch op {
            case .add: return try PyOps.add(a, b)
            case .subtract: return try PyOps.subtract(a, b)
            case .multiply: return try PyOps.multiply(a, b)
            case .divide: return try PyOps.divide(a, b)
            case .floorDivide: return try PyOps.floorDivide(a, b)
            case .modulo: return try PyOps.modulo(a, b)
            case .power: return try PyOps.power(a, b)
            }
        case .concat(let items):
            var s = ""
            for item in items {
                s += try PyFormat.str(try eval(item, scope))
                try PyOps.checkedSize(s.utf8.count)
            }
            return .string(s)
        case .compare(let first, let ops):
            var left = try eval(first, scope)
            var leftExpr = first
            for (op, rhsExpr) in ops {
                let right = try eval(rhsExpr, scope)
                let ok: Bool
                switch op {
                case .eq: ok = PyOps.equals(left, right)
                case .ne: ok = !PyOps.equals(left, right)
                case .in, .notIn:
                    let r = try PyOps.contains(right, left)
                    ok = op == .in ? r : !r
                case .lt, .le, .gt, .ge:
                    if case .undefined = left { throw undefinedError(leftExpr) }
                    if case .undefined = right { throw undefinedError(rhsExpr) }
                    let cop: PyOps.CompareOp = op == .lt ? .lt : op == .le ? .le : op == .gt ? .gt : .ge
                    ok = try PyOps.compare(cop, left, right)
                }
                if !ok { return .bool(false) }
                left = right
                leftExpr = rhsExpr
            }
            return .bool(true)
        case .and(let l, let r):
            let a = try eval(l, scope)
            return PyOps.truthy(a) ? try eval(r, scope) : a
        case .or(let l, let r):
            let a = try eval(l, scope)
            return PyOps.truthy(a) ? a : try eval(r, scope)
        case .not(let operand):
            return .bool(!PyOps.truthy(try eval(operand, scope)))
        case .conditional(let test, let then, let otherwise):
            if PyOps.truthy(try eval(test, scope)) { return try eval(then, scope) }
            return try otherwise.map { try eval($0, scope) } ?? .undefined
        }
    }

    private func evalArguments(_ args: TemplateCallArguments, _ scope: TemplateScope) throws -> TemplateArguments {
        var result = TemplateArguments()
        result.positional = try args.positional.map { try eval($0, scope) }
        if let star = args.star {
            let v = try eval(star, scope)
            do { result.positional += try PyOps.iterate(v) } catch let f as TemplateFailure {
                throw TemplateLocatedFailure(message: f.message, loc: star.loc)
            }
        }
        result.keywords = try args.keywords.map { ($0.0, try eval($0.1, scope)) }
        if let dstar = args.doubleStar {
            let v = try eval(dstar, scope)
            guard case .dictionary(let d) = v else {
                throw TemplateLocatedFailure(message: "argument after ** must be a mapping, not \(PyFormat.typeName(v))", loc: dstar.loc)
            }
            for e in d.entries {
                guard case .string(let k) = e.key else {
                    throw TemplateLocatedFailure(message: "keywords must be strings", loc: dstar.loc)
                }
                if result.keywords.contains(where: { $0.0 == k }) {
                    throw TemplateLocatedFailure(message: "got multiple values for keyword argument '\(k)'", loc: dstar.loc)
                }
                result.keywords.append((k, e.value))
            }
        }
        return result
    }

    private func applyFilterRef(_ ref: TemplateFilterRef, _ input: TemplateValue, _ scope: TemplateScope) throws -> TemplateValue {
        guard let filter = ref.filter else {
            throw TemplateLocatedFailure(message: "No filter named '\(ref.name)' found.", loc: ref.loc)
        }
        let args = try evalArguments(ref.arguments, scope)
        do {
            return try TemplateFilters.apply(filter, name: ref.name, input, args, interpreter: self)
        } catch let f as TemplateFailure {
            throw TemplateLocatedFailure(message: f.message, loc: ref.loc)
        }
    }

    // MARK: calls

    func call(_ fn: TemplateValue, _ args: TemplateArguments, at loc: TemplateSourceLoc) throws -> TemplateValue {
        guard case .object(let o) = fn else {
            throw TemplateFailure("'\(PyFormat.typeName(fn))' object is not callable")
        }
        switch o.kind {
        case .function(let f):
            switch f {
            case .raiseException:
                let slots = try args.bind("raise_exception", ["message"], required: 1)
                let message = try PyFormat.str(slots[0] ?? .none)
                throw ChatTemplateRaised(
                    message: message, line: Int(loc.line), column: Int(loc.column), templateName: templateName)
            case .namespace:
                let ns = TemplateObject(.namespace)
                let attrs = try TemplateBuiltins.makeDict(args, function: "namespace")
                for e in attrs.entries {
                    if case .string(let k) = e.key, k.hasPrefix("_") {
                        throw TemplateFailure(
                            "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(k)'")
                    }
                }
                ns.attributes = attrs
                namespaces.append(ns)
                return .object(ns)
            case .dict:
                return .dictionary(try TemplateBuiltins.makeDict(args, function: "dict"))
            case .range:
                return try TemplateBuiltins.range(args)
            case .strftimeNow:
                let slots = try args.bind("strftime_now", ["format"], required: 1)
                guard case .string(let format)? = slots[0] else {
                    throw TemplateFailure("strftime() argument 1 must be str")
                }
                return .string(try TemplateTimeFormat.now(format))
            }
        case .method(let receiver, let name):
            return try TemplateBuiltins.callMethod(receiver, name, args)
        case .macro(let closure):
            return try callMacro(closure, args, at: loc)
        case .namespace, .loop, .sequence:
            throw TemplateFailure("'\(PyFormat.typeName(fn))' object is not callable")
        }
    }

    private func callMacro(_ closure: TemplateMacroClosure, _ args: TemplateArguments, at loc: TemplateSourceLoc) throws -> TemplateValue {
        let def = closure.definition
        guard let defining = closure.scope else { throw TemplateFailure("macro '\(def.name)' is no longer available") }
        macroDepth += 1
        defer { macroDepth -= 1 }
        if macroDepth > TemplateInterpreter.maxMacroDepth {
            throw TemplateFailure("maximum macro recursion depth (\(TemplateInterpreter.maxMacroDepth)) exceeded")
        }
        try countIteration(loc)
        let s = TemplateScope(parent: defining)
        var bound = [Bool](repeating: false, count: def.parameters.count)
        var extra: [TemplateValue] = []
        for (i, v) in args.positional.enumerated() {
            if i < def.parameters.count {
                s.vars[def.parameters[i]] = v
                bound[i] = true
            } else {
                extra.append(v)
            }
        }
        if !extra.isEmpty && !def.catchesVarargs {
            throw TemplateFailure(
                "macro '\(def.name)' takes not more than \(def.parameters.count) argument(s)")
        }
        var extraKeywords = OrderedDict()
        for (k, v) in args.keywords {
            if let i = def.parameters.firstIndex(of: k) {
                if bound[i] { throw TemplateFailure("macro '\(def.name)' got multiple values for argument '\(k)'") }
                s.vars[k] = v
                bound[i] = true
            } else if def.catchesKwargs {
                extraKeywords[k] = v
            } else {
                throw TemplateFailure("macro '\(def.name)' takes no keyword argument '\(k)'")
            }
        }
        for (i, p) in def.parameters.enumerated() where !bound[i] {
            if let d = def.defaults[i] {
                s.vars[p] = try eval(d, s)
            } else {
                s.vars[p] = .undefined
            }
        }
        if def.catchesVarargs { s.vars["varargs"] = .tuple(extra) }
        if def.catchesKwargs { s.vars["kwargs"] = .dictionary(extraKeywords) }
        let text = try capture { _ = try exec(def.body, s) }
        return .string(text)
    }

    /// Calls a filter or test by name at runtime (for `map`, `select` and friends).
    func callFilterByName(_ name: String, _ input: TemplateValue, _ args: TemplateArguments) throws -> TemplateValue {
        guard let f = TemplateFilter.named(name) else { throw TemplateFailure("unknown filter '\(name)'") }
        return try TemplateFilters.apply(f, name: name, input, args, interpreter: self)
    }
}
