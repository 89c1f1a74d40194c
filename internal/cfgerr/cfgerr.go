package cfgerr

import "fmt"

// Kind ties an Error to the package that returns it. Implementations are
// empty structs, one per package.
type Kind interface {
	// Sentinel is the error every Error of this kind matches with
	// errors.Is; its text starts the message.
	Sentinel() error
}

// Error names the configuration field (or file, or flag) that is wrong,
// and why. It matches K's sentinel with errors.Is.
type Error[K Kind] struct {
	Field  string
	Reason string
}

func (e *Error[K]) Error() string {
	var k K
	return fmt.Sprintf("%s: %s: %s", k.Sentinel().Error(), e.Field, e.Reason)
}

// Is makes errors.Is(err, K's sentinel) true for every *Error[K].
func (e *Error[K]) Is(target error) bool {
	var k K
	return target == k.Sentinel()
}
