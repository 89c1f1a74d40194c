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

// DataFormat is the layout of the data directory this build reads and
// writes. docs/DESIGN.md ("Data directory formats") describes each.
//
//	1: the record log in log/ (one segment actor per segment) beside raft's
//	   own log in raft/log, raft/stable, raft/snapshots and the FSM's files
//	   in raft/. Directories written before the format was recorded hold
//	   this layout.
const DataFormat = 1

// formatFileName holds the data directory's format, one line.
const formatFileName = "FORMAT"

// formatPrefix starts the line; the version follows it.
const formatPrefix = "actorlog data format "

// DataFormatError is returned by Start for a data directory whose format
// this build cannot read. It wraps ErrDataFormat.
type DataFormatError struct {
	Dir   string
	Found string // the version found, or what the file held when unreadable
	Want  int
}

func (e *DataFormatError) Error() string {
	return fmt.Sprintf("node: data directory %s has format %s, but this build of actorlog reads format %d "+
		"(see docs/DESIGN.md, \"Data directory formats\"): run the release that wrote it, or start this one on an empty directory "+
		"and let it catch up from the cluster", e.Dir, e.Found, e.Want)
}

func (e *DataFormatError) Unwrap() error { return ErrDataFormat }

// ErrDataFormat is wrapped by DataFormatError.
var ErrDataFormat = errors.New("node: unsupported data directory format")

// checkFormat reads the data directory's format, and records it when the
// directory is new or older than the format file. It is called with the
// directory locked, before anything in it is opened.
func checkFormat(dataDir string) error {
	path := filepath.Join(dataDir, formatFileName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		line := strings.TrimSpace(string(b))
		v, ok := strings.CutPrefix(line, formatPrefix)
		n, perr := strconv.Atoi(v)
		if !ok || perr != nil {
			return &DataFormatError{Dir: dataDir, Found: strconv.Quote(line), Want: DataFormat}
		}
		if n != DataFormat {
			return &DataFormatError{Dir: dataDir, Found: strconv.Itoa(n), Want: DataFormat}
		}
		return nil
	case !os.IsNotExist(err):
		return fmt.Errorf("%w: read %s: %v", ErrStart, path, err)
	}
	// No format file: a new directory, or one written before the format
	// was recorded, which has format 1's layout.
	if err := consensus.WriteFileAtomic(path, []byte(formatPrefix+strconv.Itoa(DataFormat)+"\n")); err != nil {
		return fmt.Errorf("%w: record the data format: %v", ErrStart, err)
	}
	return nil
}
