extension Migration {
    /// Prices in the database, editable by operators (`keyfarm prices`), and accounts with their
    /// dollar value of a credit. Default prices are seeded after migrating (`FarmStore.seedPrices`),
    /// never overwriting an operator's edit.
    static let prices = Migration(version: 3, name: "prices", sql: #"""
    CREATE TABLE keyfarm.prices (
        engine          text NOT NULL,
        resolution      text NOT NULL CHECK (resolution IN ('540p', '720p', '1080p')),
        duration_bucket int NOT NULL CHECK (duration_bucket > 0),
        credits         bigint NOT NULL CHECK (credits >= 0),
        note            text NOT NULL DEFAULT '',
        source          text NOT NULL DEFAULT 'operator' CHECK (source IN ('default', 'operator')),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        updated_by      text NOT NULL DEFAULT current_user,
        PRIMARY KEY (engine, resolution, duration_bucket)
    );

    CREATE TABLE keyfarm.accounts (
        name           text PRIMARY KEY,
        usd_per_credit numeric(12, 6) NOT NULL DEFAULT 0.01 CHECK (usd_per_credit >= 0),
        updated_at     timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO keyfarm.accounts (name) VALUES ('default');

    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.prices, keyfarm.accounts TO keyfarm_dashboard;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_dashboard grant skipped';
    END
    $do$;
    """#)
}
