package central

// WithDefaults returns c with the defaults central applies (data_dir
// /var/lib/shoal-central, …), for the maintenance commands (migrate,
// backup, restore) that work on the data directory without a Server.
func (c Config) WithDefaults() Config { return c.withDefaults() }
