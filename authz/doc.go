// Package authz decides which identity may do what.
//
// An identity is the Common Name of a verified client certificate (see
// package certs). A policy file maps identities to actions, one grant a
// line, in casbin's CSV policy format:
//
//	# root may do everything; every authenticated identity may read
//	p, root, produce
//	p, root, consume
//	p, root, admin
//	p, *, consume
//
// Comments are lines of their own that start with #.
//
// The actions are ActionProduce (append records), ActionConsume (read and
// subscribe) and ActionAdmin (list the servers, membership, status and
// debug endpoints); "*" stands for every identity or every action.
// Anything not granted is denied. The model (subject, action, with those
// wildcards) is fixed in code, so a policy file holds grants only.
//
// The package only decides; callers refuse the request and reply
// Unauthorized. It knows nothing of TLS, actors or HTTP.
package authz
