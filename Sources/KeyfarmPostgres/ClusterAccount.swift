import Foundation

/// The operating-system account that owns and runs an embedded cluster, which is also its superuser.
struct ClusterAccount {
    /// The account to switch to with runuser when we are root; nil when we run the server ourselves.
    struct SwitchedUser {
        var uid: uid_t
        var gid: gid_t
        var runuser: String
    }

    var superuser: String
    var runAs: SwitchedUser?

    /// As root: the `postgres` system account; otherwise the current user.
    static func current() throws -> ClusterAccount {
        if geteuid() == 0 {
            guard let entry = getpwnam("postgres") else {
                throw PostgresError(context: "choosing an account for PostgreSQL",
                                    message: "PostgreSQL cannot run as root and there is no postgres system account; create one or run Keyfarm as an unprivileged user")
            }
            guard let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
                .first(where: FileManager.default.isExecutableFile(atPath:)) else {
                throw PostgresError(context: "choosing an account for PostgreSQL", message: "runuser not found (util-linux)")
            }
            return ClusterAccount(superuser: "postgres",
                                  runAs: SwitchedUser(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid, runuser: runuser))
        }
        guard let entry = getpwuid(geteuid()) else {
            throw PostgresError(context: "choosing an account for PostgreSQL", message: "the current user \(geteuid()) has no name")
        }
        return ClusterAccount(superuser: String(cString: entry.pointee.pw_name), runAs: nil)
    }
}
