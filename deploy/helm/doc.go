// Package helm holds the test of the Helm chart in helm/actorlog: it renders
// the chart with Helm's Go library and decodes every manifest strictly into
// the Kubernetes API types. It lives in a Go module of its own (deploy/go.mod)
// so that the service's module does not carry the Kubernetes dependency tree.
// Run it with `make chart-test`; README.md, "Kubernetes", says what it checks.
package helm
