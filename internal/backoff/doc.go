// Package backoff is the one exponential backoff of actorlog: every loop
// that retries a failed call (the Consul registrar and watcher, the client's
// retries, the FSM's appends, a replica's repair, a node's leave) takes its
// waits from here, so they all grow, cap and jitter the same way.
//
// A Policy says how the waits grow: the first is Min, each next one twice
// the one before, never more than Max. With Jitter each wait is drawn at
// random from the upper half of that value, [d/2, d): nodes or clients that
// failed together (the same Consul agent lost, the same leader gone) then
// do not retry in lockstep, and no wait is ever longer than the cap.
// Without Jitter the waits are exact, for loops whose timing tests and
// operators read as is.
//
// Policy.Delay gives the wait before a numbered retry, for loops that count
// their attempts; a Backoff is the stateful form (Next, and Reset after a
// success) for loops that run for as long as their owner does. Sleep and
// SleepOrStop wait for one delay and say whether the owner stopped in the
// meantime (its context ended or its stop channel closed), so that every
// loop ends promptly with its owner, never a full wait later. Retry puts the
// three together for the common loop "call until it works or we stop".
//
// The package holds no goroutines and no global state; a Backoff belongs to
// the one goroutine that uses it.
package backoff
