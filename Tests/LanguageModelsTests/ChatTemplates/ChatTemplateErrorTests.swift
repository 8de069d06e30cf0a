@testable import LanguageModels
import Testing

/// Everything outside the supported subset, and every runtime failure, must throw a
/// `ChatTemplateError` naming the line and column of the construct at fault.
@Suite struct ChatTemplateErrorTests {
    /// Parses `source`, expecting a parse-time error.
    func parseError(_ source: String) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source: source)
            return nil
        } catch let e as ChatTemplateError {
            return e
        } catch {
            return nil
        }
    }

    @Test func errorDescriptionNamesTemplateLineAndColumn() {
        let e = parseError("line one\n{{ x | foo }}")
        #expect(e?.message == "unknown filter 'foo'")
        #expect(e?.line == 2)
        #expect(e?.column == 8)
        #expect(e?.description == "chat_template.jinja:2:8: unknown filter 'foo'")
        do {
            _ = try ChatTemplate(source: "{{ x|foo }}", name: "custom.jinja")
        } catch let e as ChatTemplateError {
            #expect(e.description == "custom.jinja:1:6: unknown filter 'foo'")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func unsupportedTagsFailAtParseTime() {
        for tag in ["{% include 'x.jinja' %}", "{% call m() %}x{% endcall %}", "{% filter upper %}x{% endfilter %}",
                    "{% extends 'base' %}", "{% import 'm' as m %}", "{% with x = 1 %}{% endwith %}", "{% block b %}{% endblock %}"]
        {
            let e = parseError(tag)
            #expect(e?.line == 1 && e?.column == 4, "\(tag)")
            #expect(e?.message.hasPrefix("unsupported tag") == true, "\(tag)")
        }
        #expect(parseError("{% frobnicate %}")?.message == "unknown tag 'frobnicate'")
        #expect(parseError("{% for x in xs recursive %}{% endfor %}")?.column == 16)
        #expect(parseError("{% endif %}")?.message == "unexpected tag 'endif'")
        #expect(parseError("{% if 1 %}{% endfor %}")?.message == "unexpected tag 'endfor'")
        #expect(parseError("{% break %}")?.message == "'break' outside loop")
    }

    @Test func unknownFiltersAndTestsFailAtParseTime() {
        #expect(parseError("{{ 'a'|frob }}")?.column == 8)
        let test = parseError("ok\n  {{ x is frob }}")
        #expect(test?.message == "unknown test 'frob'")
        #expect(test?.line == 2 && test?.column == 11)
        // Inside a for loop or macro the check is strict, as in Jinja.
        #expect(parseError("{% if x %}{% for y in z %}{{ y|frob }}{% endfor %}{% endif %}") != nil)
    }

    @Test func unknownFilterInsideIfFailsOnlyWhenRun() throws {
        // Jinja defers the check inside `if` blocks and inline ifs; so do we.
        #expect(try renderTemplate("{% if false %}{{ x|frob }}{% endif %}ok") == "ok")
        #expect(try renderTemplate("{{ x|frob if false else 'y' }}") == "y")
        let e = chatTemplateError("{% if true %}{{ x|frob }}{% endif %}ok")
        #expect(e?.message == "No filter named 'frob' found.")
        #expect(e?.column == 19)
    }

    @Test func syntaxErrors() {
        let unclosed = parseError("a\n{% if x %}\nb")
        #expect(unclosed?.line == 2 && unclosed?.column == 4)
        #expect(parseError("{{ 1 + }}") != nil)
        #expect(parseError("{{ 'abc }}")?.message == "unterminated string literal")
        #expect(parseError("{# never closed")?.message == "missing end of comment tag")
        #expect(parseError("{{ }}") != nil)
        #expect(parseError("{{ x") != nil)
        #expect(parseError("{{ (1 }}") != nil)
        #expect(parseError("{{ 1) }}") != nil)
        #expect(parseError("{% set 1 = 2 %}") != nil)
        #expect(parseError("{% macro f(a=1, b) %}{% endmacro %}") != nil)
        #expect(parseError("{{ a is defined is defined }}") != nil)
        #expect(parseError("{{ 1 ! 2 }}") != nil)
        #expect(parseError("{{ '\\N{BULLET}' }}") != nil)
        #expect(parseError("{{ 99999999999999999999 }}")?.message == "integer literal too large")
    }

    @Test func runtimeTypeErrorsNameTheOperator() {
        let e = chatTemplateError("{{ 1 + 'a' }}")
        #expect(e?.message == "unsupported operand type(s) for +: 'int' and 'str'")
        #expect(e?.line == 1 && e?.column == 6)
        #expect(chatTemplateError("{{ 'a' + 1 }}")?.message == "can only concatenate str (not \"int\") to str")
        #expect(chatTemplateError("{{ 1 < 'a' }}")?.message == "'<' not supported between instances of 'int' and 'str'")
        #expect(chatTemplateError("{{ 1 / 0 }}")?.message == "division by zero")
        #expect(chatTemplateError("{{ 1 // 0 }}") != nil)
        #expect(chatTemplateError("{{ 1 % 0 }}") != nil)
        #expect(chatTemplateError("{{ none + 1 }}") != nil)
        #expect(chatTemplateError("{{ -'a' }}") != nil)
        #expect(chatTemplateError("{{ 1 in 5 }}") != nil)
        #expect(chatTemplateError("{{ 9223372036854775807 + 1 }}") != nil)
        #expect(chatTemplateError("{{ 5|first }}") != nil)
        #expect(chatTemplateError("{{ 5|length }}") != nil)
        #expect(chatTemplateError("{{ [1]|items }}") != nil)
        #expect(chatTemplateError("{{ {[1]: 2} }}")?.message == "unhashable type: 'list'")
        #expect(chatTemplateError("{{ '%s' % 1 }}") != nil)
        // Generators have no length and print only as a memory address in Jinja.
        let users: [String: TemplateValue] = ["messages": [.message(role: "user", content: "a")]]
        #expect(chatTemplateError("{{ messages|selectattr('role', 'eq', 'user')|length }}", users)?.message
            == "object of type 'generator' has no len()")
        #expect(chatTemplateError("{{ messages|map(attribute='role') }}", users) != nil)
        #expect(chatTemplateError("{{ messages|reverse|last }}", users) != nil)
    }

    @Test func undefinedValuesFailWhereJinjaFails() {
        let attribute = chatTemplateError("{{ foo.bar }}")
        #expect(attribute?.message == "'foo' is undefined")
        #expect(attribute?.column == 8)
        #expect(chatTemplateError("{{ foo() }}")?.message == "'foo' is undefined")
        #expect(chatTemplateError("{{ foo[0] }}") != nil)
        #expect(chatTemplateError("{{ foo + 1 }}") != nil)
        #expect(chatTemplateError("{{ foo < 1 }}") != nil)
        #expect(chatTemplateError("{{ foo|tojson }}")?.message == "Object of type Undefined is not JSON serializable")
        #expect(chatTemplateError("{{ foo|int }}") != nil)
        #expect(chatTemplateError("{{ foo.bar is defined }}") != nil)
        #expect(chatTemplateError("{{ d.missing.deeper }}", ["d": [:]]) != nil)
    }

    @Test func unknownMethodsAndWrongArgumentCounts() {
        #expect(chatTemplateError("{{ 'a'.zzz() }}")?.message == "''a'.zzz' is undefined")
        #expect(chatTemplateError("{{ 'a'.zfill(1, 2) }}") != nil)
        #expect(chatTemplateError("{{ 'a'.format(1) }}")?.message == "unsupported method 'str.format'")
        #expect(chatTemplateError("{{ 'a'.strip(1, 2) }}")?.message == "strip() takes at most 1 argument (2 given)")
        #expect(chatTemplateError("{{ 'a'.upper(1) }}") != nil)
        #expect(chatTemplateError("{{ 'a'|trim('a', 'b') }}")?.message == "trim() takes at most 1 argument (2 given)")
        #expect(chatTemplateError("{{ 'a'|replace('a') }}") != nil)
        #expect(chatTemplateError("{{ 'a'|default(1, 2, 3) }}") != nil)
        #expect(chatTemplateError("{{ 'a'|upper(1) }}") != nil)
        #expect(chatTemplateError("{{ 'a'|tojson(indent=2, bogus=1) }}") != nil)
        #expect(chatTemplateError("{{ range() }}") != nil)
        #expect(chatTemplateError("{{ range(1, 2, 0) }}") != nil)
        #expect(chatTemplateError("{{ range(1000000) }}") != nil)
        #expect(chatTemplateError("{{ raise_exception() }}") != nil)
        #expect(chatTemplateError("{{ 'a'() }}")?.message == "'str' object is not callable")
        let macro = chatTemplateError("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}")
        #expect(macro?.message == "macro 'm' takes not more than 1 argument(s)")
        #expect(macro?.column == 34)
        #expect(chatTemplateError("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}") != nil)
        #expect(chatTemplateError("{% set xs = [] %}{{ xs.append(1) }}") != nil)
        #expect(chatTemplateError("{{ d.update({}) }}", ["d": [:]]) != nil)
    }

    @Test func iterationAndAssignmentErrors() {
        #expect(chatTemplateError("{% for x in 5 %}{% endfor %}")?.message == "'int' object is not iterable")
        #expect(chatTemplateError("{% for x in none %}{% endfor %}") != nil)
        #expect(chatTemplateError("{% for a, b in [[1, 2, 3]] %}{% endfor %}")?.message == "too many values to unpack (expected 2)")
        #expect(chatTemplateError("{% for a, b in [1] %}{% endfor %}") != nil)
        #expect(chatTemplateError("{% set x = 1 %}{% set x.y = 2 %}")?.message == "cannot assign attribute on non-namespace object")
        #expect(chatTemplateError("{% set ns = namespace() %}{% set ns._x = 1 %}") != nil)
        #expect(chatTemplateError("{{ namespace(_x=1) }}") != nil)
        #expect(chatTemplateError("{{ [1, 2][::0] }}")?.message == "slice step cannot be zero")
        #expect(chatTemplateError("{{ (5)[1:] }}")?.message == "'int' object is not subscriptable")
    }

    @Test func raiseExceptionCarriesTheExactMessage() throws {
        do {
            _ = try renderTemplate("line\n  {{ raise_exception('Roles must alternate: ' ~ 2) }}")
            Issue.record("expected ChatTemplateRaised")
        } catch let e as ChatTemplateRaised {
            #expect(e.message == "Roles must alternate: 2")
            #expect(e.line == 2 && e.column == 6)
            #expect(e.description == "chat_template.jinja:2:6: raise_exception: Roles must alternate: 2")
        }
    }

    @Test func runawayTemplatesAreStopped() {
        let recursion = chatTemplateError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        #expect(recursion?.message.contains("recursion depth") == true)
        let big = chatTemplateError("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")
        #expect(big?.message.contains("output exceeds") == true)
        #expect(chatTemplateError("{{ 'x' * 100000000000 }}") != nil)
        #expect(chatTemplateError("{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}") != nil)
        // Operations whose result would be huge are refused before building it.
        let huge = [
            "{{ [[[1]]]|tojson(indent=60000000) }}",
            "{{ ['x' * 60000000] * 100 }}",
            "{{ (['x' * 60000000] * 100)|tojson }}",
            "{{ ('x' * 1000000).join(range(100)|map('string')|list) }}",
            "{{ ('a' * 1000)|replace('', 'b' * 100000) }}",
            "{{ ('a' * 1000).replace('a', 'b' * 100000) }}",
            "{{ ('a\n' * 100000)|indent(1000) }}",
            "{{ range(10 ** 18) }}",
            "{{ range(-9223372036854775807, 9223372036854775807) }}",
            "{{ 'x'|center(100000000) }}",
        ]
        for source in huge {
            #expect(chatTemplateError(source) != nil, "\(source)")
        }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let depth = 5000
        let cases = [
            "{{ " + String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth) + " }}",
            "{{ " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + " }}",
            "{{ " + String(repeating: "not ", count: depth) + "x }}",
            "{{ " + String(repeating: "- ", count: depth) + "1 }}",
            "{{ 1" + String(repeating: " + 1", count: depth) + " }}",
            "{{ x" + String(repeating: ".a", count: depth) + " }}",
            "{{ x" + String(repeating: "|trim", count: depth) + " }}",
            "{{ 1" + String(repeating: " if x else 1", count: depth) + " }}",
            String(repeating: "{% if true %}", count: depth) + String(repeating: "{% endif %}", count: depth),
            String(repeating: "{% for x in [1] %}", count: depth) + String(repeating: "{% endfor %}", count: depth),
        ]
        for source in cases {
            do {
                _ = try renderTemplate(source)
                Issue.record("expected a nesting error")
            } catch let e as ChatTemplateError {
                #expect(e.message.contains("too") || e.message.contains("deep"), "\(e)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        // Deep macro recursion through nested blocks and expressions stops with an error too.
        let nested = String(repeating: "x|default(", count: 18) + "f(n - 1)" + String(repeating: ")", count: 18)
        let recursive = "{% macro f(n) %}{% if n > 0 %}{{ " + nested + " }}{% endif %}{% endmacro %}{{ f(254) }}"
        #expect(chatTemplateError(recursive)?.message.contains("nests too deeply") == true)
        // A value nested too deeply through a loop is refused too.
        let grow = "{% set ns = namespace(v=[]) %}{% for i in range(5000) %}{% set ns.v = [ns.v] %}{% endfor %}"
        #expect(chatTemplateError(grow)?.message == "value nests too deeply")
    }
}
