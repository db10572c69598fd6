import Testing
@Test func KeyfarmCoreTestsPlaceholder() { #expect(Bool(true)) }
