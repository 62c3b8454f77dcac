package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tarnhq/tarn/client"
)

// Environment variables the CLI reads.
const (
	envEndpoint = "TARN_ENDPOINT"
	envToken    = "TARN_TOKEN"
	// envAuthProvider (or its alias ACTIVELOOP_AUTH_PROVIDER) makes the CLI exchange the
	// workload's platform token for a tarn token.
	envAuthProvider = client.EnvAuthProvider
)

// config is the file written by `tarn login`.
type config struct {
	Endpoint string `json:"endpoint,omitempty"`
	Token    string `json:"token,omitempty"`
}

// configPath returns $(os.UserConfigDir)/tarn/config.json.
func (a *app) configPath() (string, error) {
	dir, err := a.configDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w", err)
	}
	return filepath.Join(dir, "tarn", "config.json"), nil
}

// loadConfig reads the config file. A missing file is an empty config.
func (a *app) loadConfig() (config, error) {
	p, err := a.configPath()
	if err != nil {
		return config{}, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return config{}, nil
	}
	if err != nil {
		return config{}, fmt.Errorf("read config: %w", err)
	}
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		// The error names a position, never the file's content (which holds a token).
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return config{}, fmt.Errorf("read config %s: not valid JSON at byte %d; run \"tarn login\" again", p, se.Offset)
		}
		return config{}, fmt.Errorf("read config %s: not a tarn config; run \"tarn login\" again", p)
	}
	return c, nil
}

// saveConfig writes c atomically to the config file, mode 0600 in a directory of mode 0700.
func (a *app) saveConfig(c config) (string, error) {
	p, err := a.configPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create config directory: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".config-*.json") // mode 0600
	if err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("write config: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", fmt.Errorf("write config: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return p, nil
}

// settings are the resolved endpoint and token, with where each came from.
type settings struct {
	endpoint, endpointFrom string
	token, tokenFrom       string
	// provider is the workload auth provider (TARN_AUTH_PROVIDER) when no token was set:
	// the client then exchanges the platform's token for a tarn token.
	provider string
}

// resolve finds the endpoint and token: the --endpoint flag (endpoint only), then
// TARN_ENDPOINT and TARN_TOKEN, then the config file, then the default endpoint. Without
// TARN_TOKEN, TARN_AUTH_PROVIDER (or ACTIVELOOP_AUTH_PROVIDER) takes the place of a token:
// TARN_TOKEN > TARN_AUTH_PROVIDER > the config file's token.
//
// The config file's token is used only with the config file's endpoint, so that pointing the
// CLI at another server (--endpoint, TARN_ENDPOINT) never sends it the saved token.
func (a *app) resolve() (settings, error) {
	var s settings
	switch {
	case a.endpoint != "":
		s.endpoint, s.endpointFrom = a.endpoint, "--endpoint"
	case a.getenv(envEndpoint) != "":
		s.endpoint, s.endpointFrom = a.getenv(envEndpoint), envEndpoint
	}
	if t := a.getenv(envToken); t != "" {
		s.token, s.tokenFrom = strings.TrimSpace(t), envToken
	}
	if s.token == "" {
		if p := client.AuthProvider(a.getenv); p != "" {
			s.provider, s.tokenFrom = p, envAuthProvider
		}
	}
	if s.endpoint != "" && (s.token != "" || s.provider != "") {
		return s, nil // the config file is not needed
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return s, err
	}
	cfgEndpoint := cfg.Endpoint
	if cfgEndpoint == "" {
		cfgEndpoint = client.DefaultEndpoint
	}
	if s.endpoint == "" {
		s.endpoint, s.endpointFrom = cfgEndpoint, "config"
		if cfg.Endpoint == "" {
			s.endpointFrom = "default"
		}
	}
	if s.token == "" && s.provider == "" && cfg.Token != "" && sameEndpoint(s.endpoint, cfgEndpoint) {
		s.token, s.tokenFrom = cfg.Token, "config"
	}
	return s, nil
}

// sameEndpoint reports whether two endpoint URLs name the same server.
func sameEndpoint(x, y string) bool {
	norm := func(s string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/")) }
	return norm(x) == norm(y)
}

// client returns an API client with the resolved endpoint and token.
func (a *app) client() (*client.Client, error) {
	s, err := a.resolve()
	if err != nil {
		return nil, err
	}
	return a.newClient(s)
}

// call builds the API client and runs fn with it. An error of either comes back as
// "what: error", the line the CLI prints when the command fails.
func (a *app) call(what string, fn func(*client.Client) error) error {
	c, err := a.client()
	if err == nil {
		err = fn(c)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// fetch is call for a request that answers with a value: it returns what fn returns.
func fetch[T any](a *app, what string, fn func(*client.Client) (T, error)) (T, error) {
	var v T
	err := a.call(what, func(c *client.Client) (err error) {
		v, err = fn(c)
		return err
	})
	return v, err
}

func (a *app) newClient(s settings) (*client.Client, error) {
	opts := client.Options{
		Endpoint:   s.endpoint,
		Token:      s.token,
		HTTPClient: a.httpClient,
		UserAgent:  "tarn-cli",
	}
	if s.token == "" && s.provider != "" {
		ts, err := a.workloadSource(s.endpoint, s.provider, a.getenv(client.EnvScope))
		if err != nil {
			return nil, err
		}
		opts.TokenSource = ts
	}
	c, err := client.New(opts)
	if err != nil {
		if s.endpointFrom == "--endpoint" || s.endpointFrom == envEndpoint {
			return nil, fmt.Errorf("%s: %w", s.endpointFrom, err)
		}
		return nil, err
	}
	a.anonymous = s.token == "" && s.provider == ""
	return c, nil
}

// workloadSource returns a source of tarn tokens exchanged, at endpoint, for the platform
// token of provider, with scope ("" or "org:ORG").
func (a *app) workloadSource(endpoint, provider, scope string) (*client.WorkloadTokenSource, error) {
	platform, err := client.PlatformTokenSource(provider, a.getenv, a.httpClient)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", envAuthProvider, provider, err)
	}
	exchanger, err := client.New(client.Options{Endpoint: endpoint, HTTPClient: a.httpClient, UserAgent: "tarn-cli"})
	if err != nil {
		return nil, err
	}
	return client.NewWorkloadTokenSource(exchanger, platform, client.WorkloadOptions{Scope: scope, Now: a.now}), nil
}
