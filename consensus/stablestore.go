package consensus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync"

	"actorlog/segmentstore"

	"github.com/hashicorp/raft"
)

// fileStableStore is a raft.StableStore kept in one small file. Raft writes
// it only when the term or the vote changes, so every Set rewrites the
// whole file with writeFileAtomic: one fsync'd temp file and a rename, and a
// crash leaves either the old or the new set of keys.
//
// Keys share one namespace between Set and SetUint64 (as in raft-wal); a
// missing key reads as (nil, nil) and GetUint64 as (0, nil), which raft
// treats as unset.
type fileStableStore struct {
	path string
	fs   segmentstore.FS

	mu     sync.RWMutex
	kv     map[string][]byte
	closed bool
}

var _ raft.StableStore = (*fileStableStore)(nil)

// File layout: magic, version, uvarint count, then per key uvarint
// len+bytes of key and of value, sorted by key, then a CRC-32C of all that.
const (
	stableMagic   = "ALST"
	stableVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openFileStableStore opens (or creates) the stable store file at path.
// A missing file is an empty store; a damaged one is ErrCorrupt.
func openFileStableStore(path string) (*fileStableStore, error) {
	return openFileStableStoreFS(segmentstore.OSFS{}, path)
}

// openFileStableStoreFS is openFileStableStore on the given file system
// (nil: the operating system's): it is written through fsys.
func openFileStableStoreFS(fsys segmentstore.FS, path string) (*fileStableStore, error) {
	fsys = fsOr(fsys)
	if err := removeStaleTempFS(fsys, path); err != nil {
		return nil, err
	}
	s := &fileStableStore{path: path, fs: fsys, kv: make(map[string][]byte)}
	data, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("consensus: read stable store: %w", err)
	}
	if s.kv, err = decodeStable(data); err != nil {
		return nil, fmt.Errorf("%w: stable store %s: %w", ErrCorrupt, path, err)
	}
	return s, nil
}

func decodeStable(data []byte) (map[string][]byte, error) {
	if len(data) < len(stableMagic)+1+4 || string(data[:len(stableMagic)]) != stableMagic {
		return nil, fmt.Errorf("bad header")
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("checksum mismatch")
	}
	b := body[len(stableMagic):]
	if b[0] != stableVersion {
		return nil, fmt.Errorf("unknown version %d", b[0])
	}
	b = b[1:]
	n, err := readUvarint(&b)
	if err != nil {
		return nil, err
	}
	kv := make(map[string][]byte, n)
	for i := uint64(0); i < n; i++ {
		k, err := readBytes(&b)
		if err != nil {
			return nil, err
		}
		v, err := readBytes(&b)
		if err != nil {
			return nil, err
		}
		kv[string(k)] = append([]byte{}, v...)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(b))
	}
	return kv, nil
}

func encodeStable(kv map[string][]byte) []byte {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteString(stableMagic)
	buf.WriteByte(stableVersion)
	b := binary.AppendUvarint(buf.Bytes(), uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(kv[k])))
		b = append(b, kv[k]...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Set stores val under key durably before it returns.
func (s *fileStableStore) Set(key []byte, val []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	next := make(map[string][]byte, len(s.kv)+1)
	for k, v := range s.kv {
		next[k] = v
	}
	next[string(key)] = append([]byte{}, val...)
	if err := writeFileAtomicFS(s.fs, s.path, encodeStable(next)); err != nil {
		return err
	}
	s.kv = next
	return nil
}

// Get returns a copy of the value under key, or nil when it is not set.
func (s *fileStableStore) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	v, ok := s.kv[string(key)]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// SetUint64 stores val as 8 big-endian bytes under key.
func (s *fileStableStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns the value SetUint64 stored under key, 0 when unset, and
// ErrNotUint64 when the key holds something else.
func (s *fileStableStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: key %q holds %d bytes", ErrNotUint64, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close marks the store closed; every write was already durable. It is
// idempotent.
func (s *fileStableStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func readUvarint(b *[]byte) (uint64, error) {
	v, n := binary.Uvarint(*b)
	if n <= 0 {
		return 0, fmt.Errorf("bad varint")
	}
	*b = (*b)[n:]
	return v, nil
}

func readBytes(b *[]byte) ([]byte, error) {
	n, err := readUvarint(b)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(*b)) {
		return nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(*b))
	}
	v := (*b)[:n]
	*b = (*b)[n:]
	return v, nil
}
