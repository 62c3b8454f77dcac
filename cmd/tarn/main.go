// Command tarn is the one tarn binary: `tarn serve` runs the control plane, every other
// command is a client of it (admin commands, credential vending, object operations).
//
// Exit codes: 0 on success; 1 when an operation failed, with exactly one line
// "tarn: <what failed>: <why>" on stderr; 2 on a usage error (unknown command or flag,
// missing or malformed argument, bad flag value), followed by a hint to run --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tarnhq/tarn/api"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], osEnv())
	stop()
	os.Exit(code)
}

// env is everything the CLI takes from its process, so that tests can run it in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// configDir returns the user's configuration directory (os.UserConfigDir).
	configDir func() (string, error)
	// stdinTerminal and stderrTerminal report whether stdin and stderr are terminals.
	stdinTerminal, stderrTerminal bool
	// readSecret reads a line from the terminal without echo.
	readSecret func() (string, error)
	// httpClient is the API client's transport; nil for the default.
	httpClient *http.Client
	now        func() time.Time
}

func osEnv() *env {
	return &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv:         os.Getenv,
		configDir:      os.UserConfigDir,
		stdinTerminal:  term.IsTerminal(int(os.Stdin.Fd())),
		stderrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		readSecret: func() (string, error) {
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			return string(b), err
		},
		now: time.Now,
	}
}

// app is one run of the CLI: its environment and the global flags.
type app struct {
	*env
	output   string // --output: text or json
	endpoint string // --endpoint
	// anonymous is set once a client was built without a token, to hint at "tarn login"
	// when the server then answers 401.
	anonymous bool
}

// run runs the CLI with args (without the program name) and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	a := &app{env: e}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var f *failure
	if errors.As(err, &f) {
		msg := oneLine(f.Error())
		var p *api.Problem
		if a.anonymous && errors.As(err, &p) && p.Status == http.StatusUnauthorized && !strings.Contains(msg, "tarn login") {
			msg += ` (not logged in: run "tarn login" or set TARN_TOKEN)`
		}
		fmt.Fprintf(e.stderr, "tarn: %s\n", msg)
		return exitFailure
	}
	if cmd == nil {
		cmd = root
	}
	fmt.Fprintf(e.stderr, "tarn: %s\n", strings.TrimRight(err.Error(), "\n"))
	fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return exitUsage
}

// failure is an operation that failed (exit 1), as opposed to a usage error (exit 2).
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// usageError is a usage error detected by a command itself: a malformed argument or a bad
// flag value or combination.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "tarn",
		Short: "Datasets in your own buckets, with short-lived credentials",
		Long: `tarn keeps ML datasets in your own buckets and hands out short-lived, least-privilege
credentials for them through logical paths like al://acme/coco.

"tarn serve" runs the control plane; every other command talks to it. The endpoint and
token come from --endpoint, then TARN_ENDPOINT and TARN_TOKEN, then the file written by
"tarn login" (~/.config/tarn/config.json), then http://127.0.0.1:7777. The saved token is
sent only to the saved endpoint.

Exit status: 0 on success, 1 when an operation failed (one line on stderr), 2 on a
usage error.`,
		Example: `  tarn login --endpoint http://127.0.0.1:7777 --token-stdin < admin.token
  tarn ds create al://acme/coco
  tarn cp -r ./images al://acme/coco/images
  tarn vend al://acme/coco --mode read`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.output != "text" && a.output != "json" {
				return usagef("invalid value %q for --output: use text or json", a.output)
			}
			if cmd.Flags().Changed("endpoint") && strings.TrimSpace(a.endpoint) == "" {
				return usagef("--endpoint is empty")
			}
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	root.PersistentFlags().StringVar(&a.endpoint, "endpoint", "", "URL of the tarn server (default: $TARN_ENDPOINT, the login config, http://127.0.0.1:7777)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	root.CompletionOptions.HiddenDefaultCmd = true
	// Groups run (to reject unknown subcommands), but their usage shows only "[command]".
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"{{if .Runnable}}\n  {{.UseLine}}{{end}}",
		"{{if and .Runnable (not .HasAvailableSubCommands)}}\n  {{.UseLine}}{{end}}", 1))
	group(root)

	root.AddCommand(
		newServeCmd(),
		a.loginCmd(),
		a.whoamiCmd(),
		a.userCmd(),
		a.orgCmd(),
		a.tokenCmd(),
		a.credsCmd(),
		a.provisionCmd(),
		a.storageCmd(),
		a.dsCmd(),
		a.vendCmd(),
		a.presignCmd(),
		a.corsCmd(),
		a.lsCmd(),
		a.cpCmd(),
		a.catCmd(),
		a.auditCmd(),
		a.identityCmd(),
		a.issuerCmd(),
	)
	markFailures(root)
	return root
}

// group makes cmd a command that only holds subcommands: with no argument it prints its
// help; with an unknown one it is a usage error.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return &usageError{msg: msg}
	}
	return cmd
}

// markFailures wraps the RunE of every command below cmd so that an error it returns is a
// failure (exit 1) unless it is a usage error. Errors from cobra itself (flags, arguments)
// stay usage errors.
func markFailures(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			err := run(c, args)
			var u *usageError
			if err == nil || errors.As(err, &u) {
				return err
			}
			return &failure{err: err}
		}
	}
	for _, sub := range cmd.Commands() {
		markFailures(sub)
	}
}

// oneOf returns a usage error unless v is one of allowed.
func oneOf(flag, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return usagef("invalid value %q for --%s: use %s", v, flag, orList(allowed))
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
