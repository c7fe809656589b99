package main_test

// The container files at the repository root: docker-compose.yml and the Dockerfile. No Docker engine runs in CI, so
// these tests read the files (and hold them to what docs/scaling.md promises), run `docker compose config` or
// `docker-compose config` when either is installed, and run the health check the compose file names against a real
// gateway.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func readRoot(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestComposeFile: webhookd on Redis with AOF (everysec) and noeviction, health checks on both, named volumes, and
// the operator token from the environment (or .env), never written in the file.
func TestComposeFile(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(readRoot(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	redis, ok := c.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	if !strings.HasPrefix(redis.Image, "redis:7") {
		t.Errorf("redis image %q: want redis:7 (Redis ≥ 6.2 is required)", redis.Image)
	}
	args := strings.Join(redis.Command, " ")
	for _, want := range []string{"--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"} {
		if !strings.Contains(args, want) {
			t.Errorf("redis command %q lacks %q", args, want)
		}
	}
	if got := strings.Join(redis.Healthcheck.Test, " "); got != "CMD redis-cli ping" {
		t.Errorf("redis healthcheck %q, want CMD redis-cli ping", got)
	}

	gw, ok := c.Services["webhookd"]
	if !ok {
		t.Fatal("no webhookd service")
	}
	if gw.Build == nil {
		t.Error("webhookd is not built from the Dockerfile")
	}
	for k, want := range map[string]string{
		"WEBHOOKD_STORE":  "redis://redis:6379/0",
		"WEBHOOKD_LISTEN": "0.0.0.0:8080",
	} {
		if gw.Environment[k] != want {
			t.Errorf("webhookd %s = %q, want %q", k, gw.Environment[k], want)
		}
	}
	if tok := gw.Environment["WEBHOOKD_OPERATOR_TOKEN"]; !strings.HasPrefix(tok, "${WEBHOOKD_OPERATOR_TOKEN:?") {
		t.Errorf("WEBHOOKD_OPERATOR_TOKEN = %q: want it from the environment or .env, required", tok)
	}
	if got := gw.Healthcheck.Test; len(got) < 3 || got[0] != "CMD" || !strings.HasSuffix(got[1], "webhookd") || got[2] != "healthcheck" {
		t.Errorf("webhookd healthcheck %q: want the binary's own healthcheck command (distroless has no curl)", got)
	}
	if gw.DependsOn["redis"].Condition != "service_healthy" {
		t.Errorf("webhookd depends on redis with condition %q, want service_healthy", gw.DependsOn["redis"].Condition)
	}
	for name, svc := range map[string][]string{"redis": redis.Volumes, "webhookd": gw.Volumes} {
		named := false
		for _, v := range svc {
			src, dst, _ := strings.Cut(v, ":")
			if _, ok := c.Volumes[src]; ok && dst == "/data" {
				named = true
			}
		}
		if !named {
			t.Errorf("%s has no named volume at /data (volumes %q)", name, svc)
		}
	}

	// Compose's own check, where a compose is installed (no engine needed).
	env := append(os.Environ(), "WEBHOOKD_OPERATOR_TOKEN=compose-config-check-0123456789")
	for _, argv := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			continue
		}
		cmd := exec.Command(argv[0], append(argv[1:], "-f", "docker-compose.yml", "config", "-q")...)
		cmd.Dir, cmd.Env = filepath.Join("..", ".."), env
		out, err := cmd.CombinedOutput()
		if err != nil && argv[0] == "docker" && strings.Contains(string(out), "unknown") {
			continue // docker without the compose plugin
		}
		if err != nil {
			t.Fatalf("%s config: %v\n%s", strings.Join(argv, " "), err, out)
		}
		t.Logf("%s config: valid", strings.Join(argv, " "))
		return
	}
	t.Log("no docker compose or docker-compose on PATH: the file was checked by this test alone")
}

// TestDockerfile: a multi-stage build of a static binary (no cgo) into a distroless or scratch image that runs as a
// non-root user, keeps /data in a volume and checks its health with the binary itself.
func TestDockerfile(t *testing.T) {
	df := readRoot(t, "Dockerfile")
	var froms, users []string
	for line := range strings.SplitSeq(df, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d FROM lines: want a multi-stage build", len(froms))
	}
	if last := froms[len(froms)-1]; !strings.Contains(last, "distroless/static") && last != "scratch" {
		t.Errorf("runtime image %q: want distroless/static or scratch", last)
	}
	if len(users) == 0 {
		t.Fatal("Dockerfile has no USER: the image would run as root")
	}
	if u := users[len(users)-1]; slices.Contains([]string{"root", "0", "0:0", "root:root"}, u) {
		t.Errorf("USER %s: want a non-root user", u)
	}
	for _, re := range []string{`CGO_ENABLED=0`, `go build\b[^\n]*\./cmd/webhookd`, `VOLUME \["?/data"?\]`,
		`HEALTHCHECK[^\n]*\n?[^\n]*webhookd", "healthcheck"`} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Errorf("Dockerfile does not match %s", re)
		}
	}
	if di := readRoot(t, ".dockerignore"); !strings.Contains(di, ".git") {
		t.Error(".dockerignore does not keep .git out of the build context")
	}
}

// TestHealthcheckCommand: the command the compose file and the image run passes against a serving gateway and fails
// once it is gone.
func TestHealthcheckCommand(t *testing.T) {
	g := startGateway(t, t.TempDir())
	url := "http://" + g.addr + "/readyz"
	if out, err := exec.Command(binPath, "healthcheck", "--url", url).CombinedOutput(); err != nil {
		t.Fatalf("healthcheck of a ready gateway: %v\n%s", err, out)
	}
	g.cmd.Process.Kill()
	<-g.done
	if out, err := exec.Command(binPath, "healthcheck", "--url", url, "--timeout", "2s").CombinedOutput(); err == nil {
		t.Fatalf("healthcheck of a stopped gateway passed:\n%s", out)
	}
}
