package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) loginCmd() *cobra.Command {
	var (
		token      string
		tokenStdin bool
		provider   string
		org        string
	)
	cmd := &cobra.Command{
		Use:   "login [--endpoint URL] [--token T | --token-stdin | --provider P [--org ORG]]",
		Short: "Save the endpoint and API token for later commands",
		Long: `Check an API token against the server (GET /whoami) and save the endpoint and token in
~/.config/tarn/config.json ($XDG_CONFIG_HOME/tarn/config.json when that is set; mode
0600), where later commands find them.

The token comes from --token, --token-stdin (one line on standard input), TARN_TOKEN, or
a prompt when standard input is a terminal. Prefer --token-stdin or the prompt: a token on
the command line ends up in shell history and process listings.

With --provider, a workload logs in with its own identity instead of a token: tarn gets
a token for tarn's audience from the platform (azure: the managed identity endpoint, with
AZURE_CLIENT_ID for a user-assigned identity; github: the GitHub Actions OIDC endpoint;
kubernetes: the projected token file, /var/run/secrets/tokens/tarn or $TARN_TOKEN_FILE;
oidc: $TARN_TOKEN_FILE), exchanges it once for a tarn token (POST /oauth/token) and saves
that. The saved token is short-lived (1 hour by default) and is NOT renewed: run login
again when it expires, or rather set TARN_AUTH_PROVIDER=P, which makes every command
exchange and renew on its own. The identity must be registered first ("tarn identity
add"). --org ORG (or TARN_SCOPE) narrows the token to one org. TARN_AUDIENCE changes the
audience asked of azure and github (default api://tarn).

TARN_ENDPOINT and TARN_TOKEN, when set, still take precedence over the saved file.`,
		Example: `  tarn login --endpoint http://127.0.0.1:7777 --token-stdin < tarn-data/admin.token
  tarn login --endpoint https://tarn.example.com
  tarn login --endpoint https://tarn.example.com --provider azure --org acme
  AZURE_CLIENT_ID=<client id> tarn login --provider azure
  tarn login --provider github --org acme`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var tok string
			var err error
			if provider != "" {
				if token != "" || tokenStdin {
					return usagef("--provider logs in without a token: drop --token and --token-stdin")
				}
				if err := oneOf("provider", provider, identityProviders...); err != nil {
					return err
				}
				if org != "" {
					if err := checkName("org", org); err != nil {
						return err
					}
				}
			} else if org != "" {
				return usagef("--org goes with --provider")
			} else if tok, err = a.loginToken(token, tokenStdin); err != nil {
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
			var exchanged *api.TokenExchangeResponse
			if provider != "" {
				scope := org
				if scope == "" {
					scope = a.getenv(client.EnvScope)
				}
				if exchanged, err = a.exchangeOnce(cmd, s.endpoint, provider, scope); err != nil {
					return err
				}
				tok = exchanged.AccessToken
			}
			s.token, s.tokenFrom, s.provider = tok, "login", ""
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
			if exchanged != nil {
				exp := a.now().Add(time.Duration(exchanged.ExpiresIn) * time.Second)
				return a.showf(me, "Logged in to %s as %s with the %s workload identity. Saved to %s.\n"+
					"The token expires at %s: run this again then, or set %s=%s to renew automatically.\n",
					c.Endpoint(), me.User, provider, path, fmtTime(exp), envAuthProvider, provider)
			}
			return a.showf(me, "Logged in to %s as %s. Saved to %s.\n", c.Endpoint(), me.User, path)
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "API token (visible in process listings; prefer --token-stdin)")
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the API token from one line of standard input")
	cmd.Flags().StringVar(&provider, "provider", "", "log in as this workload: azure, github, kubernetes or oidc (exchanges the platform's token once)")
	cmd.Flags().StringVar(&org, "org", "", "with --provider: narrow the token to this org (default: $TARN_SCOPE)")
	cmd.MarkFlagsMutuallyExclusive("token", "token-stdin")
	return cmd
}

// exchangeOnce gets the platform token of provider and exchanges it at endpoint.
func (a *app) exchangeOnce(cmd *cobra.Command, endpoint, provider, scope string) (*api.TokenExchangeResponse, error) {
	platform, err := client.PlatformTokenSource(provider, a.getenv, a.httpClient)
	if err != nil {
		return nil, fmt.Errorf("login --provider %s: %w", provider, err)
	}
	c, err := client.New(client.Options{Endpoint: endpoint, HTTPClient: a.httpClient, UserAgent: "tarn-cli"})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	subject, err := platform.Token(cmd.Context())
	if err != nil {
		return nil, fmt.Errorf("login --provider %s: %w", provider, err)
	}
	res, err := c.ExchangeToken(cmd.Context(), subject, scope)
	if err != nil {
		return nil, fmt.Errorf("login --provider %s to %s: exchange the platform token: %w", provider, c.Endpoint(), err)
	}
	return res, nil
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
