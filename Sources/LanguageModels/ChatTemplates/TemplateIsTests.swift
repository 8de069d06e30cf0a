/// The `is` tests a template may use; any other name is rejected when the template is parsed.
enum TemplateTest: String, CaseIterable {
    case defined, undefined, none, boolean, `false`, `true`, integer, float, number, string, mapping, sequence
    case iterable, callable, lower, upper, odd, even, divisibleby, sameas, eq, ne, lt, le, gt, ge, `in`
    case escaped, filter, test

    static func named(_ name: String) -> TemplateTest? {
        switch name {
        case "equalto", "==": return .eq
        case "!=": return .ne
        case "lessthan", "<": return .lt
        case "<=": return .le
        case "greaterthan", ">": return .gt
        case ">=": return .ge
        default: return TemplateTest(rawValue: name)
        }
    }
}

enum TemplateTestRunner {
    static func apply(_ test: TemplateTest, name: String, _ v: TemplateValue, _ args: TemplateArguments) throws -> Bool {
        func other() throws -> TemplateValue {
            let slots = try args.bind(name, ["other"], required: 1)
            return slots[0] ?? .none
        }
        func noArgs() throws { try args.noArguments(name) }

        switch test {
        case .defined:
            try noArgs()
            return !v.isUndefined
        case .undefined:
            try noArgs()
            return v.isUndefined
        case .none:
            try noArgs()
            if case .none = v { return true }
            return false
        case .boolean:
            try noArgs()
            if case .bool = v { return true }
            return false
        case .false:
            try noArgs()
            return v == .bool(false)
        case .true:
            try noArgs()
            return v == .bool(true)
        case .integer:
            try noArgs()
            if case .int = v { return true }
            return false
        case .float:
            try noArgs()
            if case .double = v { return true }
            return false
        case .number:
            try noArgs()
            return PyOps.number(v) != nil
        case .string:
            try noArgs()
            if case .string = v { return true }
            return false
        case .mapping:
            try noArgs()
            if case .dictionary = v { return true }
            return false
        case .sequence:
            try noArgs()
            switch v {
            case .string, .list, .tuple, .dictionary, .undefined: return true
            default:
                if let s = v.sequenceState, case .range = s.flavor { return true }
                return false
            }
        case .iterable:
            try noArgs()
            switch v {
            case .string, .list, .tuple, .dictionary, .undefined: return true
            case .object(let o):
                switch o.kind {
                case .loop, .sequence: return true
                default: return false
                }
            default: return false
            }
        case .callable:
            try noArgs()
            switch v {
            case .undefined: return true
            case .object(let o):
                switch o.kind {
                case .function, .method, .macro: return true
                case .namespace, .loop, .sequence: return false
                }
            default: return false
            }
        case .lower:
            try noArgs()
            return PyStr.isLower(try PyFormat.str(v))
        case .upper:
            try noArgs()
            return PyStr.isUpper(try PyFormat.str(v))
        case .odd, .even:
            try noArgs()
            if case .undefined = v { throw TemplateFailure("test '\(name)' on an undefined value") }
            let r = try PyOps.modulo(v, .int(2))
            return PyOps.equals(r, .int(test == .odd ? 1 : 0))
        case .divisibleby:
            let slots = try args.bind(name, ["num"], required: 1)
            if case .undefined = v { throw TemplateFailure("test '\(name)' on an undefined value") }
            return PyOps.equals(try PyOps.modulo(v, slots[0] ?? .none), .int(0))
        case .sameas:
            let o = try other()
            switch (v, o) {
            case (.none, .none), (.undefined, .undefined): return true
            case let (.bool(a), .bool(b)): return a == b
            case let (.int(a), .int(b)): return a == b && (-5...256).contains(a)
            case let (.object(a), .object(b)): return a === b
            default: return false
            }
        case .eq:
            return PyOps.equals(v, try other())
        case .ne:
            return !PyOps.equals(v, try other())
        case .lt, .le, .gt, .ge:
            let o = try other()
            if v.isUndefined || o.isUndefined { throw TemplateFailure("comparison with an undefined value") }
            let op: PyOps.CompareOp = test == .lt ? .lt : test == .le ? .le : test == .gt ? .gt : .ge
            return try PyOps.compare(op, v, o)
        case .in:
            let slots = try args.bind(name, ["seq"], required: 1)
            return try PyOps.contains(slots[0] ?? .none, v)
        case .escaped:
            try noArgs()
            return false
        case .filter:
            try noArgs()
            if case .string(let s) = v { return TemplateFilter.named(s) != nil }
            return false
        case .test:
            try noArgs()
            if case .string(let s) = v { return TemplateTest.named(s) != nil }
            return false
        }
    }
}
