// Package faultfs is a segmentstore.FS for tests that simulates a power
// loss. It works on real files in real directories (so that the index can
// still be memory-mapped, and every other file of a process is untouched),
// and it remembers what the operating system would hold only in its page
// cache: bytes written but not fsynced, and names created, renamed or
// removed in a directory that was not fsynced since.
//
// PowerOff freezes the file system at that instant, as a power loss
// would: every later write, fsync, rename or removal through it fails with
// ErrPowerOff (the process under test keeps running until the test stops
// it), and it decides what the disk will hold:
//
//   - each file keeps its fsynced content; every 4 KiB page written since
//     its last fsync is, at random, kept, lost (the old bytes, or zeros
//     where the file had none) or torn (a random mix of the page's 512-byte
//     sectors, old and new), independently, so later pages may survive
//     while earlier ones are lost;
//   - a file's size is its fsynced size, its current size or a page
//     boundary between them;
//   - the names of each directory are the ones made durable by its last
//     fsync, plus a random prefix of the creations, renames and removals
//     made since (a journaling file system commits them in order), so a
//     rename not yet made durable may be lost.
//
// Restart then writes that state to the real files once the process under
// test has stopped, and the same FS goes on serving the restarted process
// with everything on disk counted as durable.
//
// What it does not model: directories themselves (MkdirAll is durable at
// once, and a directory cannot be renamed through it), files written by
// code that does not go through it (they are as durable as the real disk
// makes them), and a lying disk that acknowledges an fsync it did not make.
// A node's record log, raft log, stable store, raft snapshots and state
// machine files all go through it.
//
// It is a fake in the sense of the project's standards: a real power loss
// cannot be produced in a test process.
package faultfs
