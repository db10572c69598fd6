import Testing
@Test func KeyfarmCommandsTestsPlaceholder() { #expect(Bool(true)) }
