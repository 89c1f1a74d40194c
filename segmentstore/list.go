package segmentstore

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// baseDigits is the width of the base offset in segment file names.
const baseDigits = 20

// ListSegments returns the base offsets of the segments in dir (those with
// a store file), sorted. Files that are not named like a segment, and
// anything that is not a regular file, are skipped: a stray file in the
// directory never stops a log from opening. A missing dir gives an empty
// list.
func ListSegments(dir string) ([]uint64, error) { return listSegments(OSFS{}, dir) }

func listSegments(fsys FS, dir string) ([]uint64, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("segmentstore: list segments: %w", err)
	}
	var bases []uint64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if base, ok := parseSegmentName(e.Name(), storeSuffix); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// parseSegmentName accepts exactly baseDigits decimal digits followed by
// suffix, and a value that fits in a uint64.
func parseSegmentName(name, suffix string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != baseDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	return base, err == nil
}
