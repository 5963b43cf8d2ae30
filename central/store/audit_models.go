package store

// auditModels lists the tables of the audit feature for migration.
func auditModels() []any {
	return nil
}
