package store

// uiModels lists the tables of the ui feature for migration.
func uiModels() []any {
	return nil
}
