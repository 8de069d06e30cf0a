import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Environments

@Suite("Rendering")
struct RenderingTests {
    /// States of one episode with a fixed policy.
    func episode(_ id: String, action: (Int) -> Action, steps: Int = 60) throws -> (Environment, [[Double]]) {
        let env = try Registry.make(id)
        _ = env.reset(seed: 1)
        let inner = (env as! Wrapper).unwrapped as! StatefulEnvironment
        var states = [inner.state]
        for t in 0..<steps {
            let step = try env.step(action(t))
            states.append(inner.state)
            if step.terminated || step.truncated { break }
        }
        return (env, states)
    }

    @Test("every classic-control env renders a well-formed animated SVG with one frame per state",
          arguments: ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"])
    func svg(id: String) throws {
        let continuous = id.contains("Continuous") || id.contains("Pendulum")
        let (env, states) = try episode(id, action: { t in continuous ? .continuous([t % 20 < 10 ? 1 : -1]) : .discrete(t % 2) })
        let svg = try #require(renderEpisodeSVG(environment: env, states: states, title: "\(id) <test>"))
        #expect(XMLParser(data: Data(svg.utf8)).parse(), "SVG is not well-formed XML")
        #expect(svg.contains("&lt;test&gt;"))
        let animations = svg.components(separatedBy: "<animateTransform").dropFirst()
        #expect(!animations.isEmpty)
        for animation in animations {
            let values = animation.components(separatedBy: "values=\"")[1].components(separatedBy: "\"")[0]
            #expect(values.split(separator: ";").count == states.count)
        }
    }

    @Test("text frames show where the cart is")
    func text() {
        let left = CartPole.text([-2.4, 0, 0, 0]), right = CartPole.text([2.4, 0, 0.1, 0])
        #expect(left.hasPrefix("[|"))
        #expect(right.contains("/]"))
        #expect(MountainCar.text([0.5, 0]).contains("o"))
        #expect(EpisodeRenderer.text(Pendulum.self, states: [[0, 0], [Double.pi, 1]]).count == 2)
    }
}
