extension Migration {
    /// The worker keys a coordinator with CURVE admits (`keyfarm keys add|remove|list`): one
    /// row per worker public key, in Z85. Secret keys never reach the database.
    static let workerKeys = Migration(version: 8, name: "worker keys", sql: #"""
    CREATE TABLE keyfarm.worker_keys (
        name       text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
        -- Z85 (ZeroMQ RFC 32): 40 characters of its 85-character alphabet.
        public_key text NOT NULL UNIQUE
                   CHECK (length(public_key) = 40 AND public_key ~ '^[]0-9a-zA-Z.:+=^!/*?&<>()[{}@%$#-]+$'),
        comment    text NOT NULL DEFAULT '',
        added_at   timestamptz NOT NULL DEFAULT now(),
        added_by   text NOT NULL DEFAULT current_user
    );

    -- The coordinator reads the allow-list (and reloads it on NOTIFY keyfarm_keys); the CLI
    -- adds, lists and removes keys. Dashboards get nothing: this is no documented view.
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.worker_keys TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;

    DO $do$
    BEGIN
        GRANT SELECT, INSERT, DELETE ON keyfarm.worker_keys TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_operator grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
