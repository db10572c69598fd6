import KeyfarmPostgres

extension FarmStore {
    /// Sets (or with nil removes) a shot list's credit budget; jobs it blocked that now fit are requeued.
    public func setBudget(shotList name: String, project: String?, credits: Int64?) throws -> Int64 {
        try connection.transaction { connection in
            let list = try resolveShotList(name: name, project: project)
            try connection.execute("UPDATE keyfarm.shot_lists SET budget_credits = $2, updated_at = now() WHERE id = $1",
                                   [list.id, credits])
            try unblockWithinBudget(shotListIDs: [list.id], on: connection)
            return list.id
        }
    }

    /// Sets (or with nil removes) a project's credit budget, shared by all its shot lists.
    public func setBudget(project: String, credits: Int64?) throws {
        try connection.transaction { connection in
            if let credits {
                try connection.execute("""
                    INSERT INTO keyfarm.project_budgets (project, budget_credits) VALUES ($1, $2)
                    ON CONFLICT (project) DO UPDATE SET budget_credits = EXCLUDED.budget_credits, updated_at = now()
                    """, [project, credits])
            } else {
                try connection.execute("DELETE FROM keyfarm.project_budgets WHERE project = $1", [project])
            }
            try unblockWithinBudget(shotListIDs: nil, on: connection)
        }
    }

    /// Every project budget with what its lists have spent and reserved.
    public func projectBudgets() throws -> [(project: String, budget: Int64, spent: Int64, reserved: Int64)] {
        try connection.execute("""
            SELECT pb.project, pb.budget_credits,
                   COALESCE((SELECT sum(spent_credits) FROM keyfarm.shot_lists l WHERE l.project = pb.project), 0)::bigint AS spent,
                   COALESCE((SELECT sum(reserved_credits) FROM keyfarm.shot_lists l WHERE l.project = pb.project), 0)::bigint AS reserved
            FROM keyfarm.project_budgets pb ORDER BY pb.project
            """).rows.map { row in
            (try row.decode("project"), try row.decode("budget_credits"), try row.decode("spent"), try row.decode("reserved"))
        }
    }
}
