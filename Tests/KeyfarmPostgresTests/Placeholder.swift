import Testing
@Test func KeyfarmPostgresTestsPlaceholder() { #expect(Bool(true)) }
