/// The hand-written recursive-descent parser of ``SnapshotFilter``'s grammar.
struct FilterScanner {
    private let characters: [Character]
    private var index = 0
    private let text: String

    init(_ text: String) {
        self.text = text
        characters = Array(text)
    }

    private var current: Character? { index < characters.count ? characters[index] : nil }

    private func error(_ reason: String) -> SnapshotError {
        .invalidArgument("filters: \(reason) at \(index) in \"\(text)\": invalid argument")
    }

    private mutating func skipSpaces() {
        while let character = current, character.isWhitespace { index += 1 }
    }

    mutating func filter() throws(SnapshotError) -> [SnapshotFilter.Selector] {
        skipSpaces()
        if current == nil { return [] }
        var selectors = [try selector()]
        while true {
            skipSpaces()
            guard let character = current else { return selectors }
            guard character == "," else { throw error("expected a comma") }
            index += 1
            selectors.append(try selector())
        }
    }

    private mutating func selector() throws(SnapshotError) -> SnapshotFilter.Selector {
        var fieldpath = [try field()]
        while current == "." {
            index += 1
            fieldpath.append(try field())
        }
        skipSpaces()
        let op: SnapshotFilter.Operator
        switch (current, index + 1 < characters.count ? characters[index + 1] : nil) {
        case ("=", "="): op = .equal
        case ("!", "="): op = .notEqual
        case ("~", "="): op = .matches
        case (nil, _), (",", _): return .init(fieldpath: fieldpath, op: .present, value: "", regex: nil)
        default: throw error("expected an operator")
        }
        index += 2
        skipSpaces()
        let value = try self.value()
        var regex: Regex<AnyRegexOutput>?
        if op == .matches {
            do { regex = try Regex(value) } catch { throw self.error("bad regular expression") }
        }
        return .init(fieldpath: fieldpath, op: op, value: value, regex: regex)
    }

    private mutating func field() throws(SnapshotError) -> String {
        skipSpaces()
        if let character = current, "\"/|".contains(character) { return try quoted() }
        let start = index
        while let character = current, character == "_" || (character.isASCII && (character.isLetter || character.isNumber)) {
            if index == start && character.isNumber { throw error("a field starts with a letter") }
            index += 1
        }
        guard index > start else { throw error("expected a field") }
        return String(characters[start..<index])
    }

    private mutating func value() throws(SnapshotError) -> String {
        if let character = current, "\"/|".contains(character) { return try quoted() }
        let start = index
        while let character = current, character != ",", !character.isWhitespace { index += 1 }
        guard index > start else { throw error("expected a value") }
        return String(characters[start..<index])
    }

    /// A quoted string: `"…"` understands backslash escapes; `/…/` and `|…|`
    /// (for regular expressions) end at the first unescaped closing quote.
    private mutating func quoted() throws(SnapshotError) -> String {
        let quote = characters[index]
        index += 1
        var result = ""
        while let character = current {
            index += 1
            if character == quote { return result }
            if character == "\\" {
                guard let escaped = current else { break }
                index += 1
                if quote == "\"" {
                    switch escaped {
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    case "\\", "\"": result.append(escaped)
                    default: throw error("unknown escape")
                    }
                } else {
                    if escaped != quote { result.append("\\") }
                    result.append(escaped)
                }
            } else {
                result.append(character)
            }
        }
        throw error("unterminated quoted string")
    }
}
