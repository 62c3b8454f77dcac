package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/pgtest"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Run(func() int {
		return miniotest.Run(func() int { return azuritetest.Run(func() int { return fakegcstest.Run(m.Run) }) })
	}))
}

var built struct {
	once       sync.Once
	cli, serve string
	err        error
}

// tarnBinary builds the real tarn binary once per test run, twice: with the race detector
// for `tarn serve`, and without it for the many short CLI runs (a race-enabled binary takes
// about a second to start).
func tarnBinary(t *testing.T) (cliBin, serveBin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds the binary")
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "tarn-e2e-bin")
		if err != nil {
			built.err = err
			return
		}
		built.cli, built.serve = filepath.Join(dir, "tarn"), filepath.Join(dir, "tarn-race")
		for _, args := range [][]string{{"-o", built.cli}, {"-race", "-o", built.serve}} {
			out, err := exec.Command("go", append(append([]string{"build"}, args...), ".")...).CombinedOutput()
			if err != nil {
				built.err = &buildError{out: string(out), err: err}
				return
			}
		}
	})
	if built.err != nil {
		t.Fatalf("build tarn: %v", built.err)
	}
	return built.cli, built.serve
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// syncBuffer collects a process's output safely while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveProc is a running `tarn serve` process.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	stdout string // what it printed before it started serving
	logs   *syncBuffer
	done   chan error
}

var servingLine = regexp.MustCompile(`tarn is serving on (http://\S+)`)

// serve starts `tarn serve` on a free port with args and waits until it serves.
func serve(t *testing.T, bin string, logs *syncBuffer, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-level", "debug"}, args...)...)
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{cmd: cmd, logs: logs, done: make(chan error, 1)}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	var printed strings.Builder
	timeout := time.After(60 * time.Second)
	for s.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("tarn serve exited before serving:\n%s\n%s", printed.String(), logs.String())
			}
			printed.WriteString(line + "\n")
			if m := servingLine.FindStringSubmatch(line); m != nil {
				s.url = m[1]
			}
		case <-timeout:
			cmd.Process.Kill()
			t.Fatalf("tarn serve did not start serving within a minute:\n%s", logs.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	s.stdout = printed.String()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends the server with SIGTERM and waits for it.
func (s *serveProc) stop(t *testing.T) {
	if s.cmd.ProcessState != nil || s.done == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("tarn serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("tarn serve ignored SIGTERM")
	}
	s.done = nil
}

// cli runs the tarn CLI as a user with its own home directory.
type cli struct {
	t   *testing.T
	bin string
	env []string
}

func newCLI(t *testing.T, bin, home string) *cli {
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + os.Getenv("PATH")}
	return &cli{t: t, bin: bin, env: env}
}

// with returns a copy of c with extra environment variables.
func (c *cli) with(env ...string) *cli {
	return &cli{t: c.t, bin: c.bin, env: append(append([]string{}, c.env...), env...)}
}

func (c *cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run tarn %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("tarn %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs a command that must fail with code and one line on stderr containing want.
func (c *cli) fails(code int, want string, args ...string) {
	c.t.Helper()
	_, errOut, got := c.run("", args...)
	first := strings.SplitN(strings.TrimSpace(errOut), "\n", 2)[0]
	if got != code || !strings.Contains(first, want) || !strings.HasPrefix(first, "tarn: ") {
		c.t.Errorf("tarn %s: exit %d, stderr %q; want exit %d and a line with %q", strings.Join(args, " "), got, errOut, code, want)
	}
	if code == 1 && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		c.t.Errorf("tarn %s: stderr is more than one line: %q", strings.Join(args, " "), errOut)
	}
}

func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("tarn %s --output json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestNewUserWalkthrough drives the README's walk-through with the real binary against a
// real server, restarts the server, and checks that nothing was lost and no token was logged.
func TestNewUserWalkthrough(t *testing.T) {
	bin, serveBin := tarnBinary(t)
	work := t.TempDir()
	data := filepath.Join(work, "data")
	logs := &syncBuffer{}

	// 1. tarn serve on its embedded default.
	srv := serve(t, serveBin, logs, "--data-dir", data)
	tokenFile := filepath.Join(data, "admin.token")
	st, err := os.Stat(tokenFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v, mode %v; want mode 0600", err, st.Mode())
	}
	if !strings.Contains(srv.stdout, "tarn login --token-stdin < "+tokenFile) {
		t.Errorf("first start does not say how to log in:\n%s", srv.stdout)
	}
	adminToken, _ := os.ReadFile(tokenFile)
	tokens := []string{strings.TrimSpace(string(adminToken))}

	// 2. Log in, whoami.
	admin := newCLI(t, bin, filepath.Join(work, "admin-home"))
	if _, errOut, code := admin.run(string(adminToken), "login", "--endpoint", srv.url, "--token-stdin"); code != 0 {
		t.Fatalf("login: %d %s", code, errOut)
	}
	cfg, err := os.Stat(filepath.Join(work, "admin-home", ".config", "tarn", "config.json"))
	if err != nil || cfg.Mode().Perm() != 0o600 {
		t.Fatalf("config.json: %v %v; want mode 0600", err, cfg)
	}
	if out := admin.ok("whoami"); !strings.Contains(out, "admin") || !strings.Contains(out, "local (admin)") {
		t.Errorf("whoami:\n%s", out)
	}

	// 3. Users, orgs, members, tokens.
	aliceToken := strings.TrimSpace(admin.ok("user", "create", "alice"))
	bobToken := strings.TrimSpace(admin.ok("user", "create", "bob"))
	tokens = append(tokens, aliceToken, bobToken)
	admin.ok("org", "create", "acme")
	admin.ok("org", "member", "add", "acme", "alice", "--role", "writer")
	admin.ok("org", "member", "add", "acme", "bob", "--role", "reader")
	alice := newCLI(t, bin, filepath.Join(work, "alice-home")).with("TARN_ENDPOINT="+srv.url, "TARN_TOKEN="+aliceToken)
	bob := newCLI(t, bin, filepath.Join(work, "bob-home")).with("TARN_ENDPOINT="+srv.url, "TARN_TOKEN="+bobToken)
	ciToken := strings.TrimSpace(alice.ok("token", "create", "--org", "acme", "--role", "reader", "--ttl", "1h", "--name", "ci"))
	tokens = append(tokens, ciToken)
	var aliceTokens []struct {
		ID, Name, Org, Role string
	}
	alice.json(&aliceTokens, "token", "ls")
	var ciID string
	for _, tk := range aliceTokens {
		if tk.Name == "ci" && tk.Org == "acme" && tk.Role == "reader" {
			ciID = tk.ID
		}
	}
	if ciID == "" {
		t.Fatalf("token ls lacks the ci token: %+v", aliceTokens)
	}
	ci := alice.with("TARN_TOKEN=" + ciToken)
	ci.ok("whoami")
	alice.fails(1, "admin", "token", "create", "--org", "acme", "--role", "admin")

	// 4. Creds keys (file roots inside the data dir, the default --file-root).
	acmeRoot := filepath.Join(data, "datasets", "acme")
	admin.ok("creds", "add", "acme/k", "--provider", "file", "--root", acmeRoot)
	if out := admin.ok("creds", "show", "acme/k"); !strings.Contains(out, "file://"+acmeRoot) {
		t.Errorf("creds show:\n%s", out)
	}
	if out := admin.ok("creds", "ls", "acme"); !strings.Contains(out, "k") {
		t.Errorf("creds ls:\n%s", out)
	}
	admin.fails(1, "--file-root", "creds", "add", "acme/etc", "--provider", "file", "--root", "/etc")
	admin.ok("creds", "add", "acme/tmp", "--provider", "file", "--root", filepath.Join(data, "datasets", "scratch"))
	admin.ok("creds", "rm", "acme/tmp")

	// 5. Default storage.
	admin.ok("storage", "set-default", "acme", "file://"+acmeRoot, "--creds-key", "k")

	// 6. Datasets.
	alice.ok("ds", "create", "al://acme/coco")
	alice.fails(1, "already exists", "ds", "create", "al://acme/coco")
	bob.fails(1, "writer", "ds", "create", "al://acme/bobs")
	legacy := filepath.Join(acmeRoot, "legacy")
	os.MkdirAll(filepath.Join(legacy, "imgs"), 0o755)
	os.WriteFile(filepath.Join(legacy, "imgs", "0.txt"), []byte("old bytes"), 0o644)
	alice.ok("ds", "connect", "file://"+legacy, "al://acme/legacy", "--creds-key", "k")
	alice.fails(1, "outside", "ds", "connect", "file:///etc", "al://acme/etc", "--creds-key", "k")
	alice.fails(2, "..", "ds", "create", "al://acme/../local/x")
	var list []struct{ Path, Location string }
	bob.json(&list, "ds", "ls", "acme")
	if len(list) != 2 || list[0].Path != "al://acme/coco" || list[0].Location != "file://"+filepath.Join(acmeRoot, "coco") {
		t.Errorf("ds ls: %+v", list)
	}
	if out := bob.ok("ds", "info", "al://acme/legacy"); !strings.Contains(out, "file://"+legacy) {
		t.Errorf("ds info:\n%s", out)
	}
	admin.ok("ds", "add-creds-key", "al://acme/coco", "k")

	// 7. Vend.
	var creds struct {
		Location, Mode, Provider string
		File                     struct{ Path string }
	}
	alice.json(&creds, "vend", "al://acme/coco", "--mode", "write", "--format", "json")
	if creds.Mode != "write" || creds.Provider != "file" || creds.File.Path != filepath.Join(acmeRoot, "coco") {
		t.Errorf("vend: %+v", creds)
	}
	bob.fails(1, "needs role writer", "vend", "al://acme/coco", "--mode", "write")
	if out := bob.ok("vend", "al://acme/coco", "--format", "env"); !strings.Contains(out, filepath.Join(acmeRoot, "coco")) {
		t.Errorf("vend --format env:\n%s", out)
	}
	alice.ok("vend", "file://"+filepath.Join(acmeRoot, "unregistered"), "--org", "acme", "--creds-key", "k", "--mode", "write")
	bob.fails(1, "writer", "vend", "file://"+filepath.Join(acmeRoot, "unregistered"), "--org", "acme", "--creds-key", "k")

	// 8. Objects.
	local := filepath.Join(work, "hello.txt")
	os.WriteFile(local, []byte("hello, tarn\n"), 0o644)
	alice.ok("cp", local, "al://acme/coco/greetings/hello.txt")
	if out := bob.ok("cat", "al://acme/coco/greetings/hello.txt"); out != "hello, tarn\n" {
		t.Errorf("cat: %q", out)
	}
	if out := bob.ok("ls", "-r", "al://acme/coco"); !strings.Contains(out, "greetings/hello.txt") {
		t.Errorf("ls:\n%s", out)
	}
	if out := bob.ok("cat", "al://acme/legacy/imgs/0.txt"); out != "old bytes" {
		t.Errorf("cat of a connected dataset: %q", out)
	}
	back := filepath.Join(work, "back.txt")
	bob.ok("cp", "al://acme/coco/greetings/hello.txt", back)
	if b, _ := os.ReadFile(back); string(b) != "hello, tarn\n" {
		t.Errorf("cp back: %q", b)
	}
	ci.ok("cat", "al://acme/coco/greetings/hello.txt")
	outsider := newCLI(t, bin, filepath.Join(work, "eve-home")).with("TARN_ENDPOINT="+srv.url, "TARN_TOKEN="+strings.TrimSpace(admin.ok("user", "create", "eve")))
	outsider.fails(1, "not a member", "cat", "al://acme/coco/greetings/hello.txt")

	// Revocation takes effect on the next request.
	alice.ok("token", "revoke", ciID)
	ci.fails(1, "revoked", "whoami")

	// 9. Audit.
	var page struct {
		Records []struct{ Action, Principal, Result, Mode, Target string }
	}
	admin.json(&page, "audit", "acme", "--since", "1h", "--all")
	seen := map[string]bool{}
	for _, r := range page.Records {
		seen[r.Action+" "+r.Result] = true
		for _, tok := range tokens {
			if strings.Contains(r.Target+r.Principal, tok) {
				t.Errorf("audit record holds a token: %+v", r)
			}
		}
	}
	for _, want := range []string{"vend ok", "vend denied", "member.put ok", "creds_key.put ok", "creds_key.delete ok",
		"dataset.create ok", "token.create ok", "token.revoke ok", "dataset.link_creds_key ok", "default_storage.set ok"} {
		if !seen[want] {
			t.Errorf("audit lacks %q; has %v", want, seen)
		}
	}
	admin.json(&page, "audit", "acme", "--action", "vend")
	for _, r := range page.Records {
		if r.Action != "vend" {
			t.Errorf("audit --action vend returned %+v", r)
		}
	}
	bob.fails(1, "admin", "audit", "acme")

	// ds rm keeps data unless asked; --delete-data removes it.
	alice.ok("ds", "rm", "al://acme/legacy")
	if _, err := os.Stat(filepath.Join(legacy, "imgs", "0.txt")); err != nil {
		t.Errorf("ds rm deleted data: %v", err)
	}

	// Restart: nothing is lost, the superuser is not created again.
	srv.stop(t)
	srv = serve(t, serveBin, logs, "--data-dir", data)
	if strings.Contains(srv.stdout, "token is in") {
		t.Errorf("restart bootstrapped again:\n%s", srv.stdout)
	}
	if again, _ := os.ReadFile(tokenFile); string(again) != string(adminToken) {
		t.Error("restart rewrote admin.token")
	}
	admin = admin.with("TARN_ENDPOINT=" + srv.url) // the port changed
	alice = alice.with("TARN_ENDPOINT=" + srv.url)
	admin = admin.with("TARN_TOKEN=" + tokens[0])
	bob = bob.with("TARN_ENDPOINT=" + srv.url)
	bob.json(&list, "ds", "ls", "acme")
	if len(list) != 1 || list[0].Path != "al://acme/coco" {
		t.Errorf("after restart ds ls: %+v", list)
	}
	if out := bob.ok("cat", "al://acme/coco/greetings/hello.txt"); out != "hello, tarn\n" {
		t.Errorf("after restart cat: %q", out)
	}
	ci.with("TARN_ENDPOINT="+srv.url).fails(1, "revoked", "whoami")
	admin.json(&page, "audit", "acme")
	if len(page.Records) < 10 {
		t.Errorf("after restart the audit has %d records", len(page.Records))
	}
	alice.ok("ds", "rm", "al://acme/coco", "--delete-data")
	if _, err := os.Stat(filepath.Join(acmeRoot, "coco", "greetings", "hello.txt")); err == nil {
		t.Error("ds rm --delete-data kept the data")
	}

	// Usage errors exit 2.
	if _, _, code := admin.run("", "ds", "create"); code != 2 {
		t.Errorf("missing argument: exit %d, want 2", code)
	}
	if _, _, code := admin.run("", "vend", "al://acme/coco", "--mode", "admin"); code != 2 {
		t.Errorf("bad --mode: exit %d, want 2", code)
	}

	// No token ever reaches the logs.
	srv.stop(t)
	all := logs.String()
	if !strings.Contains(all, `"msg":"audit"`) {
		t.Fatalf("server logs look empty:\n%.2000s", all)
	}
	for _, tok := range tokens {
		if strings.Contains(all, tok) || strings.Contains(all, tok[len("tarn_"):]) {
			t.Errorf("server logs hold token %.9s…", tok)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(all), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
}

// TestTwoServersShareOnePostgres runs two tarn serve processes on one PostgreSQL database:
// each sees the other's writes, and a token revoked through one is refused by the other.
func TestTwoServersShareOnePostgres(t *testing.T) {
	bin, serveBin := tarnBinary(t)
	db := pgtest.URL(t)
	work := t.TempDir()
	shared := filepath.Join(work, "shared")
	os.MkdirAll(shared, 0o755)
	logs := &syncBuffer{}
	t.Setenv("TARN_MASTER_KEY", "")
	if _, errOut, code := newCLI(t, bin, work).run("", "serve", "--data-dir", filepath.Join(work, "x"), "--database", db); code != 1 || !strings.Contains(errOut, "TARN_MASTER_KEY") {
		t.Errorf("serve --database without a master key: exit %d, %q", code, errOut)
	}
	t.Setenv("TARN_MASTER_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	a := serve(t, serveBin, logs, "--data-dir", filepath.Join(work, "a"), "--database", db, "--file-root", shared)
	b := serve(t, serveBin, logs, "--data-dir", filepath.Join(work, "b"), "--database", db, "--file-root", shared)
	tok, err := os.ReadFile(filepath.Join(work, "a", "admin.token"))
	if err != nil {
		t.Fatalf("the first server did not bootstrap: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "b", "admin.token")); err == nil {
		t.Error("the second server bootstrapped a second admin")
	}
	home := filepath.Join(work, "home")
	onA := newCLI(t, bin, home).with("TARN_ENDPOINT="+a.url, "TARN_TOKEN="+strings.TrimSpace(string(tok)))
	onB := onA.with("TARN_ENDPOINT=" + b.url)
	onA.ok("org", "create", "acme")
	onB.ok("creds", "add", "acme/k", "--provider", "file", "--root", shared)
	onA.ok("ds", "connect", "file://"+filepath.Join(shared, "coco"), "al://acme/coco", "--creds-key", "k")
	var list []struct{ Path string }
	onB.json(&list, "ds", "ls", "acme")
	if len(list) != 1 || list[0].Path != "al://acme/coco" {
		t.Errorf("server B sees %+v", list)
	}
	carol := strings.TrimSpace(onB.ok("user", "create", "carol"))
	onA.ok("org", "member", "add", "acme", "carol", "--role", "reader")
	carolOnA := onA.with("TARN_TOKEN=" + carol)
	carolOnB := onB.with("TARN_TOKEN=" + carol)
	carolOnA.ok("vend", "al://acme/coco")
	var who struct {
		TokenID string `json:"token_id"`
	}
	carolOnB.json(&who, "whoami")
	carolOnB.ok("token", "revoke", who.TokenID)
	carolOnA.fails(1, "revoked", "whoami")
}

// TestS3Walkthrough drives the aws provider against a real MinIO through the real binary:
// a creds key with an encrypted access key, verify, a dataset on S3, object operations
// through al:// paths, least privilege from the attacker's side, and the AWS
// credential_process format; no secret reaches the logs.
func TestS3Walkthrough(t *testing.T) {
	bin, serveBin := tarnBinary(t)
	minio := miniotest.Start(t)
	work := t.TempDir()
	logs := &syncBuffer{}
	srv := serve(t, serveBin, logs, "--data-dir", filepath.Join(work, "data"), "--allow-endpoint", minio.HostPort())
	adminToken, _ := os.ReadFile(filepath.Join(work, "data", "admin.token"))
	admin := newCLI(t, bin, filepath.Join(work, "admin")).with("TARN_ENDPOINT="+srv.url, "TARN_TOKEN="+strings.TrimSpace(string(adminToken)))
	secrets := []string{strings.TrimSpace(string(adminToken)), minio.UserSecretKey}

	admin.ok("org", "create", "acme")
	bucket := "s3://" + minio.Bucket
	add := []string{"creds", "add", "acme/s3", "--provider", "aws", "--role-arn", "arn:aws:iam::123456789012:role/tarn",
		"--allowed", bucket + "/datasets", "--sts-endpoint", minio.Endpoint, "--s3-endpoint", minio.Endpoint, "--path-style",
		"--source", "access-key", "--access-key-id", minio.UserAccessKey, "--secret-stdin"}
	if out, errOut, code := admin.run(minio.UserSecretKey+"\n", add...); code != 0 || !strings.Contains(out, "External ID: tarn-") {
		t.Fatalf("creds add: %d\n%s%s", code, out, errOut)
	}
	// Another loopback port, not listed with --allow-endpoint, is refused.
	internal := []string{"creds", "add", "acme/internal", "--provider", "aws", "--role-arn", "arn:aws:iam::123456789012:role/tarn",
		"--allowed", bucket + "/datasets", "--sts-endpoint", "http://127.0.0.1:1", "--s3-endpoint", "http://127.0.0.1:1",
		"--source", "access-key", "--access-key-id", "x", "--secret-stdin"}
	if _, errOut, code := admin.run("secret\n", internal...); code != 1 || errOut != "tarn: add creds key acme/internal: sts_endpoint http://127.0.0.1:1 resolves to a loopback address (127.0.0.1); the server operator can allow it with tarn serve --allow-endpoint 127.0.0.1:1\n" {
		t.Errorf("creds add with an unlisted loopback endpoint: exit %d, %q", code, errOut)
	}
	var key struct {
		Config struct {
			ExternalID  string `json:"external_id"`
			AccessKeyID string `json:"access_key_id"`
		}
	}
	admin.json(&key, "creds", "show", "acme/s3")
	if key.Config.ExternalID == "" || key.Config.AccessKeyID != minio.UserAccessKey {
		t.Errorf("creds show: %+v", key)
	}
	if out := admin.ok("creds", "show", "acme/s3", "--output", "json"); strings.Contains(out, minio.UserSecretKey) {
		t.Fatal("creds show reveals the secret access key")
	}
	if out := admin.ok("creds", "verify", "acme/s3", "--location", bucket+"/datasets/verify"); strings.Contains(out, "FAILED") {
		t.Errorf("verify:\n%s", out)
	}
	var rotated struct {
		Config struct {
			ExternalID string `json:"external_id"`
		}
	}
	admin.json(&rotated, "creds", "rotate-external-id", "acme/s3")
	if rotated.Config.ExternalID == key.Config.ExternalID || rotated.Config.ExternalID == "" {
		t.Errorf("rotate-external-id kept %q", key.Config.ExternalID)
	}
	var policies struct {
		ExternalID  string          `json:"external_id"`
		TrustPolicy json.RawMessage `json:"trust_policy"`
	}
	admin.json(&policies, "provision", "aws", "acme/s3", "--bucket", minio.Bucket, "--prefix", "datasets",
		"--principal-arn", "arn:aws:iam::123456789012:role/tarn-server")
	if policies.ExternalID != rotated.Config.ExternalID || !strings.Contains(string(policies.TrustPolicy), rotated.Config.ExternalID) {
		t.Errorf("provision: %+v", policies)
	}
	// MinIO has no GetCallerIdentity: a permanent condition, answered as such with what to do.
	admin.fails(1, "does not implement sts:GetCallerIdentity", "provision", "aws", "acme/s3", "--bucket", minio.Bucket)
	if out := admin.ok("provision", "aws", "acme/s3", "--bucket", minio.Bucket, "--prefix", "datasets",
		"--principal-arn", "arn:aws:iam::123456789012:role/tarn-server"); !strings.Contains(out, `"AbortIncompleteMultipartUpload"`) ||
		!strings.Contains(out, `"Prefix": "datasets/"`) || !strings.Contains(out, "aws s3api put-bucket-lifecycle-configuration --bucket "+minio.Bucket) {
		t.Errorf("provision prints no lifecycle rule for the bucket's prefix:\n%s", out)
	}
	admin.fails(1, "outside", "ds", "connect", "s3://"+minio.Bucket+"/elsewhere", "al://acme/nope", "--creds-key", "s3")

	admin.ok("ds", "connect", bucket+"/datasets/coco", "al://acme/coco", "--creds-key", "s3")
	admin.ok("ds", "connect", bucket+"/datasets/coco-private", "al://acme/coco-private", "--creds-key", "s3")
	readerToken := strings.TrimSpace(admin.ok("user", "create", "rita"))
	secrets = append(secrets, readerToken)
	admin.ok("org", "member", "add", "acme", "rita", "--role", "reader")
	rita := newCLI(t, bin, filepath.Join(work, "rita")).with("TARN_ENDPOINT="+srv.url, "TARN_TOKEN="+readerToken)

	local := filepath.Join(work, "img.bin")
	payload := strings.Repeat("tarn", 300_000) // 1.2 MB: a multipart upload
	os.WriteFile(local, []byte(payload), 0o644)
	admin.ok("cp", local, "al://acme/coco/images/0.bin")
	admin.ok("cp", local, "al://acme/coco-private/secret.bin")
	if out := rita.ok("cat", "al://acme/coco/images/0.bin"); out != payload {
		t.Errorf("cat returned %d bytes, want %d", len(out), len(payload))
	}
	if out := rita.ok("ls", "-r", "al://acme/coco"); !strings.Contains(out, "images/0.bin") || strings.Contains(out, "secret") {
		t.Errorf("ls:\n%s", out)
	}
	rita.fails(1, "writer", "cp", local, "al://acme/coco/images/1.bin")

	// The vended read credential, used directly against S3 as any AWS tool would.
	var proc struct {
		Version                                                int
		AccessKeyId, SecretAccessKey, SessionToken, Expiration string
	}
	rita.json(&proc, "vend", "al://acme/coco", "--format", "aws-process")
	if proc.Version != 1 || proc.SessionToken == "" || proc.Expiration == "" {
		t.Fatalf("aws-process: %+v", proc)
	}
	secrets = append(secrets, proc.SecretAccessKey, proc.SessionToken)
	s3c := minio.S3(proc.AccessKeyId, proc.SecretAccessKey, proc.SessionToken)
	ctx := t.Context()
	if _, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &minio.Bucket, Key: aws.String("datasets/coco/images/0.bin")}); err != nil {
		t.Errorf("vended read credential cannot read its dataset: %v", err)
	}
	for name, err := range map[string]error{
		"read a sibling dataset": func() error {
			_, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &minio.Bucket, Key: aws.String("datasets/coco-private/secret.bin")})
			return err
		}(),
		"write": func() error {
			_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &minio.Bucket, Key: aws.String("datasets/coco/x"), Body: strings.NewReader("x")})
			return err
		}(),
		"list the bucket": func() error {
			_, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &minio.Bucket})
			return err
		}(),
	} {
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("a read credential for al://acme/coco could %s: %v", name, err)
		}
	}

	srv.stop(t)
	all := logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("server logs hold a secret (%.6s…)", s)
		}
	}
}
