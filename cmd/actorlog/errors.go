package main

// Exit codes. Scripts can tell a mistake in the command line from a failure
// of the operation.
const (
	exitFailure = 1 // the operation failed (node unreachable, rejected request, I/O error)
	exitUsage   = 2 // bad flags or arguments; nothing was attempted
)

// usageError marks an error in how the command was called.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }
