package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) auditCmd() *cobra.Command {
	var since, until, action, principal, result, cursor string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "audit ORG [--since 24h] [--until T] [--action A] [--principal P] [--result R] [--limit N] [--cursor C | --all]",
		Short: "Show an org's audit records",
		Long: `Show an org's audit records: every vend, token exchange, permission change and denial,
with its principal, target, mode, result and request id. Needs the admin role in the org.

Records come in pages, newest page first and oldest record first within a page: --limit
records (default 100, at most 1000). When older records exist, the text output ends with
the command for the next page, and --output json carries it as next_cursor; pass it back
with --cursor. --all reads every page.

--since and --until take a duration back from now (90m, 24h) or an RFC 3339 time.
--principal takes a user ("alice", any of their tokens) or "identity:ORG/NAME", and
--result one of ok, denied or error.`,
		Example: `  tarn audit acme --since 1h
  tarn audit acme --since 24h --until 2h --action vend --limit 50
  tarn audit acme --action vend --output json
  tarn audit acme --principal alice --result denied
  tarn audit acme --since 168h --all --output json > week.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			if limit < 1 || limit > api.MaxAuditLimit {
				return usagef("invalid value %d for --limit: use 1 to %d", limit, api.MaxAuditLimit)
			}
			if all && cursor != "" {
				return usagef("--all reads every page: leave out --cursor")
			}
			q := client.AuditQuery{Action: action, Principal: principal, Result: result, Limit: limit, Cursor: cursor}
			var err error
			if q.Since, err = parseTimeFlag("since", since, a.now()); err != nil {
				return err
			}
			if q.Until, err = parseTimeFlag("until", until, a.now()); err != nil {
				return err
			}
			var pages []*api.AuditList
			for {
				page, err := fetch(a, fmt.Sprintf("read audit of org %s", org), func(c *client.Client) (*api.AuditList, error) {
					return c.Audit(cmd.Context(), org, q)
				})
				if err != nil {
					return err
				}
				pages = append(pages, page)
				if !all || page.NextCursor == "" {
					break
				}
				q.Cursor = page.NextCursor
			}
			// Pages come newest first: show them oldest first, as one list.
			out := api.AuditList{Records: []api.AuditRecord{}, NextCursor: pages[len(pages)-1].NextCursor}
			for i := len(pages) - 1; i >= 0; i-- {
				out.Records = append(out.Records, pages[i].Records...)
			}
			return a.show(out, func() error {
				t := a.table("TIME", "PRINCIPAL", "ACTION", "TARGET", "MODE", "RESULT", "REQUEST_ID", "DETAIL")
				for _, r := range out.Records {
					t.row(fmtTime(r.Time), r.Principal, r.Action, r.Target, r.Mode, r.Result, r.RequestID, r.Detail)
				}
				if err := t.flush(); err != nil {
					return err
				}
				if out.NextCursor != "" {
					fmt.Fprintf(a.stderr, "Older records: run again with --cursor %s (or --all).\n", out.NextCursor)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "only records since this long ago (24h) or this RFC 3339 time")
	f.StringVar(&until, "until", "", "only records before this long ago (2h) or this RFC 3339 time")
	f.StringVar(&action, "action", "", "only records of this action (vend, token.exchange, dataset.create, ...)")
	f.StringVar(&principal, "principal", "", "only records of this user (any of their tokens) or identity:ORG/NAME")
	f.StringVar(&result, "result", "", "only records of this result: ok, denied or error")
	f.IntVar(&limit, "limit", api.DefaultAuditLimit, "records per page")
	f.StringVar(&cursor, "cursor", "", "the next_cursor of the previous page: show the older records")
	f.BoolVar(&all, "all", false, "read every page")
	return cmd
}

// parseTimeFlag parses the time flag name: a positive duration back from now, an RFC 3339
// time, or "" for none.
func parseTimeFlag(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("invalid value %q for --%s: use a positive duration such as 1h", s, name)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("invalid value %q for --%s: use a duration such as 1h or an RFC 3339 time", s, name)
}
