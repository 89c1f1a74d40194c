package placement

import (
	"errors"
	"fmt"
)

// MaxTopicNameLength is the longest topic name.
const MaxTopicNameLength = 200

// DefaultTopic is the topic of every command and API that names none.
const DefaultTopic = "default"

// ErrInvalidTopic is wrapped by every refusal of a topic name.
var ErrInvalidTopic = errors.New("invalid topic name")

// ValidateTopic returns nil if name is a valid topic name, and an error
// wrapping ErrInvalidTopic that says what is wrong otherwise.
func ValidateTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty (use 1 to %d characters of a-z, A-Z, 0-9, '.', '_', '-')", ErrInvalidTopic, MaxTopicNameLength)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: %d characters, the most is %d", ErrInvalidTopic, len(name), MaxTopicNameLength)
	case name == "." || name == "..":
		// Topic names are directory names under <data-dir>/topics.
		return fmt.Errorf("%w: %q names a directory", ErrInvalidTopic, name)
	}
	for i, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q holds %q at byte %d (use a-z, A-Z, 0-9, '.', '_', '-')", ErrInvalidTopic, name, c, i)
		}
	}
	return nil
}
