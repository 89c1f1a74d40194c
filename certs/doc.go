// Package certs makes and loads the certificates of actorlog's mutual TLS.
//
// It owns three things:
//
//   - Generation, for development and the specs: NewCA makes a self-signed
//     certificate authority and Issue signs node and client certificates
//     with it (ECDSA P-256). Every leaf may both serve and dial, because
//     every party does both: a node serves clients and dials other nodes,
//     and a client serves the listener that nodes dial replies back to.
//   - Loading: Load turns the three files an operator passes
//     (--tls-cert, --tls-key, --tls-ca) into one *tls.Config that requires
//     and verifies a certificate from that CA on every connection, served
//     or dialled.
//
// Identity is the subject Common Name of the peer's certificate
// (Identity). A node certificate is one whose subject OrganizationalUnit
// includes NodeOU (IsNode); only node certificates may speak raft or
// address a node's internal actors.
//
// Peers are verified by CA and identity, never by host name: nodes dial
// clients back at addresses that no certificate could name in advance.
//
// It also tells why two parties will not talk (Check, SpeaksTLS,
// Mismatch): each dials the peer once and completes, or fails, one TLS
// handshake, so that a client or a joining node can name the reason
// instead of timing out. The package keeps no state.
package certs
