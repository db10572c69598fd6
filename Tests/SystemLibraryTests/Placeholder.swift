import Testing
@Test func SystemLibraryTestsPlaceholder() { #expect(Bool(true)) }
