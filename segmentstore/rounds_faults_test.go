//go:build faults

package segmentstore_test

// powerLossRounds under `make faults`.
const powerLossRounds = 50
