package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const chartDir = "actorlog"

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that the chart writes; its types are not in
// k8s.io/api. Strict decoding into it catches a misspelt field the same way.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   metadataOnly       `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type metadataOnly struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Endpoints []struct {
		Port      string `json:"port"`
		Path      string `json:"path"`
		Interval  string `json:"interval"`
		Scheme    string `json:"scheme"`
		TLSConfig *struct {
			InsecureSkipVerify bool `json:"insecureSkipVerify"`
		} `json:"tlsConfig"`
	} `json:"endpoints"`
}

// rendered is one release's manifests, decoded.
type rendered struct {
	sts      *appsv1.StatefulSet
	services map[string]*corev1.Service
	pdb      *policyv1.PodDisruptionBudget
	monitor  *serviceMonitor
	// The preStop hook's permission to read the StatefulSet.
	account *corev1.ServiceAccount
	role    *rbacv1.Role
	binding *rbacv1.RoleBinding
}

func loadValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// render renders the chart as `helm template` does, with Helm's library.
func render(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = "log"
	install.Namespace = "streams"
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
	install.APIVersions = []string{"monitoring.coreos.com/v1"}
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	return releaseutil.SplitManifests(rel.Manifest), nil
}

// decode decodes every manifest strictly (an unknown or misspelt field
// fails) into its Kubernetes type.
func decode(t *testing.T, manifests map[string]string) rendered {
	t.Helper()
	r := rendered{services: map[string]*corev1.Service{}}
	keys := make([]string, 0, len(manifests))
	for k := range manifests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		doc := manifests[k]
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v\n%s", k, err, doc)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 StatefulSet":
			if r.sts != nil {
				t.Fatal("two StatefulSets")
			}
			r.sts = &appsv1.StatefulSet{}
			obj = r.sts
		case "v1 Service":
			s := &corev1.Service{}
			obj = s
			defer func() { r.services[s.Name] = s }()
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "v1 ServiceAccount":
			r.account = &corev1.ServiceAccount{}
			obj = r.account
		case "rbac.authorization.k8s.io/v1 Role":
			r.role = &rbacv1.Role{}
			obj = r.role
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			r.binding = &rbacv1.RoleBinding{}
			obj = r.binding
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.monitor = &serviceMonitor{}
			obj = r.monitor
		default:
			t.Fatalf("%s: unexpected kind %s %s", k, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s does not decode strictly into %T: %v\n%s", k, obj, err, doc)
		}
	}
	return r
}

// binFlags are the flags of the binary's commands the chart runs.
type binFlags struct {
	agent map[string]string // actorlog agent
	leave map[string]string // actorlog leave, the preStop hook
}

// agentFlags runs `actorlog agent --help` and `actorlog leave --help` and
// returns every flag of each with its default ("" when the help names
// none).
func agentFlags(t *testing.T) binFlags {
	t.Helper()
	bin := os.Getenv("ACTORLOG_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "actorlog")
		build := exec.Command("go", "build", "-o", bin, "./cmd/actorlog")
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build actorlog: %v\n%s", err, out)
		}
	}
	return binFlags{agent: commandFlags(t, bin, "agent", 20), leave: commandFlags(t, bin, "leave", 6)}
}

func commandFlags(t *testing.T, bin, command string, atLeast int) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, command, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s --help: %v\n%s", bin, command, err, out)
	}
	flags := map[string]string{}
	line := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)`)
	def := regexp.MustCompile(`\(default "?([^")]*)"?\)`)
	var last string
	for _, l := range strings.Split(string(out), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			last = m[1]
			flags[last] = ""
		}
		if m := def.FindStringSubmatch(l); m != nil && last != "" && flags[last] == "" {
			flags[last] = m[1]
		}
	}
	if len(flags) < atLeast {
		t.Fatalf("parsed only %d flags from %s --help:\n%s", len(flags), command, out)
	}
	return flags
}

func port(t *testing.T, hostport string) int32 {
	t.Helper()
	i := strings.LastIndex(hostport, ":")
	p, err := strconv.Atoi(hostport[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%q has no port", hostport)
	}
	return int32(p)
}

// args splits the container's "--flag=value" arguments.
func args(t *testing.T, c corev1.Container) map[string][]string {
	t.Helper()
	return commandArgs(t, c.Args, "agent")
}

// commandArgs splits "<command> --flag=value..." into its flags.
func commandArgs(t *testing.T, argv []string, command string) map[string][]string {
	t.Helper()
	if len(argv) == 0 || argv[0] != command {
		t.Fatalf("arguments %q do not start with %s", argv, command)
	}
	out := map[string][]string{}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q is not a --flag", a)
		}
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "--") {
			i++
			value = argv[i]
		}
		out[name] = append(out[name], value)
	}
	return out
}

func one(t *testing.T, a map[string][]string, name string) string {
	t.Helper()
	if len(a[name]) != 1 {
		t.Fatalf("--%s given %d times, want once: %q", name, len(a[name]), a[name])
	}
	return a[name][0]
}

func TestChart(t *testing.T) {
	flags := agentFlags(t)
	for _, tc := range []struct {
		name       string
		valuesFile string
		replicas   int32
		tls        bool
		noLeave    bool
	}{
		{"default values", "", 3, false, false},
		{"TLS and 5 replicas", filepath.Join(chartDir, "ci", "tls-values.yaml"), 5, true, false},
		{"without the leave on scale-down", "", 3, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := loadValues(t, tc.valuesFile)
			if tc.noLeave {
				vals["leaveOnScaleDown"] = map[string]any{"enabled": false}
			}
			lint := action.NewLint()
			lint.Namespace = "streams"
			lint.Strict = true
			if res := lint.Run([]string{chartDir}, vals); len(res.Errors) > 0 {
				t.Fatalf("helm lint: %v", res.Errors)
			}
			manifests, err := render(t, vals)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			r := decode(t, manifests)
			checkRelease(t, r, flags.agent, tc.replicas, tc.tls)
			checkLeave(t, r, flags, !tc.noLeave, tc.tls)
		})
	}
}

func checkRelease(t *testing.T, r rendered, flags map[string]string, replicas int32, tlsOn bool) {
	t.Helper()
	sts := r.sts
	if sts == nil || r.pdb == nil || len(r.services) != 2 {
		t.Fatalf("want a StatefulSet, a PodDisruptionBudget and two Services; got %+v", r)
	}
	if tlsOn != (r.monitor != nil) {
		t.Fatalf("ServiceMonitor rendered: %v, want %v", r.monitor != nil, tlsOn)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != replicas {
		t.Fatalf("replicas %v, want %d", sts.Spec.Replicas, replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Fatalf("podManagementPolicy %q: bootstrap-expect needs every pod started at once", sts.Spec.PodManagementPolicy)
	}
	podLabels := sts.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if podLabels[k] != v {
				return false
			}
		}
		return true
	}
	if !matches(sts.Spec.Selector.MatchLabels) {
		t.Fatalf("StatefulSet selector %v does not match pod labels %v", sts.Spec.Selector.MatchLabels, podLabels)
	}

	pod := sts.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	a := args(t, c)
	for name := range a {
		if _, ok := flags[name]; !ok {
			t.Errorf("--%s is not a flag of actorlog agent", name)
		}
	}

	// Ports: the container's named ports are the binary's default ports,
	// and the flags bind them.
	cports := map[string]int32{}
	for _, p := range c.Ports {
		cports[p.Name] = p.ContainerPort
	}
	for name, flag := range map[string]string{"actor": "actor-addr", "raft": "raft-addr", "http": "http-addr", "grpc": "grpc-addr"} {
		want := port(t, flags[flag])
		if cports[name] != want {
			t.Errorf("container port %s is %d, actorlog agent's --%s defaults to port %d", name, cports[name], flag, want)
		}
		if got := port(t, one(t, a, flag)); got != cports[name] {
			t.Errorf("--%s binds port %d, the container port %s is %d", flag, got, name, cports[name])
		}
	}
	headless := sts.Spec.ServiceName
	for _, flag := range []string{"advertise-actor-addr", "advertise-raft-addr", "advertise-grpc-addr"} {
		v := one(t, a, flag)
		want := "$(POD_NAME)." + headless + ".$(POD_NAMESPACE).svc."
		if !strings.HasPrefix(v, want) {
			t.Errorf("--%s=%s, want the pod's stable name %s...", flag, v, want)
		}
	}
	if got := one(t, a, "advertise-raft-addr"); port(t, got) != cports["raft"] {
		t.Errorf("--advertise-raft-addr %s is not on the raft port %d", got, cports["raft"])
	}
	if got := one(t, a, "advertise-actor-addr"); port(t, got) != cports["actor"] {
		t.Errorf("--advertise-actor-addr %s is not on the actor port %d", got, cports["actor"])
	}
	if got := one(t, a, "advertise-grpc-addr"); port(t, got) != cports["grpc"] {
		t.Errorf("--advertise-grpc-addr %s is not on the gRPC port %d", got, cports["grpc"])
	}
	if got := one(t, a, "id"); got != "$(POD_NAME)" {
		t.Errorf("--id=%s, want $(POD_NAME)", got)
	}
	if got := one(t, a, "bootstrap-expect"); got != strconv.Itoa(int(replicas)) {
		t.Errorf("--bootstrap-expect=%s, want %d", got, replicas)
	}
	if one(t, a, "consul-addr") == "" {
		t.Error("--consul-addr is empty")
	}
	envs := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		envs[e.Name] = e
	}
	for _, flag := range []string{"id", "advertise-actor-addr", "advertise-raft-addr", "advertise-grpc-addr", "consul-addr"} {
		for _, ref := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(one(t, a, flag), -1) {
			if _, ok := envs[ref[1]]; !ok {
				t.Errorf("--%s uses $(%s), which the container does not define", flag, ref[1])
			}
		}
	}

	// Probes: /healthz for startup and liveness, /readyz for readiness, on
	// the HTTP port, over HTTPS with TLS.
	scheme := corev1.URISchemeHTTP
	if tlsOn {
		scheme = corev1.URISchemeHTTPS
	}
	for name, pr := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{
		"startup":   {c.StartupProbe, "/healthz"},
		"liveness":  {c.LivenessProbe, "/healthz"},
		"readiness": {c.ReadinessProbe, "/readyz"},
	} {
		p := pr.probe
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe missing or not httpGet", name)
			continue
		}
		if p.HTTPGet.Path != pr.path || p.HTTPGet.Scheme != scheme {
			t.Errorf("%s probe %s %s, want %s %s", name, p.HTTPGet.Scheme, p.HTTPGet.Path, scheme, pr.path)
		}
		if p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s probe port %v, want the named port http", name, p.HTTPGet.Port)
		}
	}
	if c.StartupProbe != nil && c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds < 300 {
		t.Errorf("startup probe allows %ds, want at least 5 minutes for a long recovery", c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds)
	}

	// Storage: the claim template is mounted where --data-dir points.
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("%d volumeClaimTemplates", len(sts.Spec.VolumeClaimTemplates))
	}
	claim := sts.Spec.VolumeClaimTemplates[0].Name
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	if mounts[claim].MountPath != one(t, a, "data-dir") {
		t.Errorf("claim %s mounted at %q, --data-dir is %q", claim, mounts[claim].MountPath, one(t, a, "data-dir"))
	}

	// TLS files come from the Secret, the policy from the ConfigMap.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountedFrom := func(path string) *corev1.Volume {
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(path, m.MountPath+"/") {
				v := volumes[m.Name]
				return &v
			}
		}
		return nil
	}
	if tlsOn {
		for flag, key := range map[string]string{"tls-cert": "tls.crt", "tls-key": "tls.key", "tls-ca": "ca.crt"} {
			f := one(t, a, flag)
			v := mountedFrom(f)
			if v == nil || v.Secret == nil || v.Secret.SecretName != "actorlog-tls" || filepath.Base(f) != key {
				t.Errorf("--%s=%s is not key %s of the Secret actorlog-tls", flag, f, key)
			}
		}
		f := one(t, a, "acl-policy")
		if v := mountedFrom(f); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != "actorlog-acl" {
			t.Errorf("--acl-policy=%s is not from the ConfigMap actorlog-acl", f)
		}
	} else {
		for _, flag := range []string{"tls-cert", "tls-key", "tls-ca", "acl-policy"} {
			if len(a[flag]) > 0 {
				t.Errorf("--%s given without TLS", flag)
			}
		}
	}

	// Security: the image's unprivileged user, nothing writable but /data.
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.FSGroup == nil || *psc.FSGroup != 65532 {
		t.Errorf("pod securityContext %+v: want non-root uid 65532 and fsGroup 65532", psc)
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext %+v: want a read-only root filesystem and no privilege escalation", csc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU requests and a memory limit", c.Resources)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 30 {
		t.Errorf("terminationGracePeriodSeconds %v: the agent's graceful stop takes up to 30 s", pod.TerminationGracePeriodSeconds)
	}
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
		t.Error("no pod anti-affinity")
	}

	// Services: a headless one with every pod's address, ready or not, and
	// a client one; both select the pods and target named container ports.
	hs := r.services[headless]
	if hs == nil || hs.Spec.ClusterIP != corev1.ClusterIPNone || !hs.Spec.PublishNotReadyAddresses {
		t.Fatalf("headless Service %q missing, not headless, or not publishing unready pods: %+v", headless, hs)
	}
	for name, s := range r.services {
		if !matches(s.Spec.Selector) {
			t.Errorf("Service %s selects %v, pods have %v", name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			if _, ok := cports[p.TargetPort.String()]; !ok || p.Port != cports[p.TargetPort.String()] {
				t.Errorf("Service %s port %s: %d -> %s is not a container port", name, p.Name, p.Port, p.TargetPort.String())
			}
		}
	}
	if r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() != 1 || !matches(r.pdb.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget %+v: want maxUnavailable 1 over the pods", r.pdb.Spec)
	}
	if m := r.monitor; m != nil {
		if !matches(m.Spec.Selector.MatchLabels) || len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "http" ||
			m.Spec.Endpoints[0].Path != "/metrics" || (tlsOn && m.Spec.Endpoints[0].Scheme != "https") {
			t.Errorf("ServiceMonitor %+v does not scrape https /metrics on the http port of the pods", m.Spec)
		}
	}
}

func TestChartRefusesInconsistentValues(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"tls": map[string]any{"enabled": true}}, "tls.secretName"},
		{map[string]any{"acl": map[string]any{"configMapName": "p"}}, "needs tls.enabled"},
	} {
		_, err := render(t, tc.vals)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %v: got %v, want an error naming %s", tc.vals, err, tc.want)
		}
	}
}

// agentStopSeconds is how long `actorlog agent` may take to stop gracefully
// on SIGTERM (cmd/actorlog/agent.go, stopTimeout); leaveAnswerSeconds how
// much longer than its --timeout `actorlog leave` waits for the node's
// answer (cmd/actorlog/leave.go).
const (
	agentStopSeconds   = 30
	leaveAnswerSeconds = 5
)

// checkLeave checks the scale-down leave: a preStop hook that runs
// `actorlog leave --if-scaled-down` with flags the binary has, against this
// pod's HTTP port, its own StatefulSet, with the pod's name from the
// downward API and the node certificate under TLS; a grace period that
// holds the leave's timeout and then the agent's graceful stop; a service
// account whose Role may get this StatefulSet only; and --rejoin for a pod
// scaled back up on the volume of one that left. Without it: none of that.
func checkLeave(t *testing.T, r rendered, flags binFlags, on, tlsOn bool) {
	t.Helper()
	sts := r.sts
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	a := args(t, c)
	if !on {
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
			t.Errorf("a preStop hook without leaveOnScaleDown: %+v", c.Lifecycle.PreStop)
		}
		if r.account != nil || r.role != nil || r.binding != nil {
			t.Error("RBAC rendered without leaveOnScaleDown")
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Error("the pods get a service account token without leaveOnScaleDown")
		}
		if len(a["rejoin"]) > 0 {
			t.Error("--rejoin without leaveOnScaleDown")
		}
		return
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		t.Fatalf("no exec preStop hook: %+v", c.Lifecycle)
	}
	cmd := c.Lifecycle.PreStop.Exec.Command
	if len(cmd) < 2 || cmd[0] != "/actorlog" {
		t.Fatalf("preStop %q does not run the image's /actorlog", cmd)
	}
	h := commandArgs(t, cmd[1:], "leave")
	for name := range h {
		if _, ok := flags.leave[name]; !ok {
			t.Errorf("preStop: --%s is not a flag of actorlog leave", name)
		}
	}
	if got := one(t, h, "if-scaled-down"); got != sts.Name {
		t.Errorf("preStop --if-scaled-down=%s, want the StatefulSet %s", got, sts.Name)
	}
	if len(h["pod"]) == 0 {
		// The default is $POD_NAME: the container must define it from the
		// downward API (exec hooks get the container's environment).
		found := false
		for _, e := range c.Env {
			if e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
				found = true
			}
		}
		if !found {
			t.Error("preStop relies on $POD_NAME, which the container does not take from metadata.name")
		}
	}
	httpAddr := one(t, h, "http-addr")
	if !strings.HasPrefix(httpAddr, "127.0.0.1:") || port(t, httpAddr) != port(t, one(t, a, "http-addr")) {
		t.Errorf("preStop --http-addr=%s, want the pod's own HTTP port %s on loopback", httpAddr, one(t, a, "http-addr"))
	}
	timeout, err := time.ParseDuration(one(t, h, "timeout"))
	if err != nil || timeout <= 0 {
		t.Fatalf("preStop --timeout=%q: %v", one(t, h, "timeout"), err)
	}
	if def, err := time.ParseDuration(flags.leave["timeout"]); err != nil || timeout < def {
		t.Errorf("preStop --timeout=%s is below actorlog leave's default %q", timeout, flags.leave["timeout"])
	}
	grace := pod.TerminationGracePeriodSeconds
	if need := int64(timeout.Seconds()) + leaveAnswerSeconds + agentStopSeconds; grace == nil || *grace <= need {
		got := "unset"
		if grace != nil {
			got = strconv.FormatInt(*grace, 10)
		}
		t.Errorf("terminationGracePeriodSeconds %s: the leave may take %s (+%d s for its answer) and the agent's stop %d s after it", got, timeout, leaveAnswerSeconds, agentStopSeconds)
	}
	for _, flag := range []string{"tls-cert", "tls-key", "tls-ca"} {
		if tlsOn && (len(h[flag]) != 1 || h[flag][0] != one(t, a, flag)) {
			t.Errorf("preStop --%s=%q, want the node's own %q", flag, h[flag], a[flag])
		}
		if !tlsOn && len(h[flag]) > 0 {
			t.Errorf("preStop --%s without TLS", flag)
		}
	}
	if len(a["rejoin"]) != 1 {
		t.Error("the agent lacks --rejoin: a pod scaled back up on the volume of one that left would not start")
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken || r.account == nil || pod.ServiceAccountName != r.account.Name {
		t.Fatalf("the pods do not run with a token of the chart's service account (%q, automount %v)", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	if r.role == nil || len(r.role.Rules) != 1 {
		t.Fatalf("want a Role with one rule: %+v", r.role)
	}
	rule := r.role.Rules[0]
	if strings.Join(rule.APIGroups, ",") != "apps" || strings.Join(rule.Resources, ",") != "statefulsets" ||
		strings.Join(rule.ResourceNames, ",") != sts.Name || strings.Join(rule.Verbs, ",") != "get" {
		t.Errorf("Role rule %+v: want get on statefulsets/%s only", rule, sts.Name)
	}
	b := r.binding
	if b == nil || b.RoleRef.Kind != "Role" || b.RoleRef.Name != r.role.Name || len(b.Subjects) != 1 ||
		b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != r.account.Name || b.Subjects[0].Namespace != "streams" {
		t.Errorf("RoleBinding %+v does not bind the Role to the pods' service account", b)
	}
}
