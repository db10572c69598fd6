import Yams

extension ShotListDecoder {
    /// `reframe: ["9:16", "1:1"]`: distinct aspect ratios.
    func readReframe(_ node: Node, _ path: String, reader: inout FieldReader) -> [Aspect]? {
        guard let list = reader.sequence(node, path, what: "aspect ratios") else { return nil }
        var aspects: [Aspect] = []
        var valid = true
        for (index, item) in list.enumerated() {
            let itemPath = path + "[\(index)]"
            guard let text = reader.string(item, itemPath) else { valid = false; continue }
            guard let aspect = Aspect(rawValue: text) else {
                reader.report(itemPath, "\"\(text)\" is not an allowed aspect; allowed: " + Aspect.allCases.map(\.rawValue).joined(separator: ", "), at: item)
                valid = false
                continue
            }
            if aspects.contains(aspect) {
                reader.report(itemPath, "\"\(text)\" is listed twice", at: item)
                valid = false
            }
            aspects.append(aspect)
        }
        return valid ? aspects : nil
    }

    /// `reframe_position: center`, or `{x_norm, y_norm, w_norm, h_norm}`: where the source sits
    /// in the new frame (x and y from -2 to 2, w and h above 0 and at most 2).
    func readReframePosition(_ node: Node, _ path: String, reader: inout FieldReader) -> ReframePosition? {
        if case .scalar = node {
            guard let text = reader.string(node, path) else { return nil }
            guard text == "center" else {
                reader.report(path, "\"\(text)\" is not a position; write center or {x_norm, y_norm, w_norm, h_norm}", at: node)
                return nil
            }
            return .center
        }
        let keys = ["x_norm", "y_norm", "w_norm", "h_norm"]
        guard let fields = reader.mapping(node, path, allowed: keys, what: "a reframe position") else { return nil }
        var values: [String: Double] = [:]
        for key in keys {
            guard let valueNode = fields[key]?.value else {
                reader.report(path + "." + key, "missing; a position needs x_norm, y_norm, w_norm and h_norm", at: node)
                continue
            }
            guard let value = reader.decimal(valueNode, path + "." + key, what: "a number") else { continue }
            let number = value.doubleValue
            let range: ClosedRange<Double> = key.hasPrefix("w") || key.hasPrefix("h") ? 0.000001...2 : -2...2
            guard range.contains(number) else {
                reader.report(path + "." + key, "\(value) is out of range; allowed: \(key.hasPrefix("w") || key.hasPrefix("h") ? "above 0, at most 2" : "-2 to 2")", at: valueNode)
                continue
            }
            values[key] = number
        }
        guard values.count == 4 else { return nil }
        return .rect(x: values["x_norm"]!, y: values["y_norm"]!, w: values["w_norm"]!, h: values["h_norm"]!)
    }
}
