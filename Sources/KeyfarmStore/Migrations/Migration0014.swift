extension Migration {
    /// The input fields of provider models an operator mapped (`keyfarm providers model set`):
    /// for a fal or WaveSpeed model Keyfarm does not know, or knows differently, the field that
    /// takes the start image, the one that takes the end image (NULL: the model has none), how
    /// it writes a duration, how it is told the picture size, and its aspect-ratio field.
    /// `keyfarm submit` resolves them into each segment job's spec, so workers need no database.
    ///
    /// Version 13 is reserved for another change; this migration does not depend on its content.
    static let modelInputs = Migration(version: 14, name: "model inputs", sql: #"""
    CREATE TABLE keyfarm.model_inputs (
        engine           text PRIMARY KEY CHECK (engine ~ '^(fal|wavespeed)/[A-Za-z0-9][A-Za-z0-9._/-]*$'),
        start_field      text CHECK (start_field ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
        end_field        text CHECK (end_field ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
        duration         text NOT NULL CHECK (duration IN ('int', 'string', 'luma')),
        resolution_field text NOT NULL DEFAULT 'none' CHECK (resolution_field IN ('resolution', 'size', 'none')),
        resolutions      text[] NOT NULL DEFAULT '{}',
        aspect_field     text CHECK (aspect_field ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
        updated_at       timestamptz NOT NULL DEFAULT now()
    );

    DO $do$
    BEGIN
        GRANT USAGE ON SCHEMA keyfarm TO keyfarm_operator;
        GRANT SELECT, INSERT, UPDATE, DELETE ON keyfarm.model_inputs TO keyfarm_operator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_operator grants skipped: the role does not exist';
    END
    $do$;
    DO $do$
    BEGIN
        GRANT SELECT ON keyfarm.model_inputs TO keyfarm_coordinator;
    EXCEPTION WHEN undefined_object OR insufficient_privilege THEN
        RAISE NOTICE 'keyfarm_coordinator grants skipped: the role does not exist';
    END
    $do$;
    """#)
}
