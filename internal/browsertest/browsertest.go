// Package browsertest drives a real headless Chromium from Go tests, for pages that tarn
// serves (the web console). One browser serves a whole test binary; each test gets its own
// tab (and its own cookies) from New:
//
//	func TestMain(m *testing.M) { browsertest.Main(m) }
//
//	func TestLogin(t *testing.T) {
//		p := browsertest.New(t)
//		p.Navigate(srv.URL + "/login")
//		p.Fill("input[name=token]", token)
//		p.Submit("form")
//		if got := p.Text("h1"); got != "Your organizations" { ... }
//		p.Screenshot("orgs")
//	}
//
// The browser stays on the machine: Navigate refuses every URL whose host is not 127.0.0.1,
// ::1 or localhost, and Chromium runs with a host resolver rule that resolves no other name
// and without its background services (updates, sync, safe browsing, metrics uploads).
// It talks to the test over a pipe, so it listens on no port.
//
// Chromium is found as $TARN_CHROMIUM, else as chromium or chromium-browser on PATH; where
// there is none, New skips the test naming Debian's chromium package, which scripts/test.sh
// installs. Selectors are CSS selectors (document.querySelector).
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// ActionTimeout bounds each browser action (a navigation, a fill, a read), so that a
// selector that never matches fails the test instead of hanging it.
const ActionTimeout = 30 * time.Second

// flags keep Chromium headless, quiet and on loopback: no background traffic, no host name
// other than localhost ever resolved (MAP * ~NOTFOUND), and every request to a non-loopback
// address, such as an IP literal a page links to, sent to a proxy on 127.0.0.1:1 where
// nothing listens (Chromium sends loopback requests direct), so it fails on the machine.
var flags = []chromedp.ExecAllocatorOption{
	chromedp.Headless,
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-default-apps", true),
	chromedp.Flag("disable-extensions", true),
	chromedp.Flag("no-pings", true),
	chromedp.Flag("disable-domain-reliability", true),
	chromedp.Flag("disable-client-side-phishing-detection", true),
	chromedp.Flag("metrics-recording-only", true),
	chromedp.Flag("dns-prefetch-disable", true),
	chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
	chromedp.ProxyServer("http://127.0.0.1:1"),
	chromedp.Flag("disable-breakpad", true),
	chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is small in containers
	chromedp.Flag("password-store", "basic"),
	chromedp.WindowSize(1280, 800),
}

// FindChromium returns the path of the Chromium binary: $TARN_CHROMIUM when set, else
// chromium or chromium-browser on PATH. Its error says which package to install.
func FindChromium() (string, error) {
	if p := os.Getenv("TARN_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH and TARN_CHROMIUM unset: install Debian's chromium package (scripts/test.sh does)")
}

// browser is the process-wide Chromium, started by the first New.
var browser struct {
	mu     sync.Mutex
	ctx    context.Context // a browser context; tabs are its children
	cancel func()
	err    error // why it could not start, for every later New
}

// Main runs the tests, then stops the shared browser and removes its user data directory,
// and exits with the tests' status.
func Main(m *testing.M) { os.Exit(Run(m.Run)) }

// Run calls run (a testing.M's Run), then stops the shared browser, and returns run's exit
// code. It lets a TestMain combine several test peers. Without Main or Run the kernel kills
// Chromium when the test binary exits (Linux), and its temporary user data directory stays.
func Run(run func() int) int {
	code := run()
	browser.mu.Lock()
	defer browser.mu.Unlock()
	if browser.cancel != nil {
		browser.cancel()
		browser.ctx, browser.cancel = nil, nil
	}
	return code
}

// shared returns the process-wide browser context, starting Chromium on first use with a
// fresh temporary user data directory (chromedp's, removed when the browser stops).
func shared(t testing.TB) context.Context {
	t.Helper()
	browser.mu.Lock()
	defer browser.mu.Unlock()
	if browser.ctx != nil {
		return browser.ctx
	}
	if browser.err != nil {
		t.Fatal(browser.err)
	}
	bin, err := FindChromium()
	if err != nil {
		t.Skip(err)
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(bin)}, flags...)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root in its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		browser.err = fmt.Errorf("start %s: %w", bin, err)
		t.Fatal(browser.err)
	}
	browser.ctx = ctx
	browser.cancel = func() { cancelBrowser(); cancelAlloc() }
	return ctx
}

// Page is one browser tab of one test, with its own cookies and storage. Its methods fail
// the test (t.Fatal) when an action fails; they must be called from the test's goroutine.
type Page struct {
	t   testing.TB
	ctx context.Context

	mu       sync.Mutex
	requests []string                  // the URL of every request the tab sent, in order
	errs     []chromedp.ConsoleMessage // console errors and uncaught exceptions not yet taken
	synced   chan struct{}             // closed when the console reader sees the sync marker
	marker   string                    // the sync marker awaited, if any
}

// New opens a fresh tab in an incognito-like browser context of the shared browser (so
// that no cookie passes between tests), starting Chromium on first use. It skips t where no
// Chromium is installed. When t ends, the tab closes, and t fails if the page logged a
// console error or threw an exception that no TakeErrors took.
func New(t testing.TB) *Page {
	t.Helper()
	parent := shared(t)
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithNewBrowserContext())
	p := &Page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx) // subscribes now, before any page loads
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a browser tab: %v", err)
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.record(m)
		}
	})
	readers.Go(func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.requests = append(p.requests, ev.Request.URL+ev.Request.URLFragment)
			p.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		p.checkErrors()
		cancel()
		readers.Wait()
	})
	return p
}

// record keeps console errors and exceptions, and signals the sync marker.
func (p *Page) record(m chromedp.ConsoleMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.marker != "" && m.Text == p.marker {
		close(p.synced)
		p.marker = ""
		return
	}
	if m.Type != chromedp.ConsoleError && !m.IsException() {
		return
	}
	// Chromium fetches /favicon.ico on its own; a page without one is not an error.
	if m.Source == "network" && strings.HasSuffix(m.URL, "/favicon.ico") {
		return
	}
	p.errs = append(p.errs, m)
}

// run runs actions in the tab with ActionTimeout, failing the test with what on error.
func (p *Page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %s: %v", what, err)
	}
}

// navigation runs actions that load a page and returns the page's HTTP status. The test
// has that status, so the console error Chromium logs for a page that is an HTTP error
// ("Failed to load resource: ... 404") is dropped; errors of the page's resources stay.
func (p *Page) navigation(what string, actions ...chromedp.Action[chromedp.Void]) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		p.t.Fatalf("browser: %s: %v", what, err)
	}
	if resp.Status >= 400 {
		p.sync()
		p.mu.Lock()
		p.errs = slices.DeleteFunc(p.errs, func(m chromedp.ConsoleMessage) bool {
			return m.Source == "network" && m.URL == resp.URL
		})
		p.mu.Unlock()
	}
	return int(resp.Status)
}

// Navigate loads rawURL and returns the HTTP status of the page. It fails the test, without
// any request, when rawURL is not an http(s) URL on a loopback host (CheckLoopback).
func (p *Page) Navigate(rawURL string) int {
	p.t.Helper()
	if err := CheckLoopback(rawURL); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
	return p.navigation("open "+rawURL, chromedp.Navigate(rawURL))
}

// Fill sets the value of the form field that selector matches, waiting for it to appear.
func (p *Page) Fill(selector, value string) {
	p.t.Helper()
	p.run("fill "+selector, chromedp.SetValue(chromedp.CSS(selector), value))
}

// Submit submits the form that holds the element selector matches (or that is it), waits
// for the next page to load, and returns its HTTP status.
func (p *Page) Submit(selector string) int {
	p.t.Helper()
	return p.navigation("submit "+selector, chromedp.Submit(chromedp.CSS(selector)))
}

// Text returns the visible text of the element selector matches, waiting for it to appear.
func (p *Page) Text(selector string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		p.t.Fatalf("browser: read text of %s: %v", selector, err)
	}
	return s
}

// URL returns the address of the page the tab shows, after any redirects.
func (p *Page) URL() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		p.t.Fatalf("browser: read location: %v", err)
	}
	return u
}

// Screenshot saves a PNG of the whole page (beyond the window) as name.png in the test's
// artifact directory (t.ArtifactDir: kept under -outputdir with `go test -artifacts`,
// removed after the test otherwise), logs its path, and returns it.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		p.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatalf("browser: save screenshot: %v", err)
	}
	p.t.Logf("screenshot %s", path)
	return path
}

// TakeErrors returns the console errors and uncaught exceptions the page has reported so
// far (each "error: TEXT (URL:LINE)" or "exception: ..."), and forgets them, so that a test
// expecting an error takes it and the test does not fail at its end.
func (p *Page) TakeErrors() []string {
	p.t.Helper()
	p.sync()
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []string
	for _, m := range p.errs {
		msg := m.String()
		if m.URL != "" {
			msg += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
		}
		errs = append(errs, msg)
	}
	p.errs = nil
	return errs
}

// sync waits until the console reader has seen every message the page sent before now: it
// logs a marker from the page and waits for the reader to see it (messages keep their order).
func (p *Page) sync() {
	p.t.Helper()
	p.mu.Lock()
	p.marker = fmt.Sprintf("browsertest-sync-%p-%d", p, time.Now().UnixNano())
	p.synced = make(chan struct{})
	marker, synced := p.marker, p.synced
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf("console.debug(%q), true", marker))); err != nil {
		p.t.Fatalf("browser: read console: %v", err)
	}
	select {
	case <-synced:
	case <-ctx.Done():
		p.t.Fatalf("browser: read console: %v", ctx.Err())
	}
}

// checkErrors fails the test with every console error and exception not taken.
func (p *Page) checkErrors() {
	p.t.Helper()
	for _, e := range p.TakeErrors() {
		p.t.Errorf("browser: the page reported %s", e)
	}
}

// CheckLoopback returns an error unless rawURL is an http or https URL whose host is
// 127.0.0.1 (or another 127/8 address), ::1 or localhost, without user info, backslashes,
// tabs or newlines: the only pages tests may open.
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("refusing to open %q: %v", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("refusing to open %q: only http and https URLs on loopback", rawURL)
	}
	// Browsers read a backslash as a slash and drop tabs and newlines, so such a URL may
	// name another host for Chromium than for net/url; userinfo only hides the host.
	if strings.ContainsAny(rawURL, "\\\t\r\n") || u.User != nil {
		return fmt.Errorf("refusing to open %q: no backslashes, tabs, newlines or user info", rawURL)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to open %q: tests open only loopback hosts (127.0.0.1, ::1, localhost)", rawURL)
}

// Requests returns the URL of every request the tab has sent so far, pages, scripts,
// images and fetches alike, in the order sent (data: and blob: URLs included), and forgets
// them, so that a test can look at the requests of one step.
func (p *Page) Requests() []string {
	p.t.Helper()
	p.sync() // events keep their order per tab: what the page did before now has been seen
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.requests
	p.requests = nil
	return r
}

// Eval evaluates the JavaScript expression js in the page and returns its value, decoded
// from JSON into T (awaiting it first when it is a promise).
func Eval[T any](p *Page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("browser: evaluate %s: %v", js, err)
	}
	return v
}

// WaitFor waits until the JavaScript expression js is truthy in the page, for at most
// ActionTimeout, and fails the test with what when it is not.
func (p *Page) WaitFor(what, js string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, ActionTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(ActionTimeout))); err != nil {
		p.t.Fatalf("browser: wait for %s: %v", what, err)
	}
}

// Click clicks the element selector matches, waiting for it to appear: a checkbox, or a
// button that stays on the page (use Submit for one that sends a form).
func (p *Page) Click(selector string) {
	p.t.Helper()
	p.run("click "+selector, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
}
