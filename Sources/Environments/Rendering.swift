import Foundation

/// An environment that can draw its state: as SVG transforms of moving parts (for animated SVG files) and as one
/// line of text (for terminals).
public protocol RenderableEnvironment: StatefulEnvironment {
    /// The drawing of one state.
    static func scene(_ state: [Double]) -> Scene
    /// A one-line picture of one state.
    static func text(_ state: [Double]) -> String
}

/// A drawing in a 600×400 SVG canvas: static background markup and moving parts, each a group whose transform
/// changes from frame to frame.
public struct Scene {
    public var background: String
    /// Parts in drawing order: markup in the part's own coordinates, moved to `position` and rotated by `degrees`
    /// (clockwise, SVG's convention) for this state.
    public var parts: [Part]
    public var caption: String

    public struct Part {
        public var markup: String
        public var position: (x: Double, y: Double)
        public var degrees: Double
        public init(_ markup: String, at position: (x: Double, y: Double), degrees: Double = 0) {
            self.markup = markup
            self.position = position
            self.degrees = degrees
        }
    }

    public init(background: String, parts: [Part], caption: String) {
        self.background = background
        self.parts = parts
        self.caption = caption
    }
}

/// Turns a sequence of states into a self-contained animated SVG (SMIL, plays in browsers, loops) or text frames.
public enum EpisodeRenderer {
    /// An animated SVG of `states` for environment type `E`, one frame every `frameSeconds`.
    public static func svg<E: RenderableEnvironment>(_ type: E.Type, states: [[Double]], title: String, frameSeconds: Double = 0.04) -> String {
        precondition(!states.isEmpty, "cannot render an empty episode")
        let scenes = states.map { E.scene($0) }
        let duration = Double(states.count) * frameSeconds
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="600" height="430" viewBox="0 0 600 430" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <rect width="600" height="430" fill="#ffffff"/>
        <text x="300" y="22" text-anchor="middle" font-size="15" fill="#222">\(escape(title))</text>
        <g transform="translate(0,30)">
        \(scenes[0].background)

        """
        let timing = "calcMode=\"discrete\" dur=\"\(format(duration))s\" repeatCount=\"indefinite\""
        for p in scenes[0].parts.indices {
            let translations = scenes.map { "\(f($0.parts[p].position.x)),\(f($0.parts[p].position.y))" }
            let rotations = scenes.map { f($0.parts[p].degrees) }
            svg += "<g transform=\"translate(\(translations[0]))\">"
            if Set(translations).count > 1 {
                svg += "<animateTransform attributeName=\"transform\" type=\"translate\" \(timing) values=\"\(translations.joined(separator: ";"))\"/>"
            }
            svg += "<g transform=\"rotate(\(rotations[0]))\">"
            if Set(rotations).count > 1 {
                svg += "<animateTransform attributeName=\"transform\" type=\"rotate\" \(timing) values=\"\(rotations.joined(separator: ";"))\"/>"
            }
            svg += scenes[0].parts[p].markup + "</g></g>\n"
        }
        let captions = scenes.map { escape($0.caption) }
        svg += "</g>\n<text x=\"12\" y=\"422\" font-size=\"12\" fill=\"#555\">\(captions[0])"
        if Set(captions).count > 1 { svg += " … (\(states.count) steps, \(format(duration)) s loop)" }
        svg += "</text>\n</svg>\n"
        return svg
    }

    /// One text line per state.
    public static func text<E: RenderableEnvironment>(_ type: E.Type, states: [[Double]]) -> [String] { states.map { E.text($0) } }

    static func format(_ x: Double) -> String { String(format: "%.3f", x) }
    static func f(_ x: Double) -> String { String(format: "%.2f", x) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

private func f(_ x: Double) -> String { String(format: "%.2f", x) }
private func degrees(_ radians: Double) -> Double { radians * 180 / Double.pi }

extension CartPole: RenderableEnvironment {
    public static func scene(_ s: [Double]) -> Scene {
        let scale = 600 / (xThreshold * 2), trackY = 300.0
        let cartX = 300 + s[0] * scale
        let poleLength = scale * 2 * length
        return Scene(
            background: "<line x1=\"0\" y1=\"\(f(trackY))\" x2=\"600\" y2=\"\(f(trackY))\" stroke=\"#444\" stroke-width=\"2\"/>",
            parts: [Scene.Part("<rect x=\"-25\" y=\"-15\" width=\"50\" height=\"30\" fill=\"#333\" rx=\"3\"/>", at: (cartX, trackY - 15)),
                    Scene.Part("<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"\(f(-poleLength))\" stroke=\"#ca9865\" stroke-width=\"10\" stroke-linecap=\"round\"/><circle r=\"5\" fill=\"#8184cb\"/>",
                               at: (cartX, trackY - 25), degrees: degrees(s[2]))],
            caption: "x = \(f(s[0])), θ = \(f(degrees(s[2])))°")
    }

    public static func text(_ s: [Double]) -> String {
        let width = 41
        let column = Swift.min(width - 1, Swift.max(0, Int(((s[0] + xThreshold) / (2 * xThreshold) * Double(width - 1)).rounded())))
        let pole = s[2] > 0.05 ? "/" : s[2] < -0.05 ? "\\" : "|"
        var track = Array(repeating: Character("-"), count: width)
        track[column] = Character(pole)
        return "[" + String(track) + "] x=\(f(s[0])) θ=\(f(degrees(s[2])))°"
    }
}

extension Acrobot: RenderableEnvironment {
    public static func scene(_ s: [Double]) -> Scene {
        let unit = 90.0
        let link = "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"\(f(unit))\" stroke=\"#0057b8\" stroke-width=\"12\" stroke-linecap=\"round\"/><circle r=\"6\" fill=\"#ffcc00\"/>"
        let x1 = 300 + unit * Foundation.sin(s[0]), y1 = 200 + unit * Foundation.cos(s[0])
        return Scene(
            background: "<line x1=\"150\" y1=\"\(f(200 - unit))\" x2=\"450\" y2=\"\(f(200 - unit))\" stroke=\"#999\" stroke-dasharray=\"6 4\"/>",
            parts: [Scene.Part(link, at: (300, 200), degrees: -degrees(s[0])),
                    Scene.Part(link, at: (x1, y1), degrees: -degrees(s[0] + s[1]))],
            caption: "θ1 = \(f(degrees(s[0])))°, θ2 = \(f(degrees(s[1])))°")
    }

    public static func text(_ s: [Double]) -> String {
        let height = -Foundation.cos(s[0]) - Foundation.cos(s[1] + s[0])
        return "θ1=\(f(degrees(s[0])))° θ2=\(f(degrees(s[1])))° tip height \(f(height)) (goal > 1)"
    }
}

extension MountainCar: RenderableEnvironment {
    static func height(_ x: Double) -> Double { Foundation.sin(3 * x) * 0.45 + 0.55 }

    static func mountainScene(_ s: [Double], goal: Double) -> Scene {
        let scale = 600 / (maxPosition - minPosition)
        func point(_ x: Double) -> (Double, Double) { ((x - minPosition) * scale, 360 - height(x) * scale) }
        let track = stride(from: minPosition, through: maxPosition, by: 0.02).map { x -> String in let p = point(x); return "\(f(p.0)),\(f(p.1))" }
        let flag = point(goal)
        let car = point(s[0])
        let slope = Foundation.atan(Foundation.cos(3 * s[0]) * 3 * 0.45)
        return Scene(
            background: "<polyline points=\"\(track.joined(separator: " "))\" fill=\"none\" stroke=\"#333\" stroke-width=\"2\"/>"
                + "<line x1=\"\(f(flag.0))\" y1=\"\(f(flag.1))\" x2=\"\(f(flag.0))\" y2=\"\(f(flag.1 - 40))\" stroke=\"#333\"/>"
                + "<polygon points=\"\(f(flag.0)),\(f(flag.1 - 40)) \(f(flag.0 + 25)),\(f(flag.1 - 33)) \(f(flag.0)),\(f(flag.1 - 26))\" fill=\"#e8b100\"/>",
            parts: [Scene.Part("<rect x=\"-20\" y=\"-22\" width=\"40\" height=\"16\" fill=\"#333\" rx=\"3\"/><circle cx=\"-12\" cy=\"-5\" r=\"5\" fill=\"#777\"/><circle cx=\"12\" cy=\"-5\" r=\"5\" fill=\"#777\"/>",
                               at: car, degrees: -degrees(slope))],
            caption: "position = \(String(format: "%.3f", s[0])), velocity = \(String(format: "%.4f", s[1]))")
    }

    public static func scene(_ s: [Double]) -> Scene { mountainScene(s, goal: goalPosition) }

    public static func text(_ s: [Double]) -> String {
        let width = 41
        let column = Swift.min(width - 1, Swift.max(0, Int(((s[0] - minPosition) / (maxPosition - minPosition) * Double(width - 1)).rounded())))
        var track = Array(repeating: Character("_"), count: width)
        track[Int(((goalPosition - minPosition) / (maxPosition - minPosition) * Double(width - 1)).rounded())] = "F"
        track[column] = "o"
        return String(track) + " x=\(String(format: "%.3f", s[0])) v=\(String(format: "%.4f", s[1]))"
    }
}

extension MountainCarContinuous: RenderableEnvironment {
    public static func scene(_ s: [Double]) -> Scene { MountainCar.mountainScene(s, goal: goalPosition) }
    public static func text(_ s: [Double]) -> String { MountainCar.text(s) }
}

extension Pendulum: RenderableEnvironment {
    public static func scene(_ s: [Double]) -> Scene {
        Scene(background: "<circle cx=\"300\" cy=\"190\" r=\"150\" fill=\"none\" stroke=\"#ddd\"/>",
              parts: [Scene.Part("<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"-130\" stroke=\"#cc4c4c\" stroke-width=\"18\" stroke-linecap=\"round\"/><circle r=\"6\" fill=\"#000\"/>",
                                 at: (300, 190), degrees: -degrees(s[0]))],
              caption: "θ = \(f(degrees(s[0])))°, θ̇ = \(f(s[1]))")
    }

    public static func text(_ s: [Double]) -> String {
        let normalized = Foundation.atan2(Foundation.sin(s[0]), Foundation.cos(s[0]))
        return "θ=\(f(degrees(normalized)))° (0 = upright) θ̇=\(f(s[1]))"
    }
}

/// Renders an episode of any built-in classic-control environment by its dynamic type.
public func renderEpisodeSVG(environment: Environment, states: [[Double]], title: String) -> String? {
    var env = environment
    while let wrapper = env as? Wrapper { env = wrapper.env }
    switch env {
    case is CartPole: return EpisodeRenderer.svg(CartPole.self, states: states, title: title)
    case is Acrobot: return EpisodeRenderer.svg(Acrobot.self, states: states, title: title)
    case is MountainCar: return EpisodeRenderer.svg(MountainCar.self, states: states, title: title)
    case is MountainCarContinuous: return EpisodeRenderer.svg(MountainCarContinuous.self, states: states, title: title)
    case is Pendulum: return EpisodeRenderer.svg(Pendulum.self, states: states, title: title)
    default: return nil
    }
}
