package consensus

import (
	"errors"

	"actorlog/internal/cfgerr"
)

// Errors returned by this package. Each is wrapped with %w where more
// context helps, so test with errors.Is, never by comparing strings.
var (
	// ErrClosed is returned by a store that has already been closed.
	ErrClosed = errors.New("consensus: store is closed")

	// ErrUnknownStoreKind is returned by Open for a StoreConfig.Kind
	// that names no implementation.
	ErrUnknownStoreKind = errors.New("consensus: unknown store kind")

	// ErrStoreKindMismatch is returned by Open when the data
	// directory already holds the raft log of the other kind. Opening the
	// new kind would start from an empty log and stable store, forgetting
	// the node's term and vote, which can elect two leaders in one term.
	ErrStoreKindMismatch = errors.New("consensus: data directory holds a raft log of another store kind")

	// ErrNonMonotonic is returned by StoreLogs when the entries do not
	// continue the log exactly (a gap, an overlap, or out-of-order indexes).
	// The log stores here implement raft.MonotonicLogStore, so raft deletes
	// the whole log before it appends past a gap (after a snapshot restore).
	ErrNonMonotonic = errors.New("consensus: log entries are not contiguous")

	// ErrUnsupportedDeleteRange is returned by DeleteRange for a range that
	// is neither a prefix nor a suffix of the log. Raft never asks for one.
	ErrUnsupportedDeleteRange = errors.New("consensus: only a prefix or a suffix of the log can be deleted")

	// ErrCorrupt is returned when stored bytes cannot be decoded: a log
	// entry, the log metadata or the stable store file.
	ErrCorrupt = errors.New("consensus: corrupt data")
	// ErrEntryGone is returned by EntryRecords for an entry that is no
	// longer (or not yet) on disk.
	ErrEntryGone = errors.New("consensus: raft entry is not on disk")
	// ErrNotProduce is returned by EntryRecords for an entry that holds
	// no produce command.
	ErrNotProduce = errors.New("consensus: raft entry holds no records")

	// ErrGaveUp is returned by the FSM once it has given up appending
	// committed records (it was closed while the log failed): it appends
	// and snapshots nothing more, so that a restart replays them.
	ErrGaveUp = errors.New("consensus: the FSM gave up appending committed records")

	// ErrNotUint64 is returned by GetUint64 for a key whose value was not
	// written by SetUint64.
	ErrNotUint64 = errors.New("consensus: value is not a uint64")

	// ErrNotAdvertisable is returned by Peer.Start when no advertise
	// address is given and the bind address cannot be dialled by peers
	// (0.0.0.0 or [::]).
	ErrNotAdvertisable = errors.New("consensus: bind address is not advertisable; set an advertise address")

	// ErrInvalidArgument is returned for a call whose argument cannot be
	// used as given (a fault at an offset already applied).
	ErrInvalidArgument = errors.New("consensus: invalid argument")

	// ErrInvalidConfig is wrapped by the *ConfigError that Validate returns.
	ErrInvalidConfig = errors.New("consensus: invalid config")
)

// ConfigError names the configuration field that is out of range.
// It matches ErrInvalidConfig with errors.Is.
type ConfigError = cfgerr.Error[configKind]

// configKind makes ConfigError this package's: its message starts with
// ErrInvalidConfig's, which it matches.
type configKind struct{}

func (configKind) Sentinel() error { return ErrInvalidConfig }
