//go:build !linux

package central

// setNotSentLowat does nothing where TCP_NOTSENT_LOWAT is not set here.
func setNotSentLowat(uintptr, int) error { return nil }
