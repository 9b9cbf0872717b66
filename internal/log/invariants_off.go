//go:build !invariants

package log

// checkInvariants is compiled in with the invariants build tag.
func (l *Log) checkInvariants() {}
