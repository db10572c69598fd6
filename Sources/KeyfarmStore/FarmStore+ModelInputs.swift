import Foundation
import KeyfarmCore
import KeyfarmPostgres

/// An operator's mapping of one model's input fields, as `keyfarm providers model list` shows it.
public struct StoredModelInputs: Sendable, Equatable {
    public var engine: String
    public var inputs: ModelInputs
    public var updatedAt: Date
}

extension FarmStore {
    /// Every model mapping an operator stored, by engine name.
    public func storedModelInputs() throws -> [StoredModelInputs] {
        try connection.execute("""
            SELECT engine, start_field, end_field, duration, resolution_field, resolutions, aspect_field, updated_at
            FROM keyfarm.model_inputs ORDER BY engine
            """).rows.map { row in
            let duration = try row.decode("duration", as: String.self)
            let field = try row.decode("resolution_field", as: String.self)
            return StoredModelInputs(
                engine: try row.decode("engine"),
                inputs: ModelInputs(startField: try row.decode("start_field", as: String?.self),
                                    endField: try row.decode("end_field", as: String?.self),
                                    duration: ModelInputs.DurationFormat(rawValue: duration) ?? .string,
                                    resolutionField: ModelInputs.ResolutionField(rawValue: field) ?? .none,
                                    resolutions: try row.decode("resolutions", as: [String].self),
                                    aspectField: try row.decode("aspect_field", as: String?.self)),
                updatedAt: try row.decode("updated_at"))
        }
    }

    /// The table `plan` and `submit` resolve models with: the built-in one under the operator's.
    public func modelInputTable() throws -> ModelInputTable {
        ModelInputTable(operatorEntries: Dictionary(try storedModelInputs().map { ($0.engine, $0.inputs) },
                                                    uniquingKeysWith: { _, last in last }))
    }

    /// Stores (or replaces) the mapping of one engine's inputs.
    public func setModelInputs(engine: String, _ inputs: ModelInputs) throws {
        try connection.execute("""
            INSERT INTO keyfarm.model_inputs (engine, start_field, end_field, duration, resolution_field, resolutions, aspect_field)
            VALUES ($1, $2, $3, $4, $5, $6::text[], $7)
            ON CONFLICT (engine) DO UPDATE SET
                start_field = EXCLUDED.start_field, end_field = EXCLUDED.end_field, duration = EXCLUDED.duration,
                resolution_field = EXCLUDED.resolution_field, resolutions = EXCLUDED.resolutions,
                aspect_field = EXCLUDED.aspect_field, updated_at = now()
            """, [engine, inputs.startField, inputs.endField, inputs.duration.rawValue, inputs.resolutionField.rawValue,
                  inputs.resolutions, inputs.aspectField])
    }

    /// Removes an engine's mapping; false when there was none.
    public func removeModelInputs(engine: String) throws -> Bool {
        try connection.execute("DELETE FROM keyfarm.model_inputs WHERE engine = $1", [engine]).affectedRows > 0
    }
}
