package deploy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// allowedEnv is the environment contract of the tbackend binary: every name its configuration
// reads (cmd/tbackend/config.go is the only place that reads the environment). Deploy files may
// set nothing else on tbackend containers, so a typo or an invented variable fails here, not in
// production.
var allowedEnv = configEnv()

func configEnv() map[string]bool {
	src, err := os.ReadFile(filepath.Join("..", "cmd", "tbackend", "config.go"))
	if err != nil {
		panic(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`env\("([A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	if len(names) < 20 {
		panic(fmt.Sprintf("found only %d environment names in config.go", len(names)))
	}
	return names
}

// requiredEnv must reach both roles in every deployment flavour.
var requiredEnv = []string{"REDIS_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"}

// minioEnv is what the third-party MinIO image itself reads.
var minioEnv = set("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// checkImage requires a reference without a registry host: Docker treats
// the first path component as a host when it contains "." or ":" or is
// "localhost". Operators choose the registry (kustomize, compose override).
func checkImage(t *testing.T, where, ref string) {
	t.Helper()
	if ref == "" {
		t.Errorf("%s: empty image", where)
		return
	}
	if first, _, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		t.Errorf("%s: image %q names a registry host", where, ref)
	}
}

// ---- Dockerfile ----------------------------------------------------------

type instruction struct{ cmd, args string }

// parseDockerfile joins continuation lines and drops comments.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		full := strings.TrimSpace(cur.String())
		cur.Reset()
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}
	for _, st := range stages {
		image := strings.Fields(st[0].args)[0]
		if image != "scratch" {
			checkImage(t, "Dockerfile FROM", image)
		}
	}

	builder, final := stages[0], stages[len(stages)-1]
	if from := strings.Fields(builder[0].args)[0]; from != "golang:1.26" && !strings.HasPrefix(from, "golang:1.26-") {
		t.Errorf("builder FROM %q, want golang:1.26", from)
	}
	var build string
	for _, in := range builder {
		if in.cmd == "RUN" && strings.Contains(in.args, "./cmd/tbackend") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "-s -w", "-X main.version=", "-X main.commit=", "./cmd/tbackend"} {
		if !strings.Contains(build, want) {
			t.Errorf("build step %q lacks %q", build, want)
		}
	}

	finalFrom := strings.Fields(final[0].args)[0]
	if finalFrom != "scratch" && !strings.Contains(finalFrom, "distroless/static") {
		t.Errorf("final stage FROM %q, want scratch or distroless/static", finalFrom)
	}
	last := func(cmd string) string {
		v := ""
		for _, in := range final {
			if in.cmd == cmd {
				v = in.args
			}
		}
		return v
	}
	user := last("USER")
	if name, _, _ := strings.Cut(user, ":"); user == "" || name == "root" || name == "0" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	}
	if !slices.Contains(strings.Fields(last("EXPOSE")), "8080") {
		t.Errorf("EXPOSE %q, want 8080", last("EXPOSE"))
	}
	if ep := last("ENTRYPOINT"); !strings.Contains(ep, "tbackend") {
		t.Errorf("ENTRYPOINT %q, want the tbackend binary", ep)
	}
	var copiesCA bool
	for _, in := range final {
		copiesCA = copiesCA || in.cmd == "COPY" && strings.Contains(in.args, "ca-certificates")
	}
	if finalFrom == "scratch" && !copiesCA {
		t.Error("scratch image without a CA bundle cannot reach TLS upstreams")
	}
}

// ---- docker-compose.yml --------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Networks map[string]struct {
		Aliases []string `yaml:"aliases"`
	} `yaml:"networks"`
}

func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}

	// Variables interpolated from the operator's shell are env names too.
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(string(raw), -1) {
		if !allowedEnv[m[1]] {
			t.Errorf("interpolates ${%s}, not an allowed variable", m[1])
		}
	}

	for _, name := range []string{"redis", "minio", "api", "worker"} {
		if _, ok := cf.Services[name]; !ok {
			t.Fatalf("service %q missing", name)
		}
	}
	for name, svc := range cf.Services {
		checkImage(t, "compose service "+name, svc.Image)
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.ContainsAny(src, "./") {
				if _, ok := cf.Volumes[src]; !ok {
					t.Errorf("service %s uses undeclared volume %q", name, src)
				}
			}
		}
		for dep := range svc.DependsOn {
			if _, ok := cf.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown %q", name, dep)
			}
		}
	}

	redis := cf.Services["redis"]
	if !strings.HasPrefix(redis.Image, "redis:") {
		t.Errorf("redis image %q", redis.Image)
	}
	if got := flagValue(redis.Command, "--appendonly"); got != "yes" {
		t.Errorf("redis --appendonly %q, want yes", got)
	}
	if got := flagValue(redis.Command, "--appendfsync"); got != "everysec" && got != "always" {
		t.Errorf("redis --appendfsync %q, want everysec or always", got)
	}
	if !mountsAt(redis.Volumes, "/data") {
		t.Error("redis data is not on a volume")
	}

	minio := cf.Services["minio"]
	if !strings.HasPrefix(minio.Image, "minio/minio:") {
		t.Errorf("minio image %q", minio.Image)
	}
	if !mountsAt(minio.Volumes, "/data") {
		t.Error("minio data is not on a volume")
	}
	for k := range minio.Environment {
		if !minioEnv[k] {
			t.Errorf("minio sets unexpected %s", k)
		}
	}
	minioHosts := set("minio")
	for _, n := range minio.Networks {
		for _, a := range n.Aliases {
			minioHosts[a] = true
		}
	}

	// The worker serves no HTTP; the api's /health reports live workers.
	for _, name := range []string{"redis", "minio", "api"} {
		if hc := cf.Services[name].Healthcheck; hc == nil || len(hc.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}

	for _, role := range []string{"api", "worker"} {
		svc := cf.Services[role]
		if svc.Build == nil {
			t.Errorf("%s: no build section", role)
		} else {
			df := filepath.Join(svc.Build.Context, svc.Build.Dockerfile)
			if _, err := os.Stat(filepath.Join(".", df)); svc.Build.Dockerfile != "deploy/Dockerfile" || err != nil {
				t.Errorf("%s: builds %q (context %q): want deploy/Dockerfile from the repo root (%v)",
					role, svc.Build.Dockerfile, svc.Build.Context, err)
			}
		}
		if !slices.Equal(svc.Command, []string{role}) {
			t.Errorf("%s: command %q, want [%s]", role, svc.Command, role)
		}
		for k := range svc.Environment {
			if !allowedEnv[k] {
				t.Errorf("%s: sets %s, not an allowed variable", role, k)
			}
		}
		for _, k := range requiredEnv {
			if svc.Environment[k] == "" {
				t.Errorf("%s: %s not set", role, k)
			}
		}
		if u, err := url.Parse(svc.Environment["REDIS_URL"]); err != nil || u.Hostname() != "redis" {
			t.Errorf("%s: REDIS_URL %q does not point at the redis service", role, svc.Environment["REDIS_URL"])
		}
		if host, _, _ := strings.Cut(svc.Environment["S3_ENDPOINT"], ":"); !minioHosts[host] {
			t.Errorf("%s: S3_ENDPOINT %q does not point at the minio service", role, svc.Environment["S3_ENDPOINT"])
		}
		if svc.Environment["S3_ACCESS_KEY"] != minio.Environment["MINIO_ROOT_USER"] ||
			svc.Environment["S3_SECRET_KEY"] != minio.Environment["MINIO_ROOT_PASSWORD"] {
			t.Errorf("%s: S3 credentials differ from MinIO's", role)
		}
		for _, dep := range []string{"redis", "minio"} {
			if svc.DependsOn[dep].Condition != "service_healthy" {
				t.Errorf("%s: must wait for %s to be healthy", role, dep)
			}
		}
		if hc := svc.Healthcheck; (hc == nil && role == "api") || hc != nil && !strings.Contains(strings.Join(hc.Test, " "), "/health") {
			t.Errorf("%s: health check does not probe /health", role)
		}
	}
	// The documented payments example is mounted for the api, from a file that exists.
	var example string
	for _, v := range cf.Services["api"].Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/etc/tbackend/payments.yaml") {
			example = src
		}
	}
	if _, err := os.Stat(example); example == "" || err != nil {
		t.Errorf("the api mounts no payments example at /etc/tbackend/payments.yaml (%q: %v)", example, err)
	}
	if !slices.Contains(cf.Services["api"].Ports, "8080:8080") {
		t.Errorf("api ports %q, want 8080:8080", cf.Services["api"].Ports)
	}
	if cf.Services["worker"].Environment["WORKER_CONCURRENCY"] == "" {
		t.Error("worker: WORKER_CONCURRENCY not set")
	}
}

func flagValue(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func mountsAt(volumes []string, target string) bool {
	for _, v := range volumes {
		if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == target {
			return true
		}
	}
	return false
}

// ---- Kubernetes ----------------------------------------------------------

type k8sDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"` // Kustomization
	Spec       yaml.Node         `yaml:"spec"`
	file       string
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name string `yaml:"name"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
}

type deploymentSpec struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			SecurityContext *securityContext `yaml:"securityContext"`
			Containers      []container      `yaml:"containers"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Port       int `yaml:"port"`
		TargetPort any `yaml:"targetPort"`
	} `yaml:"ports"`
}

type hpaSpec struct {
	ScaleTargetRef struct {
		Kind string `yaml:"kind"`
		Name string `yaml:"name"`
	} `yaml:"scaleTargetRef"`
	MinReplicas int `yaml:"minReplicas"`
	MaxReplicas int `yaml:"maxReplicas"`
}

// loadK8s decodes every document of every YAML file under k8s/.
func loadK8s(t *testing.T) []k8sDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	var docs []k8sDoc
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var d k8sDoc
			err := dec.Decode(&d)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				t.Fatalf("%s: %v", file, err)
			}
			if d.Kind == "" {
				continue // empty document
			}
			if d.APIVersion == "" || (d.Kind != "Kustomization" && d.Metadata.Name == "") {
				t.Errorf("%s: %s without apiVersion or name", file, d.Kind)
			}
			d.file = filepath.Base(file)
			docs = append(docs, d)
		}
		f.Close()
	}
	return docs
}

func decodeSpec(t *testing.T, d k8sDoc, into any) {
	t.Helper()
	if err := d.Spec.Decode(into); err != nil {
		t.Fatalf("%s %s: spec: %v", d.Kind, d.Metadata.Name, err)
	}
}

func TestKubernetes(t *testing.T) {
	docs := loadK8s(t)
	byKey := map[string]k8sDoc{}
	for _, d := range docs {
		key := d.Kind + "/" + d.Metadata.Name
		if _, dup := byKey[key]; dup && d.Kind != "Kustomization" {
			t.Errorf("duplicate %s", key)
		}
		byKey[key] = d
	}
	for _, key := range []string{
		"Deployment/tbackend-api", "Service/tbackend-api", "HorizontalPodAutoscaler/tbackend-api",
		"Deployment/tbackend-worker", "ConfigMap/tbackend-config", "Secret/tbackend-secrets",
	} {
		if _, ok := byKey[key]; !ok {
			t.Errorf("%s missing", key)
		}
	}

	// Env from ConfigMaps and Secrets.
	provided := map[string]bool{}
	for _, d := range docs {
		switch d.Kind {
		case "ConfigMap":
			for k := range d.Data {
				if !allowedEnv[k] {
					t.Errorf("ConfigMap %s: %s is not an allowed variable", d.Metadata.Name, k)
				}
				provided[k] = true
			}
		case "Secret":
			for k, v := range d.StringData {
				if !allowedEnv[k] {
					t.Errorf("Secret %s: %s is not an allowed variable", d.Metadata.Name, k)
				}
				if !strings.Contains(v, "CHANGE_ME") {
					t.Errorf("Secret %s: %s must be a CHANGE_ME placeholder, not a value", d.Metadata.Name, k)
				}
				provided[k] = true
			}
			if len(d.Data) > 0 {
				t.Errorf("Secret %s: use stringData placeholders, not data", d.Metadata.Name)
			}
		}
	}
	for _, k := range requiredEnv {
		if !provided[k] {
			t.Errorf("%s is provided by no ConfigMap or Secret", k)
		}
	}

	for _, role := range []string{"api", "worker"} {
		d, ok := byKey["Deployment/tbackend-"+role]
		if !ok {
			continue
		}
		t.Run(role, func(t *testing.T) {
			var spec deploymentSpec
			decodeSpec(t, d, &spec)
			checkDeployment(t, role, spec, byKey)
			if role == "api" {
				checkAPIExposure(t, spec, byKey)
			}
		})
	}

	// The Kustomization must apply exactly the manifests in the folder.
	if k, ok := byKey["Kustomization/"]; ok {
		var files []string
		for _, d := range docs {
			if d.Kind != "Kustomization" && !slices.Contains(files, d.file) {
				files = append(files, d.file)
			}
		}
		sort.Strings(files)
		res := slices.Clone(k.Resources)
		sort.Strings(res)
		if !slices.Equal(files, res) {
			t.Errorf("kustomization resources %v, manifests %v", res, files)
		}
	}
}

func checkDeployment(t *testing.T, role string, spec deploymentSpec, byKey map[string]k8sDoc) {
	if len(spec.Selector.MatchLabels) == 0 {
		t.Error("empty selector")
	}
	for k, v := range spec.Selector.MatchLabels {
		if spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels", k, v)
		}
	}
	pod := spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	checkImage(t, "container "+c.Name, c.Image)
	if cmd := append(slices.Clone(c.Command), c.Args...); len(cmd) == 0 || cmd[len(cmd)-1] != role {
		t.Errorf("command+args %q, want the %q subcommand", cmd, role)
	}
	for _, e := range c.Env {
		if !allowedEnv[e.Name] {
			t.Errorf("env %s is not an allowed variable", e.Name)
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if _, ok := byKey["ConfigMap/"+ef.ConfigMapRef.Name]; !ok {
				t.Errorf("envFrom unknown ConfigMap %q", ef.ConfigMapRef.Name)
			}
		}
		if ef.SecretRef != nil {
			if _, ok := byKey["Secret/"+ef.SecretRef.Name]; !ok {
				t.Errorf("envFrom unknown Secret %q", ef.SecretRef.Name)
			}
		}
	}
	for name, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		// The worker serves no HTTP, so only the api must have probes; any
		// probe that exists must use /health.
		if p == nil && role == "worker" {
			continue
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" {
			t.Errorf("%s probe must GET /health", name)
			continue
		}
		if !hasPort(c, p.HTTPGet.Port) {
			t.Errorf("%s probe port %v is not a container port", name, p.HTTPGet.Port)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("resource requests %v, want cpu and memory", c.Resources.Requests)
	}
	nonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		nonRoot = *c.SecurityContext.RunAsNonRoot
	}
	if !nonRoot {
		t.Error("runAsNonRoot is not true")
	}
	for _, sc := range []*securityContext{pod.SecurityContext, c.SecurityContext} {
		if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Error("runAsUser 0")
		}
	}
	if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
}

func hasPort(c container, port any) bool {
	for _, p := range c.Ports {
		switch v := port.(type) {
		case string:
			if p.Name == v {
				return true
			}
		case int:
			if p.ContainerPort == v {
				return true
			}
		}
	}
	return false
}

func checkAPIExposure(t *testing.T, spec deploymentSpec, byKey map[string]k8sDoc) {
	c := spec.Template.Spec.Containers[0]
	if !hasPort(c, 8080) {
		t.Error("api container does not listen on 8080")
	}
	if d, ok := byKey["Service/tbackend-api"]; ok {
		var svc serviceSpec
		decodeSpec(t, d, &svc)
		for k, v := range svc.Selector {
			if spec.Template.Metadata.Labels[k] != v {
				t.Errorf("Service selector %s=%s does not match the api pods", k, v)
			}
		}
		if len(svc.Selector) == 0 || len(svc.Ports) == 0 {
			t.Error("Service without selector or ports")
		}
		for _, p := range svc.Ports {
			if !hasPort(c, p.TargetPort) {
				t.Errorf("Service targetPort %v is not an api container port", p.TargetPort)
			}
		}
	}
	if d, ok := byKey["HorizontalPodAutoscaler/tbackend-api"]; ok {
		var hpa hpaSpec
		decodeSpec(t, d, &hpa)
		if hpa.ScaleTargetRef.Kind != "Deployment" || hpa.ScaleTargetRef.Name != "tbackend-api" {
			t.Errorf("HPA targets %s/%s", hpa.ScaleTargetRef.Kind, hpa.ScaleTargetRef.Name)
		}
		if hpa.MinReplicas < 1 || hpa.MaxReplicas < hpa.MinReplicas {
			t.Errorf("HPA replicas %d..%d", hpa.MinReplicas, hpa.MaxReplicas)
		}
	}
}

// ---- README --------------------------------------------------------------

func TestREADMECoversOperations(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{
		"appendfsync everysec", "tbackend keys create", "tbackend keys revoke",
		"docker compose -f deploy/docker-compose.yml exec api /usr/local/bin/tbackend keys create",
		"PAYMENTS_CONFIG=/etc/tbackend/payments.yaml",
		"/admin/queues", "/metrics", "/health", "WORKER_CONCURRENCY", "Backups",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README.md does not mention %q", want)
		}
	}
}
