package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tarnhq/tarn/internal/server"
)

// serve starts a server with the given HTTP timeouts on a loopback port and returns its
// address and the admin token.
func serve(t *testing.T, timeouts server.HTTPTimeouts) (addr, token string) {
	t.Helper()
	dir := t.TempDir()
	s, err := server.New(t.Context(), server.Options{DataDir: dir, HTTP: timeouts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), strings.TrimSpace(string(tok))
}

// readUntilClosed reads what the server sends on conn until it closes the connection, and
// fails t if the server still holds it open after a minute.
func readUntilClosed(t *testing.T, conn net.Conn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still holds the connection after a minute; it sent %q", b)
	}
	return string(b)
}

// A client that sends its headers and half of its body, then stalls, loses its connection
// once the read timeout is spent; it cannot hold a connection (and a handler) for as long
// as it likes.
func TestStalledBodyLosesConnection(t *testing.T) {
	addr, token := serve(t, server.HTTPTimeouts{Read: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name":"stalled-token-of-forty-bytes"}`
	req := "POST /api/v1/tokens HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body[:len(body)/2]
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	got := readUntilClosed(t, conn)
	if strings.Contains(got, "201 Created") {
		t.Errorf("the server created a token from half a body: %q", got)
	}
}

// A client that stalls in its headers loses its connection too, and one that keeps an
// idle connection open loses it after the idle timeout; a normal request on the same
// server is answered.
func TestStalledHeadersAndIdleConnectionsClose(t *testing.T) {
	addr, _ := serve(t, server.HTTPTimeouts{ReadHeader: 300 * time.Millisecond, Idle: 300 * time.Millisecond})
	half, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	io.WriteString(half, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n")
	readUntilClosed(t, half)

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	if got := readUntilClosed(t, idle); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("healthz on a kept-alive connection answered %q, want 200 and then the close", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
