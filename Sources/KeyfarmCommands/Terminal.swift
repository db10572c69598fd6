import Foundation

/// A line for a terminal made of styled runs, cut to a width by what shows (escape sequences
/// take no room), so a redrawn frame never wraps and its lines can be counted.
struct StyledLine: Equatable {
    enum Style: String {
        case bold = "1", dim = "2", red = "31", green = "32", yellow = "33", blue = "34", cyan = "36"
    }

    private(set) var runs: [(text: String, style: Style?)] = []

    init(_ text: String = "", _ style: Style? = nil) {
        if !text.isEmpty { runs.append((text, style)) }
    }

    static func == (lhs: StyledLine, rhs: StyledLine) -> Bool { lhs.plain == rhs.plain }

    mutating func append(_ text: String, _ style: Style? = nil) {
        if !text.isEmpty { runs.append((text, style)) }
    }

    static func + (lhs: StyledLine, rhs: StyledLine) -> StyledLine {
        var joined = lhs
        joined.runs += rhs.runs
        return joined
    }

    /// The text without styles.
    var plain: String { runs.map(\.text).joined() }

    /// The line at most `width` characters wide (a cut line ends in `…`), with ANSI styles when `ansi`.
    func rendered(width: Int?, ansi: Bool) -> String {
        var room = width.map { max($0, 1) } ?? Int.max
        let total = runs.reduce(0) { $0 + $1.text.count }
        let cut = total > room
        if cut { room -= 1 }
        var out = ""
        for run in runs where room > 0 {
            let text = run.text.count > room ? String(run.text.prefix(room)) : run.text
            room -= text.count
            if ansi, let style = run.style { out += "\u{1B}[\(style.rawValue)m" + text + "\u{1B}[0m" } else { out += text }
        }
        return cut ? out + "…" : out
    }
}

/// The terminal standard output is: its size, and a frame of lines redrawn in place.
enum Terminal {
    static let hideCursor = "\u{1B}[?25l"
    static let showCursor = "\u{1B}[?25h"
    static let clearLine = "\u{1B}[2K"
    static let clearBelow = "\u{1B}[J"
    static func up(_ lines: Int) -> String { "\u{1B}[\(lines)A" }

    /// Standard output's columns and rows (TIOCGWINSZ), or 80 x 24 when it has none.
    static func size() -> (columns: Int, rows: Int) {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return (80, 24) }
        return (Int(size.ws_col), max(Int(size.ws_row), 3))
    }

    /// Draws frames over each other: the cursor goes back to the first line of the last frame,
    /// every line is cleared and written again, and what the last frame had below is erased.
    final class LiveFrame {
        private let console: Console
        private var drawn = 0
        private var started = false

        init(console: Console) { self.console = console }

        func draw(_ lines: [String]) {
            var text = started ? "" : Terminal.hideCursor
            started = true
            if drawn > 0 { text += "\r" + Terminal.up(drawn) }
            for line in lines { text += Terminal.clearLine + line + "\n" }
            text += Terminal.clearBelow
            drawn = lines.count
            console.write(text)
        }

        /// Leaves the last frame on screen and shows the cursor again.
        func finish() {
            if started { console.write(Terminal.showCursor) }
            started = false
        }
    }
}
