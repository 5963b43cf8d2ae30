package store

// agentModels lists the tables of the agent feature for migration.
func agentModels() []any {
	return nil
}
