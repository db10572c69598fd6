import Testing
@Test func KeyfarmDispatchTestsPlaceholder() { #expect(Bool(true)) }
