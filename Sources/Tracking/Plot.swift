import Foundation

/// One line of a chart, optionally with a shaded band (e.g. mean ± std across seeds).
public struct PlotSeries {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var band: [(x: Double, low: Double, high: Double)]

    public init(name: String, points: [(x: Double, y: Double)], band: [(x: Double, low: Double, high: Double)] = []) {
        self.name = name
        self.points = points
        self.band = band
    }
}

/// A clean SVG line chart: axes with "nice" ticks, axis labels, a title, a legend, lines and bands. Text uses common
/// system fonts so it renders in browsers and in rsvg-convert.
public struct LinePlot {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    /// Horizontal reference line (e.g. a solved threshold) and its label.
    public var reference: (y: Double, label: String)?

    public init(title: String, xLabel: String, yLabel: String, series: [PlotSeries], reference: (y: Double, label: String)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.reference = reference
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public func svg(width: Double = 720, height: Double = 440) -> String {
        let left = 72.0, right = 24.0, top = 44.0, bottom = 56.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        var xs: [Double] = [], ys: [Double] = []
        for s in series {
            xs += s.points.map(\.x) + s.band.map(\.x)
            ys += s.points.map(\.y) + s.band.flatMap { [$0.low, $0.high] }
        }
        if let reference { ys.append(reference.y) }
        xs = xs.filter(\.isFinite); ys = ys.filter(\.isFinite)
        let (x0, x1, xTicks) = Self.niceScale(xs.min() ?? 0, xs.max() ?? 1)
        let (y0, y1, yTicks) = Self.niceScale(ys.min() ?? 0, ys.max() ?? 1)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="#ffffff"/>
        <text x="\(f(width / 2))" y="24" text-anchor="middle" font-size="15" fill="#222">\(escape(title))</text>

        """
        for t in yTicks {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(t)))\" stroke=\"#e6e6e6\"/>"
            svg += "<text x=\"\(f(left - 8))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\" fill=\"#444\">\(Self.label(t))</text>\n"
        }
        for t in xTicks {
            svg += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + plotHeight))\" stroke=\"#f0f0f0\"/>"
            svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\" fill=\"#444\">\(Self.label(t))</text>\n"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#888\"/>\n"
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\" fill=\"#222\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(18,\(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" fill=\"#222\">\(escape(yLabel))</text>\n"
        if let reference {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(py(reference.y)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(py(reference.y)))\" stroke=\"#555\" stroke-dasharray=\"5 4\"/>"
            svg += "<text x=\"\(f(left + plotWidth - 4))\" y=\"\(f(py(reference.y) - 5))\" text-anchor=\"end\" fill=\"#555\">\(escape(reference.label))</text>\n"
        }
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            if !s.band.isEmpty {
                let upper = s.band.map { "\(f(px($0.x))),\(f(py($0.high)))" }
                let lower = s.band.reversed().map { "\(f(px($0.x))),\(f(py($0.low)))" }
                svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
            }
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite }.map { "\(f(px($0.x))),\(f(py($0.y)))" }
            if points.count == 1 {
                svg += "<circle cx=\"\(points[0].split(separator: ",")[0])\" cy=\"\(points[0].split(separator: ",")[1])\" r=\"3\" fill=\"\(color)\"/>\n"
            } else if !points.isEmpty {
                svg += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n"
            }
        }
        if series.count > 1 || !(series.first?.name.isEmpty ?? true) {
            let legendWidth = 16 + 7.2 * Double(series.map(\.name.count).max() ?? 0) + 24
            let lx = left + plotWidth - legendWidth - 8, ly = top + 8
            svg += "<rect x=\"\(f(lx))\" y=\"\(f(ly))\" width=\"\(f(legendWidth))\" height=\"\(f(Double(series.count) * 18 + 8))\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n"
            for (i, s) in series.enumerated() {
                let y = ly + 16 + Double(i) * 18
                svg += "<line x1=\"\(f(lx + 8))\" y1=\"\(f(y - 4))\" x2=\"\(f(lx + 28))\" y2=\"\(f(y - 4))\" stroke=\"\(Self.palette[i % Self.palette.count])\" stroke-width=\"3\"/>"
                svg += "<text x=\"\(f(lx + 34))\" y=\"\(f(y))\" fill=\"#222\">\(escape(s.name))</text>\n"
            }
        }
        svg += "</svg>\n"
        return svg
    }

    /// Axis bounds rounded outwards to 1-2-5 steps and the ticks between them.
    static func niceScale(_ low: Double, _ high: Double, ticks: Int = 6) -> (Double, Double, [Double]) {
        var lo = low, hi = high
        if lo == hi { lo -= 1; hi += 1 }
        let rough = (hi - lo) / Double(ticks - 1)
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let start = Foundation.floor(lo / step) * step, end = Foundation.ceil(hi / step) * step
        let values = stride(from: start, through: end + step / 2, by: step).map { ($0 / step).rounded() * step }
        return (start, end, values)
    }

    static func label(_ v: Double) -> String {
        let a = Swift.abs(v)
        if a >= 1e6 { return String(format: "%.3gM", v / 1e6) }
        if a >= 1e4 { return String(format: "%gk", v / 1e3) }
        if a == 0 || a >= 0.01 { return String(format: "%g", (v * 1e6).rounded() / 1e6) }
        return String(format: "%.1e", v)
    }

    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

extension PlotSeries {
    /// Trailing moving average over `window` points (1 leaves the series unchanged).
    public static func smoothed(_ points: [(x: Double, y: Double)], window: Int) -> [(x: Double, y: Double)] {
        guard window > 1 else { return points }
        var sum = 0.0
        var result: [(x: Double, y: Double)] = []
        for (i, p) in points.enumerated() {
            sum += p.y
            if i >= window { sum -= points[i - window].y }
            result.append((p.x, sum / Double(Swift.min(i + 1, window))))
        }
        return result
    }

    /// Mean line and mean ± std band of several runs, interpolated onto the steps of the first run (within the
    /// range every run covers).
    public static func aggregate(name: String, runs: [[(x: Double, y: Double)]]) -> PlotSeries {
        let usable = runs.filter { !$0.isEmpty }
        guard let first = usable.first else { return PlotSeries(name: name, points: []) }
        let lo = usable.map { $0.first!.x }.max()!, hi = usable.map { $0.last!.x }.min()!
        let grid = first.map(\.x).filter { $0 >= lo && $0 <= hi }
        func interpolate(_ run: [(x: Double, y: Double)], _ x: Double) -> Double {
            guard let j = run.firstIndex(where: { $0.x >= x }) else { return run.last!.y }
            if j == 0 || run[j].x == x { return run[j].y }
            let a = run[j - 1], b = run[j]
            return a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x)
        }
        var points: [(x: Double, y: Double)] = [], band: [(x: Double, low: Double, high: Double)] = []
        for x in grid {
            let values = usable.map { interpolate($0, x) }
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            points.append((x, mean))
            band.append((x, mean - std, mean + std))
        }
        return PlotSeries(name: usable.count > 1 ? "\(name) (mean ± std, \(usable.count) runs)" : name, points: points,
                          band: usable.count > 1 ? band : [])
    }
}
