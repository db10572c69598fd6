import Testing
@Test func KeyfarmStoreTestsPlaceholder() { #expect(Bool(true)) }
