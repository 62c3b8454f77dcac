package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) auditCmd() *cobra.Command {
	var since, action string
	cmd := &cobra.Command{
		Use:   "audit ORG [--since 1h] [--action A]",
		Short: "Show an org's audit records",
		Long: `Show an org's audit records: every vend, token exchange, permission change and denial,
with its principal, target, mode, result and request id. Needs the admin role in the org.

--since takes a duration back from now (90m, 24h) or an RFC 3339 time.`,
		Example: `  tarn audit acme --since 1h
  tarn audit acme --action vend --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			q := client.AuditQuery{Action: action}
			if since != "" {
				t, err := parseSince(since, a.now())
				if err != nil {
					return err
				}
				q.Since = t
			}
			recs, err := fetch(a, fmt.Sprintf("read audit of org %s", org), func(c *client.Client) ([]api.AuditRecord, error) {
				return c.Audit(cmd.Context(), org, q)
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(recs), func() error {
				t := a.table("TIME", "PRINCIPAL", "ACTION", "TARGET", "MODE", "RESULT", "REQUEST_ID", "DETAIL")
				for _, r := range recs {
					t.row(fmtTime(r.Time), r.Principal, r.Action, r.Target, r.Mode, r.Result, r.RequestID, r.Detail)
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records since this long ago (1h) or this RFC 3339 time")
	cmd.Flags().StringVar(&action, "action", "", "only records of this action")
	return cmd
}

// parseSince parses --since: a positive duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("invalid value %q for --since: use a positive duration such as 1h", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("invalid value %q for --since: use a duration such as 1h or an RFC 3339 time", s)
}
