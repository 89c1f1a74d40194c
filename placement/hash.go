package placement

import "encoding/binary"

// Murmur2 is the 32-bit MurmurHash2 of key with the seed 0x9747b28c, as
// Kafka's Java client computes it for its default partitioner (its result
// read as a signed 32-bit integer there).
func Murmur2(key []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(key))
	blocks := len(key) / 4
	for i := 0; i < blocks; i++ {
		k := binary.LittleEndian.Uint32(key[4*i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := key[4*blocks:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// KeyPartition is the partition, of partitions, that a record with key
// goes to: Murmur2 with the sign bit cleared, modulo partitions. It panics
// if partitions is not positive, which no valid topic has.
func KeyPartition(key []byte, partitions int) int {
	if partitions <= 0 {
		panic("placement: KeyPartition of a topic without partitions")
	}
	return int(Murmur2(key)&0x7fffffff) % partitions
}
