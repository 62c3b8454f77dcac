package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/server"
)

// TestSIGKILLUnderLoadLosesNoAcknowledgedWrite drives concurrent writes (datasets, tokens,
// members) and audited vends through the API of a real `tarn serve` on SQLite, kills it
// with SIGKILL in the middle, and restarts it on the same data directory: it must start
// clean, hold every write that was answered 2xx before the kill, pass PRAGMA
// integrity_check, and hold an audit record of every vend it answered (a vend is answered
// only once its record is durable).
func TestSIGKILLUnderLoadLosesNoAcknowledgedWrite(t *testing.T) {
	_, serveBin := tarnBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	logs := &syncBuffer{}
	srv := serve(t, serveBin, logs, "--data-dir", dataDir)
	tok, err := os.ReadFile(filepath.Join(dataDir, server.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	adminToken := strings.TrimSpace(string(tok))
	admin := newClient(t, srv.url, adminToken)
	ctx := context.Background()
	const org = server.LocalOrg // has default storage on the data dir

	// Acknowledged writes, recorded as their 2xx answers arrive.
	var (
		mu       sync.Mutex
		datasets []string
		tokens   []string
		members  []string
		vends    = map[string]int{} // dataset -> acknowledged vends
		acked    atomic.Int64
	)
	loaded := make(chan struct{}) // closed once 60 rounds of writes were acknowledged
	var loadedOnce sync.Once
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 6
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := admin.CreateDataset(ctx, org, api.CreateDatasetRequest{Name: name}); err != nil {
					continue // refused or cut off by the kill: not acknowledged
				}
				mu.Lock()
				datasets = append(datasets, name)
				mu.Unlock()
				for range 2 {
					if _, err := admin.DatasetCredentials(ctx, org, name, api.ModeRead); err == nil {
						mu.Lock()
						vends[name]++
						mu.Unlock()
					}
				}
				if tr, err := admin.CreateToken(ctx, api.CreateTokenRequest{Name: name}); err == nil {
					mu.Lock()
					tokens = append(tokens, tr.TokenInfo.ID)
					mu.Unlock()
				}
				if _, err := admin.CreateUser(ctx, api.CreateUserRequest{Name: name}); err == nil {
					if _, err := admin.PutMember(ctx, org, name, "reader"); err == nil {
						mu.Lock()
						members = append(members, name)
						mu.Unlock()
					}
				}
				if acked.Add(1) == 60 {
					loadedOnce.Do(func() { close(loaded) })
				}
			}
		})
	}
	// Kill once the load is well under way, while the workers keep writing.
	select {
	case <-loaded:
	case err := <-srv.done:
		t.Fatalf("tarn serve exited under load: %v\n%s", err, logs.String())
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv.done = nil // killed: nothing for the cleanup to stop
	close(stop)
	wg.Wait()

	checkIntegrity(t, filepath.Join(dataDir, "tarn.db"))

	again := serve(t, serveBin, logs, "--data-dir", dataDir)
	admin = newClient(t, again.url, adminToken)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged before the kill: %d datasets, %d tokens, %d members", len(datasets), len(tokens), len(members))

	list, err := admin.Datasets(ctx, org)
	if err != nil {
		t.Fatalf("list datasets after the restart: %v", err)
	}
	toks, err := admin.Tokens(ctx)
	if err != nil {
		t.Fatalf("list tokens after the restart: %v", err)
	}
	ms, err := admin.Members(ctx, org)
	if err != nil {
		t.Fatalf("list members after the restart: %v", err)
	}
	checkKept(t, "dataset", datasets, list, func(d api.Dataset) string { return d.Name })
	checkKept(t, "token", tokens, toks, func(tk api.Token) string { return tk.ID })
	checkKept(t, "membership of", members, ms, func(m api.Membership) string { return m.User })

	audited := map[string]int{}
	q := client.AuditQuery{Action: "vend", Limit: api.MaxAuditLimit}
	for {
		page, err := admin.Audit(ctx, org, q)
		if err != nil {
			t.Fatalf("read the audit after the restart: %v", err)
		}
		for _, r := range page.Records {
			if r.Result == "ok" {
				audited[r.Target[strings.LastIndex(r.Target, "/")+1:]]++
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	for name, n := range vends {
		if audited[name] < n {
			t.Errorf("dataset %s: %d vends answered before the kill, %d audited", name, n, audited[name])
		}
	}
	if len(vends) == 0 {
		t.Error("no vend was answered before the kill")
	}

	again.stop(t)
	checkIntegrity(t, filepath.Join(dataDir, "tarn.db"))
}

// checkKept reports each of acked that is not the key of one of have.
func checkKept[T any](t *testing.T, what string, acked []string, have []T, key func(T) string) {
	t.Helper()
	kept := map[string]bool{}
	for _, h := range have {
		kept[key(h)] = true
	}
	for _, k := range acked {
		if !kept[k] {
			t.Errorf("%s %s was acknowledged before the kill and is gone", what, k)
		}
	}
}

// checkIntegrity runs PRAGMA integrity_check on the SQLite database at path.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatalf("integrity_check of %s: %v", path, err)
	}
	if res != "ok" {
		t.Errorf("integrity_check of %s: %s", path, res)
	}
}

func newClient(t *testing.T, endpoint, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Endpoint: endpoint, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
