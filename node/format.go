package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"actorlog/consensus"
)

// Data directory formats: the layouts this build reads and writes.
// docs/DESIGN.md ("Data directory formats") describes each.
//
//	1: the record log in log/ (one segment actor per segment), whose
//	   records carry their values, beside raft's own log in raft/log (or
//	   raft/wal), raft/stable, raft/snapshots and the FSM's files in raft/.
//	   Directories written before the format was recorded hold this layout.
//	2: the same files, but a record the FSM appends from a raft entry keeps
//	   only a reference to that entry, whose bytes stay in raft/log for as
//	   long as the record is retained: each record is written once.
const (
	DataFormat1 = 1
	DataFormat2 = 2
	// LatestDataFormat is the newest format this build knows.
	LatestDataFormat = DataFormat2
	// DefaultDataFormat is what a new data directory gets.
	DefaultDataFormat = DataFormat2
)

// formatFileName holds the data directory's format, one line.
const formatFileName = "FORMAT"

// formatPrefix starts the line; the version follows it.
const formatPrefix = "actorlog data format "

// DataFormatError is returned by Start for a data directory whose format
// this node cannot use. It wraps ErrDataFormat.
type DataFormatError struct {
	Dir   string
	Found string // the version found, or what the file held when unreadable
	Want  int    // the format the node is configured for
}

func (e *DataFormatError) Error() string {
	if n, err := strconv.Atoi(e.Found); err == nil && n >= DataFormat1 && n <= LatestDataFormat {
		// A format this build knows, newer than the one asked for.
		return fmt.Sprintf("node: data directory %s has format %d, but this node is configured for format %d "+
			"(see docs/DESIGN.md, \"Data directory formats\"): a directory cannot go back to an older format; "+
			"start with --data-format %d, or on an empty directory and let it catch up from the cluster", e.Dir, n, e.Want, n)
	}
	return fmt.Sprintf("node: data directory %s has format %s, but this build of actorlog reads formats %d to %d "+
		"(see docs/DESIGN.md, \"Data directory formats\"): run the release that wrote it, or start this one on an empty directory "+
		"and let it catch up from the cluster", e.Dir, e.Found, DataFormat1, LatestDataFormat)
}

func (e *DataFormatError) Unwrap() error { return ErrDataFormat }

// ErrDataFormat is wrapped by DataFormatError.
var ErrDataFormat = errors.New("node: unsupported data directory format")

// checkFormat reads the data directory's format and records want when the
// directory is new, older than the format file, or of format 1 while want
// is 2: format 2 reads format 1's records as they are, so moving up is
// only a matter of recording it (the records appended from then on refer
// to raft entries). Moving down is refused: format 1 would not keep the
// raft entries that format 2's records need. It is called with the
// directory locked, before anything in it is opened, and returns whether
// it moved the directory up.
func checkFormat(dataDir string, want int) (upgraded bool, err error) {
	path := filepath.Join(dataDir, formatFileName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		line := strings.TrimSpace(string(b))
		v, ok := strings.CutPrefix(line, formatPrefix)
		n, perr := strconv.Atoi(v)
		switch {
		case !ok || perr != nil:
			return false, &DataFormatError{Dir: dataDir, Found: strconv.Quote(line), Want: want}
		case n < DataFormat1 || n > LatestDataFormat || n > want:
			return false, &DataFormatError{Dir: dataDir, Found: strconv.Itoa(n), Want: want}
		case n == want:
			return false, nil
		}
		upgraded = true
	case !os.IsNotExist(err):
		return false, fmt.Errorf("%w: read %s: %w", ErrStart, path, err)
	}
	// No format file: a new directory, or one written before the format
	// was recorded, which has format 1's layout.
	if err := consensus.WriteFileAtomic(path, []byte(formatPrefix+strconv.Itoa(want)+"\n")); err != nil {
		return false, fmt.Errorf("%w: record the data format: %w", ErrStart, err)
	}
	return upgraded, nil
}
