package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// errScaleCheck is why `actorlog leave --if-scaled-down` could not tell
// whether its pod is being scaled away; it leaves nothing then.
var errScaleCheck = errors.New("cannot tell whether the pod is scaled down")

// serviceAccountDir is where Kubernetes mounts a pod's service account
// token, its CA and its namespace.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// scaleDownCheck decides, from inside a StatefulSet's pod, whether the pod
// ends because the StatefulSet was scaled below it. A StatefulSet removes
// the pods with the highest ordinals, and only after it lowered
// spec.replicas; a rolling update, an eviction or a node drain ends pods
// whose ordinal is below spec.replicas. So the pod is scaled away when its
// ordinal is at least spec.replicas, as the Kubernetes API reports it now.
type scaleDownCheck struct {
	apiURL      string // https://host:port of the API server
	token       string
	ca          *x509.CertPool
	namespace   string
	statefulSet string
	pod         string
}

// inClusterScaleCheck reads the pod's service account and the API server's
// address from what Kubernetes gives every container: the environment
// (KUBERNETES_SERVICE_HOST/PORT, and POD_NAME, which the chart sets from
// the downward API) and the mounted service account.
func inClusterScaleCheck(statefulSet, pod string) (*scaleDownCheck, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("%w: KUBERNETES_SERVICE_HOST/PORT are not set (not in a Kubernetes pod?)", errScaleCheck)
	}
	if pod == "" {
		pod = os.Getenv("POD_NAME")
	}
	if pod == "" {
		return nil, fmt.Errorf("%w: no pod name (--pod, or $POD_NAME from the downward API)", errScaleCheck)
	}
	token, err := os.ReadFile(filepath.Join(serviceAccountDir, "token"))
	if err != nil {
		return nil, fmt.Errorf("%w: the pod's service account token: %v (automountServiceAccountToken off?)", errScaleCheck, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("%w: the API server's CA: %v", errScaleCheck, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: no certificate in %s/ca.crt", errScaleCheck, serviceAccountDir)
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		b, err := os.ReadFile(filepath.Join(serviceAccountDir, "namespace"))
		if err != nil {
			return nil, fmt.Errorf("%w: the pod's namespace: %v", errScaleCheck, err)
		}
		ns = strings.TrimSpace(string(b))
	}
	return &scaleDownCheck{apiURL: "https://" + net.JoinHostPort(host, port), token: strings.TrimSpace(string(token)),
		ca: pool, namespace: ns, statefulSet: statefulSet, pod: pod}, nil
}

// ordinal is the pod's index in its StatefulSet: the number after the
// StatefulSet's name.
func podOrdinal(statefulSet, pod string) (int, error) {
	rest, ok := strings.CutPrefix(pod, statefulSet+"-")
	n, err := strconv.Atoi(rest)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("%w: pod %q is not a pod of StatefulSet %q", errScaleCheck, pod, statefulSet)
	}
	return n, nil
}

// scaledDown asks the API server for the StatefulSet and reports whether
// the pod is being scaled away, with the reason either way. A StatefulSet
// that is gone or being deleted (the release is uninstalled) and one scaled
// to zero are not scale-downs: the whole cluster stops and keeps its state.
func (c *scaleDownCheck) scaledDown(ctx context.Context) (bool, string, error) {
	ord, err := podOrdinal(c.statefulSet, c.pod)
	if err != nil {
		return false, "", err
	}
	u := c.apiURL + "/apis/apps/v1/namespaces/" + url.PathEscape(c.namespace) + "/statefulsets/" + url.PathEscape(c.statefulSet)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, "", fmt.Errorf("%w: %v", errScaleCheck, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: c.ca, MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Do(req)
	if err != nil {
		return false, "", fmt.Errorf("%w: %v", errScaleCheck, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return false, "", fmt.Errorf("%w: %v", errScaleCheck, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, fmt.Sprintf("StatefulSet %s/%s is gone: the release is being deleted, not scaled down", c.namespace, c.statefulSet), nil
	case resp.StatusCode != http.StatusOK:
		return false, "", fmt.Errorf("%w: GET statefulset %s/%s answered %s: %s", errScaleCheck, c.namespace, c.statefulSet, resp.Status, strings.TrimSpace(string(body)))
	}
	var sts struct {
		Metadata struct {
			DeletionTimestamp *string `json:"deletionTimestamp"`
		} `json:"metadata"`
		Spec struct {
			Replicas *int `json:"replicas"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &sts); err != nil {
		return false, "", fmt.Errorf("%w: decode the StatefulSet: %v", errScaleCheck, err)
	}
	replicas := 1 // the API's default when unset
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	switch {
	case sts.Metadata.DeletionTimestamp != nil:
		return false, fmt.Sprintf("StatefulSet %s/%s is being deleted, not scaled down", c.namespace, c.statefulSet), nil
	case replicas == 0:
		return false, fmt.Sprintf("StatefulSet %s/%s is scaled to zero: the cluster stops and keeps its state", c.namespace, c.statefulSet), nil
	case ord >= replicas:
		return true, fmt.Sprintf("pod %s (ordinal %d) is scaled away: StatefulSet %s wants %d replicas", c.pod, ord, c.statefulSet, replicas), nil
	}
	return false, fmt.Sprintf("pod %s (ordinal %d) stays: StatefulSet %s wants %d replicas (a restart, an update or an eviction)", c.pod, ord, c.statefulSet, replicas), nil
}
