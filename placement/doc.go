// Package placement decides where the partitions of a topic live: which
// nodes hold each partition's replicas, which of them should lead, where a
// keyed record goes, and how replicas move off a node that is gone.
//
// It is pure: no I/O, no clocks, no randomness. Every decision is a
// function of its inputs, ties broken by node id, so every node that runs
// it on the same metadata gets the same answer, and tests state exact
// expectations.
//
// # Names
//
// A topic name is 1 to 200 characters of [a-zA-Z0-9._-] (ValidateTopic).
// It becomes a directory name, so "." and ".." are refused too.
//
// # Keys
//
// A record with a key goes to partition KeyPartition(key, P): the key's
// murmur2 hash (the 32-bit variant with seed 0x9747b28c that Kafka's Java
// client uses), its sign bit cleared, modulo P. A Kafka producer with the
// default partitioner sends the same key to the same partition number.
//
// # Replicas and leaders
//
// Place gives each new partition R distinct nodes, always taking the nodes
// that hold the fewest replicas so far, so replicas spread evenly across
// the cluster however many topics are created one after another. The first
// node of a replica set is the partition's preferred leader, chosen among
// the set as the node that is preferred leader of the fewest partitions:
// leadership spreads as evenly as the replicas do.
//
// Repair plans how to restore R for partitions with replicas on nodes that
// left: one Move per lost replica, adding a replacement (the least loaded
// live node not already in the set) before the lost one is removed, so a
// partition never has fewer replicas than it had. PreferredLeader says
// which live replica should lead, for leadership transfers after nodes
// join or return.
package placement
