package main

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

var identityProviders = []string{api.IdentityAzure, api.IdentityGitHub, api.IdentityKubernetes, api.IdentityOIDC}

func (a *app) identityCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "identity",
		Short: "Manage the workload identities of an org",
		Long: `Manage workload identities: external identities (an Azure managed identity, a GitHub
Actions workflow, a Kubernetes service account, any OIDC workload) that log in to tarn with
the token their platform signed, and get a short-lived tarn token with the identity's role
in the org. No tarn API token has to be stored in the workload.

The workload sets TARN_AUTH_PROVIDER (azure, github, kubernetes or oidc) and runs tarn or
the SDK: they get a platform token for tarn's audience (api://tarn unless the server says
otherwise; TARN_AUDIENCE), exchange it at POST /oauth/token, and renew it before it
expires. Only admins of the org manage its identities.`,
	})
	cmd.AddCommand(a.identityAddCmd(), a.identityLsCmd(), a.identityShowCmd(), a.identityRmCmd())
	return cmd
}

// parseOrgName splits an ORG/NAME argument naming something of kind what in an org.
func parseOrgName(what, s string) (org, name string, err error) {
	org, name, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", usagef("%q is not ORG/NAME: name the %s as ORG/NAME, e.g. acme/trainer", s, what)
	}
	if err := checkName("org", org); err != nil {
		return "", "", err
	}
	if err := checkName(what, name); err != nil {
		return "", "", err
	}
	return org, name, nil
}

func (a *app) identityAddCmd() *cobra.Command {
	var (
		id             api.Identity
		claims         []string
		serviceAccount string
	)
	cmd := &cobra.Command{
		Use:   "add ORG/NAME --provider azure|github|kubernetes|oidc --role reader|writer [provider flags]",
		Short: "Register a workload identity, or replace it",
		Long: `Register the workload identity NAME in ORG, or replace it. What the workload's token must
show depends on the provider:

  azure       --tenant-id T --client-id C: an Azure managed identity (system- or
              user-assigned), by the Tenant ID and the Client ID (application ID) of the
              identity, as shown in the Azure portal.
  github      --repository OWNER/REPO [--ref refs/heads/main] [--environment E]: GitHub
              Actions jobs of that repository (and that ref, that environment).
  kubernetes  --issuer URL --service-account NAMESPACE/NAME: pods running as that service
              account of the cluster whose service account issuer is URL.
  oidc        --issuer URL --subject S [--claim k=v ...]: any OIDC workload whose tokens
              from issuer URL carry sub S and every given claim.

The token must be minted for tarn's audience (api://tarn by default): a token for another
audience, one that could be replayed at the platform's own APIs, is refused.

The server fetches the issuer's OIDC discovery document and keys, and refuses an identity
it could not verify. --role is reader (read credentials) or writer (also writes).`,
		Example: `  tarn identity add acme/trainer --provider azure --tenant-id 72f988bf-86f1-41af-91ab-2d7cd011db47 --client-id 0d3e3a56-7e8c-4d2f-9f4e-2f1f0a8c5b11 --role reader
  tarn identity add acme/ci --provider github --repository acme/models --ref refs/heads/main --role writer
  tarn identity add acme/loader --provider kubernetes --issuer https://oidc.prod-aks.azure.com/0000/ --service-account ml/loader --role reader
  tarn identity add acme/batch --provider oidc --issuer https://issuer.example.com --subject batch-runner --claim team=ml --role reader`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, name, err := parseOrgName("identity", args[0])
			if err != nil {
				return err
			}
			if err := oneOf("provider", id.Provider, identityProviders...); err != nil {
				return err
			}
			if err := oneOf("role", id.Role, api.RoleReader, api.RoleWriter); err != nil {
				return err
			}
			id.Name = name
			id.ServiceAccount = serviceAccount
			if len(claims) > 0 {
				id.Claims = map[string]string{}
				for _, c := range claims {
					k, v, ok := strings.Cut(c, "=")
					if !ok || strings.TrimSpace(k) == "" {
						return usagef("invalid --claim %q: use KEY=VALUE", c)
					}
					if _, dup := id.Claims[k]; dup {
						return usagef("--claim %s is given twice", k)
					}
					id.Claims[k] = v
				}
			}
			if err := checkIdentityFlags(cmd, &id); err != nil {
				return err
			}
			res, err := fetch(a, fmt.Sprintf("add identity %s/%s", org, name), func(c *client.Client) (*api.Identity, error) {
				return c.PutIdentity(cmd.Context(), org, id)
			})
			if err != nil {
				return err
			}
			return a.showf(res, "Saved identity %s/%s (%s, role %s): %s.\n", res.Org, res.Name, res.Provider, res.Role, res.Matches())
		},
	}
	f := cmd.Flags()
	f.StringVar(&id.Provider, "provider", "", "azure, github, kubernetes or oidc (required)")
	f.StringVar(&id.Role, "role", "", "role the identity gets in the org: reader or writer (required)")
	f.StringVar(&id.DisplayName, "display-name", "", "free text to recognize the identity by, e.g. the managed identity's name in the Azure portal")
	f.StringVar(&id.TenantID, "tenant-id", "", "azure: the Tenant ID (directory ID)")
	f.StringVar(&id.ClientID, "client-id", "", "azure: the Client ID of the managed identity")
	f.StringVar(&id.Repository, "repository", "", "github: OWNER/REPO")
	f.StringVar(&id.RepositoryID, "repository-id", "", "github: pin the repository by its numeric ID (the token's repository_id), which survives a rename and refuses a re-created repository of the same name")
	f.StringVar(&id.OwnerID, "owner-id", "", "github: only repositories of the owner with this numeric ID (the token's repository_owner_id)")
	f.StringVar(&id.Ref, "ref", "", "github: only this ref, e.g. refs/heads/main")
	f.StringVar(&id.Environment, "environment", "", "github: only jobs in this deployment environment")
	f.StringVar(&id.Issuer, "issuer", "", "kubernetes, oidc: the issuer URL (https)")
	f.StringVar(&serviceAccount, "service-account", "", "kubernetes: NAMESPACE/NAME of the service account")
	f.StringVar(&id.Subject, "subject", "", "oidc: the token's sub")
	f.StringArrayVar(&claims, "claim", nil, "oidc: KEY=VALUE that the token must carry; repeatable")
	cmd.MarkFlagRequired("provider")
	cmd.MarkFlagRequired("role")
	return cmd
}

// checkIdentityFlags checks that the flags of id's provider are there, and no other's.
func checkIdentityFlags(cmd *cobra.Command, id *api.Identity) error {
	flagsOf := map[string][]string{
		api.IdentityAzure:      {"tenant-id", "client-id"},
		api.IdentityGitHub:     {"repository", "repository-id", "owner-id", "ref", "environment"},
		api.IdentityKubernetes: {"issuer", "service-account"},
		api.IdentityOIDC:       {"issuer", "subject", "claim"},
	}
	required := map[string][]string{
		api.IdentityAzure:      {"tenant-id", "client-id"},
		api.IdentityGitHub:     {"repository"},
		api.IdentityKubernetes: {"issuer", "service-account"},
		api.IdentityOIDC:       {"issuer", "subject"},
	}
	allowed := map[string]bool{}
	for _, f := range flagsOf[id.Provider] {
		allowed[f] = true
	}
	var stray []string
	for _, fs := range flagsOf {
		for _, f := range fs {
			if !allowed[f] && cmd.Flags().Changed(f) && !contains(stray, "--"+f) {
				stray = append(stray, "--"+f)
			}
		}
	}
	if len(stray) > 0 {
		sort.Strings(stray)
		return usagef("%s do not apply to --provider %s", orList(stray), id.Provider)
	}
	for _, f := range required[id.Provider] {
		if v, _ := cmd.Flags().GetString(f); strings.TrimSpace(v) == "" {
			return usagef("--provider %s needs --%s", id.Provider, f)
		}
	}
	switch id.Provider {
	case api.IdentityGitHub:
		if o, r, ok := strings.Cut(id.Repository, "/"); !ok || o == "" || r == "" || strings.Contains(r, "/") {
			return usagef("invalid --repository %q: use OWNER/REPO", id.Repository)
		}
	case api.IdentityKubernetes:
		if ns, n, ok := strings.Cut(id.ServiceAccount, "/"); !ok || ns == "" || n == "" || strings.Contains(n, "/") {
			return usagef("invalid --service-account %q: use NAMESPACE/NAME", id.ServiceAccount)
		}
	}
	if id.Issuer != "" {
		u, err := url.Parse(id.Issuer)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			return usagef("invalid --issuer %q: use the issuer's https:// URL", id.Issuer)
		}
	}
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (a *app) identityLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls ORG",
		Short:   "List the workload identities of an org",
		Example: "  tarn identity ls acme\n  tarn identity ls acme --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			ids, err := fetch(a, fmt.Sprintf("list identities of org %s", org), func(c *client.Client) ([]api.Identity, error) {
				return c.Identities(cmd.Context(), org)
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(ids), func() error {
				t := a.table("NAME", "PROVIDER", "ROLE", "MATCHES", "CREATED")
				for i := range ids {
					t.row(ids[i].Name, ids[i].Provider, ids[i].Role, ids[i].Matches(), fmtTime(ids[i].CreatedAt))
				}
				return t.flush()
			})
		},
	}
}

func (a *app) identityShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ORG/NAME",
		Short:   "Show a workload identity",
		Example: "  tarn identity show acme/trainer",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, name, err := parseOrgName("identity", args[0])
			if err != nil {
				return err
			}
			id, err := fetch(a, fmt.Sprintf("show identity %s/%s", org, name), func(c *client.Client) (*api.Identity, error) {
				return c.Identity(cmd.Context(), org, name)
			})
			if err != nil {
				return err
			}
			return a.show(id, func() error {
				return kv(a.stdout,
					"org", id.Org,
					"name", id.Name,
					"provider", id.Provider,
					"role", id.Role,
					"matches", id.Matches(),
					"created", fmtTime(id.CreatedAt),
					"created by", id.CreatedBy,
				)
			})
		},
	}
}

func (a *app) identityRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ORG/NAME",
		Short: "Delete a workload identity",
		Long: `Delete a workload identity. Its workloads can no longer log in, and the tarn tokens it
was already exchanged for are refused from then on.`,
		Example: "  tarn identity rm acme/trainer",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, name, err := parseOrgName("identity", args[0])
			if err != nil {
				return err
			}
			if err := a.call(fmt.Sprintf("delete identity %s/%s", org, name), func(c *client.Client) error {
				return c.DeleteIdentity(cmd.Context(), org, name)
			}); err != nil {
				return err
			}
			a.say("Deleted identity %s/%s.\n", org, name)
			return nil
		},
	}
}
