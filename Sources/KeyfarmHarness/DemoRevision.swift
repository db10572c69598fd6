import KeyfarmCore

/// The demo's revision of a shot list: one keyframe's prompt reworded, as a director would.
/// The keyframe is the fourth from the end of the provider shot with the most keyframes (the
/// first such shot on a tie), so the edit changes one generation and those continuing from it.
public struct DemoRevision {
    public var list: ShotList
    public var shot: String
    public var keyframe: Int
    public var before: String?
    public var after: String

    public init?(_ original: ShotList) {
        let providerShots = original.shots.indices.filter { original.shots[$0].engine.provider != nil }
        guard let s = providerShots.max(by: { original.shots[$0].keyframes.count < original.shots[$1].keyframes.count
                                               || (original.shots[$0].keyframes.count == original.shots[$1].keyframes.count && $0 > $1) })
        else { return nil }
        list = original
        shot = original.shots[s].id
        keyframe = Swift.max(1, original.shots[s].keyframes.count - 4)
        before = original.shots[s].keyframes[keyframe].prompt
        after = (before.map { $0 + ", " } ?? "") + "seen against the wind"
        list.shots[s].keyframes[keyframe].prompt = after
        // A segment override's prompt would hide the keyframe's: reword that one instead.
        if let override = list.shots[s].segmentOverrides[keyframe], override.prompt != nil {
            before = override.prompt
            after = override.prompt! + ", seen against the wind"
            list.shots[s].segmentOverrides[keyframe]?.prompt = after
        }
    }

    /// `sh030 keyframe 12's prompt "the kite climbs" -> "the kite climbs, seen against the wind"`.
    public var description: String {
        "\(shot) keyframe \(keyframe)'s prompt \"\(before ?? "")\" -> \"\(after)\""
    }
}
