package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) loginCmd() *cobra.Command {
	var (
		token      string
		tokenStdin bool
	)
	cmd := &cobra.Command{
		Use:   "login [--endpoint URL] [--token T | --token-stdin]",
		Short: "Save the endpoint and API token for later commands",
		Long: `Check an API token against the server (GET /whoami) and save the endpoint and token in
~/.config/tarn/config.json ($XDG_CONFIG_HOME/tarn/config.json when that is set; mode
0600), where later commands find them.

The token comes from --token, --token-stdin (one line on standard input), TARN_TOKEN, or
a prompt when standard input is a terminal. Prefer --token-stdin or the prompt: a token on
the command line ends up in shell history and process listings.

TARN_ENDPOINT and TARN_TOKEN, when set, still take precedence over the saved file.`,
		Example: `  tarn login --endpoint http://127.0.0.1:7777 --token-stdin < tarn-data/admin.token
  tarn login --endpoint https://tarn.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := a.loginToken(token, tokenStdin)
			if err != nil {
				return err
			}
			s, err := a.resolve()
			if err != nil {
				// A broken config file is what login replaces: do not stop on it.
				s.endpoint, s.endpointFrom = client.DefaultEndpoint, "default"
				if a.endpoint != "" {
					s.endpoint, s.endpointFrom = a.endpoint, "--endpoint"
				} else if e := a.getenv(envEndpoint); e != "" {
					s.endpoint, s.endpointFrom = e, envEndpoint
				}
			}
			s.token, s.tokenFrom = tok, "login"
			c, err := a.newClient(s)
			if err != nil {
				return fmt.Errorf("login: %w", err)
			}
			me, err := c.Whoami(cmd.Context())
			if err != nil {
				return fmt.Errorf("login to %s: %w", c.Endpoint(), err)
			}
			path, err := a.saveConfig(config{Endpoint: c.Endpoint(), Token: tok})
			if err != nil {
				return fmt.Errorf("login: %w", err)
			}
			if env := strings.TrimSpace(a.getenv(envToken)); env != "" && env != tok {
				fmt.Fprintf(a.stderr, "note: TARN_TOKEN is set and takes precedence over the saved token\n")
			}
			return a.showf(me, "Logged in to %s as %s. Saved to %s.\n", c.Endpoint(), me.User, path)
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "API token (visible in process listings; prefer --token-stdin)")
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the API token from one line of standard input")
	cmd.MarkFlagsMutuallyExclusive("token", "token-stdin")
	return cmd
}

// loginToken returns the token to log in with.
func (a *app) loginToken(flag string, fromStdin bool) (string, error) {
	switch {
	case flag != "":
		return strings.TrimSpace(flag), nil
	case fromStdin:
		t, err := a.stdinLine(4096)
		if err != nil {
			return "", fmt.Errorf("login: read token from stdin: %w", err)
		}
		if t != "" {
			return t, nil
		}
		return "", usagef("--token-stdin: no token on standard input")
	case a.getenv(envToken) != "":
		return strings.TrimSpace(a.getenv(envToken)), nil
	case a.stdinTerminal && a.readSecret != nil:
		t, err := a.prompt("API token: ")
		if err != nil {
			return "", fmt.Errorf("login: read token: %w", err)
		}
		if t != "" {
			return t, nil
		}
		return "", usagef("no token given")
	}
	return "", usagef("no token: give --token-stdin (or --token T, or set TARN_TOKEN)")
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		Short:   "Show the user and token the CLI authenticates as",
		Example: "  tarn whoami\n  tarn whoami --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var endpoint string
			me, err := fetch(a, "whoami", func(c *client.Client) (*api.Whoami, error) {
				endpoint = c.Endpoint()
				return c.Whoami(cmd.Context())
			})
			if err != nil {
				return err
			}
			return a.show(me, func() error {
				return kv(a.stdout,
					"endpoint", endpoint,
					"user", me.User,
					"superuser", yesNo(me.Superuser),
					"token", tokenScope(me.TokenID, me.TokenOrg, me.TokenRole),
					"orgs", memberships(me),
				)
			})
		},
	}
}

// tokenScope prints a token id with the org and role it is narrowed to.
func tokenScope(id, org, role string) string {
	switch {
	case org != "" && role != "":
		return fmt.Sprintf("%s (org %s, role %s)", id, org, role)
	case org != "":
		return fmt.Sprintf("%s (org %s)", id, org)
	}
	return id
}

// memberships prints a user's orgs and roles: "acme (admin), lab (reader)".
func memberships(me *api.Whoami) string {
	parts := make([]string, 0, len(me.Orgs))
	for _, m := range me.Orgs {
		parts = append(parts, fmt.Sprintf("%s (%s)", m.Org, m.Role))
	}
	return strings.Join(parts, ", ")
}
