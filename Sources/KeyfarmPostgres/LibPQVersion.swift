import CLibPQ
/// The version of the libpq this build links against, as libpq reports it (e.g. 150020).
public func linkedLibPQVersion() -> Int { Int(PQlibVersion()) }
