#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes a spawned child close every descriptor from 3 up, so that nothing this process has
/// open (a socket above all, whose copy in a child would keep a connection open after we
/// close it) leaks into it. glibc 2.34+ has `posix_spawn_file_actions_addclosefrom_np`, which
/// Swift's Glibc module does not import, so it is looked up at run time; without it the
/// child inherits descriptors as before.
public func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = addCloseFrom else { return }
    let function = unsafeBitCast(symbol, to: AddCloseFrom.self)
    _ = withUnsafeMutablePointer(to: &actions) { function($0, 3) }
}

private nonisolated(unsafe) let addCloseFrom: UnsafeMutableRawPointer? = {
    #if canImport(Glibc)
    return dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    #else
    return nil
    #endif
}()
