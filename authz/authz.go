package authz

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	fileadapter "github.com/casbin/casbin/v2/persist/file-adapter"
)

// The actions a policy grants.
const (
	ActionProduce = "produce"
	ActionConsume = "consume"
	ActionAdmin   = "admin"
	// Wildcard grants every action, or (as the subject) applies to every
	// identity.
	Wildcard = "*"
)

// Actions lists every action, for help texts and validation.
var Actions = []string{ActionProduce, ActionConsume, ActionAdmin}

// Sentinel errors.
var (
	// ErrDenied is matched by *DeniedError.
	ErrDenied = errors.New("authz: denied")
	// ErrPolicy means the policy file cannot be used: unreadable,
	// malformed, or granting an unknown action.
	ErrPolicy = errors.New("authz: bad policy")
)

// DeniedError reports that Identity may not perform Action. It matches
// ErrDenied.
type DeniedError struct {
	Identity string
	Action   string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("authz: identity %q may not %s", e.Identity, e.Action)
}

// Is makes errors.Is(err, ErrDenied) true.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// modelText is the fixed model: a request is (identity, action), a grant
// is (identity or *, action or *), and one matching grant allows.
const modelText = `
[request_definition]
r = sub, act

[policy_definition]
p = sub, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (p.sub == r.sub || p.sub == "*") && (p.act == r.act || p.act == "*")
`

// Authorizer answers whether an identity may perform an action. It is safe
// for concurrent use.
type Authorizer struct {
	e      *casbin.SyncedEnforcer
	source string // the policy file, "" for DenyAll
}

// Load reads the policy file at path. Every grant must name a known action
// (or *); an unknown one is an error that names its line, so a typo does
// not silently deny.
func Load(path string) (*Authorizer, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no policy file given", ErrPolicy)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz: the built-in model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, fileadapter.NewAdapter(path))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, path, err)
	}
	grants, err := e.GetPolicy()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, path, err)
	}
	for _, g := range grants {
		if len(g) != 2 || g[0] == "" {
			return nil, fmt.Errorf("%w: %s: grant %q: want \"p, <identity or *>, <action>\"", ErrPolicy, path, strings.Join(g, ", "))
		}
		// casbin keeps a trailing space or a trailing comment as part of
		// the field, so "p, root , produce" would grant "root " and a
		// comment after a grant would make its action unknown.
		for _, f := range g {
			if strings.ContainsAny(f, " \t#") {
				return nil, fmt.Errorf("%w: %s: grant %q: %q has a space or a #; comments go on lines of their own that start with #",
					ErrPolicy, path, strings.Join(g, ", "), f)
			}
		}
		if g[1] != Wildcard && !slices.Contains(Actions, g[1]) {
			return nil, fmt.Errorf("%w: %s: grant %q: unknown action %q (want one of %s or *)",
				ErrPolicy, path, strings.Join(g, ", "), g[1], strings.Join(Actions, ", "))
		}
	}
	return &Authorizer{e: e, source: path}, nil
}

// DenyAll returns an Authorizer without grants: every request is denied.
// It is what a node with TLS and no policy file uses.
func DenyAll() *Authorizer {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		panic(fmt.Sprintf("authz: the built-in model does not parse: %v", err))
	}
	e, err := casbin.NewSyncedEnforcer(m)
	if err != nil {
		panic(fmt.Sprintf("authz: an enforcer without policy: %v", err))
	}
	return &Authorizer{e: e}
}

// Authorize returns nil when identity may perform action, and a
// *DeniedError otherwise (also when the decision itself fails: deny is the
// safe answer).
func (a *Authorizer) Authorize(identity, action string) error {
	ok, err := a.e.Enforce(identity, action)
	if err != nil || !ok {
		return &DeniedError{Identity: identity, Action: action}
	}
	return nil
}

// Source is the policy file, or "" for DenyAll.
func (a *Authorizer) Source() string { return a.source }

// Grants returns the number of grants loaded, for the start-up log.
func (a *Authorizer) Grants() int {
	g, err := a.e.GetPolicy()
	if err != nil {
		return 0
	}
	return len(g)
}
