import Testing
@Test func KeyfarmWireTestsPlaceholder() { #expect(Bool(true)) }
