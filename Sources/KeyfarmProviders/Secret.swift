/// A provider key held so that printing, logging or interpolating it shows `<redacted>`.
///
/// The value leaves only through `reveal()`, which a provider adapter calls at the moment
/// it builds an `Authorization` header; a search for `reveal()` finds every place a key is used.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) {
        self.value = value
    }

    /// The key itself. Use it only to build a request header, never in a message.
    public func reveal() -> String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

extension Secret: CustomReflectable {
    /// `dump(secret)` and mirrors see no value either.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
