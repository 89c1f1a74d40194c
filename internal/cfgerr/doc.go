// Package cfgerr is the one configuration error of actorlog: a field (or a
// file, or a flag) that is wrong, and why. The packages that validate a
// configuration export it under their own name, as an alias
// (consensus.ConfigError, discovery.ConfigError, certs.ConfigError), so that
// callers keep writing errors.As(err, &ce) with the type of the package
// they called.
//
// Each package instantiates Error with a Kind of its own. The Kind names
// the package's sentinel error (consensus.ErrInvalidConfig,
// discovery.ErrInvalidConfig, certs.ErrTLSConfig): every Error matches it
// with errors.Is, and its message starts with the sentinel's text. Because
// each package has its own Kind, the three aliases stay three distinct
// types: errors.As for consensus.ConfigError does not match a
// discovery.ConfigError wrapped in the same chain, and even a ConfigError
// built by hand, as a zero value with only Field and Reason set, matches
// and reads as its package's.
package cfgerr
