package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/issuer"
)

func (a *app) credsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "creds",
		Short: "Manage an org's creds keys (managed credentials)",
		Long: `Manage an org's creds keys: named managed credentials (a provider and its configuration)
from which tarn mints short-lived credentials. Secrets, where a provider needs one, are
write-only. Managing creds keys needs the admin role in the org.`,
	})
	cmd.AddCommand(a.credsAddCmd(), a.credsLsCmd(), a.credsShowCmd(), a.credsVerifyCmd(), a.credsRotateCmd(), a.credsRmCmd())
	return cmd
}

func (a *app) credsAddCmd() *cobra.Command {
	var (
		provider    string
		roots       []string
		allowed     []string
		cfg         api.CredsKeyConfig
		secretStdin bool
	)
	cmd := &cobra.Command{
		Use:   "add ORG/KEY --provider PROVIDER [provider flags]",
		Short: "Create or replace a creds key",
		Long: `Create the creds key KEY of org ORG, or replace its configuration. Replacing keeps the
key's secret and external ID unless new ones are given.

Provider file vends local directories: give each directory it may vend with --root, as a
plain path or a file:/// URL. Each must lie inside one of the server's --file-root
directories.

Provider aws vends S3 credentials through one STS AssumeRole with a session policy limited
to the dataset's prefix and mode. It works with AWS and S3-compatible stores (MinIO: give
--sts-endpoint, --s3-endpoint and --path-style). --allowed lists the s3:// locations the key
may vend for (at least one). The server generates the external ID that every AssumeRole
sends; see it with "tarn creds show" and put it in the role's trust policy ("tarn provision
aws" prints it). --source default uses the server's own AWS identity (default credential
chain); --source access-key stores an access key, encrypted: give its ID with
--access-key-id and its secret on standard input (never as a flag).

Provider azure vends a SAS for Azure Blob Storage: a container SAS for a whole container,
a directory SAS for a prefix on an account with hierarchical namespace
(--hierarchical-namespace). Azure cannot scope a SAS on a flat account tighter than its
container, so a prefix there is refused unless the key says --scope container (its SAS then
reach the whole container). --allowed lists the az://ACCOUNT/CONTAINER[/PREFIX] locations
of --account. --auth default uses the server's own Azure identity; --auth client-secret an
app registration of the org (--tenant-id, --client-id, the client secret on standard
input); --auth shared-key the account key (on standard input), the weakest option.
--blob-endpoint is the blob service URL of an emulator or a sovereign cloud (--endpoint
remains the tarn server's URL).

Provider gcs vends OAuth 2.0 access tokens for Google Cloud Storage: tarn impersonates the
service account --service-account (IAM Credentials generateAccessToken), then cuts the token
down with a Credential Access Boundary to the dataset's prefix and mode (Google STS).
--allowed lists the gs://BUCKET[/PREFIX] locations the key may vend for. --auth default
impersonates with the server's own Application Default Credentials, which need the role
Service Account Token Creator on the service account ("tarn provision gcp" prints the
grant); --auth service-account-key with a JSON key of a service account of the org, read
whole from standard input (--secret-stdin < key.json) and stored encrypted: the weakest
option, a long-lived key that only deleting it revokes. --kms-key names the bucket's Cloud
KMS key, if any. --iam-endpoint, --sts-endpoint and --storage-endpoint are the IAM
Credentials, Google STS and GCS JSON API base URLs of emulators and tests.`,
		Example: `  tarn creds add acme/local --provider file --root /srv/datasets
  tarn creds add acme/s3 --provider aws --role-arn arn:aws:iam::123456789012:role/tarn \
      --allowed s3://acme-ml/datasets
  tarn creds add acme/minio --provider aws --role-arn arn:minio:iam:::role/tarn \
      --allowed s3://datasets --sts-endpoint http://127.0.0.1:9000 --s3-endpoint http://127.0.0.1:9000 \
      --path-style --source access-key --access-key-id tarn-vendor --secret-stdin < secret.txt
  tarn creds add acme/az --provider azure --account acmeml --allowed az://acmeml/datasets \
      --hierarchical-namespace
  tarn creds add acme/azurite --provider azure --account devstoreaccount1 --allowed az://devstoreaccount1/data \
      --blob-endpoint http://127.0.0.1:10000/devstoreaccount1 --auth shared-key --secret-stdin < account-key.txt
  tarn creds add acme/gcs --provider gcs --service-account tarn-data@acme-ml.iam.gserviceaccount.com \
      --allowed gs://acme-ml/datasets
  tarn creds add acme/gcs-key --provider gcs --service-account tarn-data@acme-ml.iam.gserviceaccount.com \
      --allowed gs://acme-ml/datasets --auth service-account-key --secret-stdin < key.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			req := api.PutCredsKeyRequest{Provider: provider, Config: cfg}
			for _, r := range append(roots, allowed...) {
				l, err := parseStorage(r)
				if err != nil {
					return err
				}
				req.Config.Roots = append(req.Config.Roots, l.String())
			}
			switch {
			case secretStdin && provider == api.ProviderGCS:
				if req.Secret, err = a.readServiceAccountKey(cfg.Auth); err != nil {
					return err
				}
			case secretStdin:
				if req.Secret, err = a.readSecretLine(secretName(provider, cfg.Auth)); err != nil {
					return err
				}
			}
			k, err := fetch(a, fmt.Sprintf("add creds key %s/%s", org, key), func(c *client.Client) (*api.CredsKey, error) {
				return c.PutCredsKey(cmd.Context(), org, key, req)
			})
			if err != nil {
				return err
			}
			return a.show(k, func() error {
				fmt.Fprintf(a.stdout, "Saved creds key %s/%s (provider %s, version %d).\n", k.Org, k.Name, k.Provider, k.Version)
				switch {
				case k.Config.Source == api.SourceWebIdentity || k.Config.Auth == api.AuthFederated:
					cloud := k.Provider
					if cloud == api.ProviderGCS {
						cloud = "gcp" // tarn provision names the cloud
					}
					fmt.Fprintf(a.stdout, "No secret stored: the cloud must trust tarn's own tokens for %s (tarn provision %s %s/%s prints what to create).\n",
						issuer.Subject(org, key), cloud, org, key)
				case k.Config.ExternalID != "":
					fmt.Fprintf(a.stdout, "External ID: %s (put it in the role's trust policy: tarn provision aws %s/%s --bucket B)\n", k.Config.ExternalID, org, key)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "", "provider: file, aws, azure or gcs (required)")
	f.StringArrayVar(&roots, "root", nil, "provider file: a directory the key may vend (repeatable)")
	f.StringArrayVar(&allowed, "allowed", nil, "provider aws, azure or gcs: an s3://bucket[/prefix], az://ACCOUNT/CONTAINER[/prefix] or gs://bucket[/prefix] the key may vend for (repeatable)")
	f.StringVar(&cfg.RoleARN, "role-arn", "", "provider aws: the role to assume")
	f.StringVar(&cfg.Region, "region", "", "provider aws: region (default us-east-1)")
	f.StringVar(&cfg.KMSKeyARN, "kms-key-arn", "", "provider aws: the KMS key of the bucket, if any")
	f.StringVar(&cfg.STSEndpoint, "sts-endpoint", "", "provider aws: STS endpoint of an S3-compatible store; provider gcs: Google STS base URL (default https://sts.googleapis.com)")
	f.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "provider aws: S3 endpoint of an S3-compatible store")
	f.BoolVar(&cfg.PathStyle, "path-style", false, "provider aws: path-style bucket addressing")
	f.StringVar(&cfg.Source, "source", "", "provider aws: default (the server's AWS identity), access-key, or web-identity (a token of tarn's own OIDC issuer; needs tarn serve --public-url)")
	f.StringVar(&cfg.AccessKeyID, "access-key-id", "", "provider aws, --source access-key: the access key ID")
	f.Int64Var(&cfg.MaxDurationSeconds, "max-duration", 0, "provider aws: longest credential lifetime in seconds (default 3600)")
	f.StringVar(&cfg.Account, "account", "", "provider azure: the storage account")
	f.StringVar(&cfg.Endpoint, "blob-endpoint", "", "provider azure: the blob service URL (default https://ACCOUNT.blob.core.windows.net; --endpoint is the tarn server's)")
	f.StringVar(&cfg.Auth, "auth", "", "provider azure: default (the server's Azure identity), client-secret, federated (a token of tarn's own OIDC issuer) or shared-key; provider gcs: default (the server's ADC), federated or service-account-key")
	f.StringVar(&cfg.TenantID, "tenant-id", "", "provider azure, --auth client-secret or federated: the app registration's tenant")
	f.StringVar(&cfg.ClientID, "client-id", "", "provider azure, --auth client-secret or federated: the app registration's client ID")
	f.BoolVar(&cfg.HierarchicalNamespace, "hierarchical-namespace", false, "provider azure: the account has a hierarchical namespace (prefixes get a directory SAS)")
	f.StringVar(&cfg.Scope, "scope", "", "provider azure: directory (default) or container (a prefix on a flat account gets a container SAS)")
	f.StringVar(&cfg.ServiceAccount, "service-account", "", "provider gcs: email of the service account to impersonate")
	f.StringVar(&cfg.WorkloadIdentityProvider, "workload-identity-provider", "", "provider gcs, --auth federated: the pool provider that trusts tarn's issuer (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER)")
	f.StringVar(&cfg.KMSKey, "kms-key", "", "provider gcs: the bucket's Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K), if any")
	f.StringVar(&cfg.IAMEndpoint, "iam-endpoint", "", "provider gcs: IAM Credentials base URL (default https://iamcredentials.googleapis.com)")
	f.StringVar(&cfg.StorageEndpoint, "storage-endpoint", "", "provider gcs: GCS JSON API base URL, e.g. of fake-gcs-server (default https://storage.googleapis.com)")
	f.BoolVar(&secretStdin, "secret-stdin", false, "read the key's secret from standard input: one line (secret access key, client secret, account key), or for gcs the whole JSON key")
	cmd.MarkFlagRequired("provider")
	return cmd
}

// secretName names the secret a creds key of provider with auth mode auth takes.
func secretName(provider, auth string) string {
	switch {
	case provider != api.ProviderAzure:
		return "secret access key"
	case auth == api.AuthSharedKey:
		return "account key"
	}
	return "client secret"
}

// maxKeyFile bounds the service account JSON key read from standard input; Google's are
// about 2.3 KiB.
const maxKeyFile = 64 << 10

// readServiceAccountKey reads a gcs creds key's secret, a service account JSON key, whole
// from standard input and checks that it is one, without ever putting the key's text in an
// error. Only --auth service-account-key takes a secret.
func (a *app) readServiceAccountKey(auth string) (string, error) {
	if auth != api.AuthServiceAccountKey {
		return "", usagef("--secret-stdin: a gcs key takes a secret only with --auth service-account-key (the JSON key of a service account)")
	}
	if a.stdinTerminal {
		return "", usagef("--secret-stdin: redirect the service account's JSON key file to standard input (--secret-stdin < key.json)")
	}
	data, err := io.ReadAll(io.LimitReader(a.stdin, maxKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("read the service account key from stdin: %w", err)
	}
	if err := checkServiceAccountKey(data); err != nil {
		return "", usagef("--secret-stdin: %s", err)
	}
	return string(bytes.TrimSpace(data)), nil
}

// checkServiceAccountKey returns an error, holding nothing of data, unless data is a
// Google service account JSON key of at most maxKeyFile bytes.
func checkServiceAccountKey(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("no service account key on standard input (give the JSON key file: --secret-stdin < key.json)")
	}
	if len(data) > maxKeyFile {
		return fmt.Errorf("standard input holds more than %d KiB: not a service account JSON key", maxKeyFile>>10)
	}
	var key struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &key); err != nil {
		return errors.New("standard input is not a JSON key file: give the service account key that the console or gcloud iam service-accounts keys create saved")
	}
	if key.Type != "service_account" {
		return errors.New(`the JSON on standard input is no service account key (its "type" is not "service_account"): give a key of the service account, not user or workload identity federation credentials`)
	}
	if key.ClientEmail == "" || key.PrivateKey == "" {
		return errors.New("the service account key on standard input lacks client_email or private_key: give the whole JSON key file")
	}
	return nil
}

// readSecretLine reads one line from standard input, prompting without echo on a terminal.
func (a *app) readSecretLine(what string) (string, error) {
	if a.stdinTerminal && a.readSecret != nil {
		s, err := a.prompt(what + ": ")
		if err != nil {
			return "", fmt.Errorf("read %s: %w", what, err)
		}
		return s, nil
	}
	s, err := a.stdinLine(64 << 10)
	if err != nil {
		return "", fmt.Errorf("read %s from stdin: %w", what, err)
	}
	if s != "" {
		return s, nil
	}
	return "", usagef("--secret-stdin: no %s on standard input", what)
}

// prompt writes prompt to stderr and reads a line from the terminal without echo, trimmed
// of spaces.
func (a *app) prompt(prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	s, err := a.readSecret()
	fmt.Fprintln(a.stderr)
	return strings.TrimSpace(s), err
}

// stdinLine reads one line of at most limit bytes from standard input, trimmed of spaces.
// End of input ends the line.
func (a *app) stdinLine(limit int64) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(a.stdin, limit)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

func (a *app) credsRotateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-external-id ORG/KEY",
		Short: "Give a creds key a new external ID",
		Long: `Give the creds key a new server-generated external ID. AssumeRole calls send the new ID
at once, so update the role's trust policy (tarn provision aws prints it) right away.`,
		Example: "  tarn creds rotate-external-id acme/s3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			k, err := fetch(a, fmt.Sprintf("rotate external ID of %s/%s", org, key), func(c *client.Client) (*api.CredsKey, error) {
				return c.RotateExternalID(cmd.Context(), org, key)
			})
			if err != nil {
				return err
			}
			return a.showf(k, "New external ID of %s/%s: %s (version %d). Update the role's trust policy now.\n", org, key, k.Config.ExternalID, k.Version)
		},
	}
}

func (a *app) credsLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls ORG",
		Aliases: []string{"list"},
		Short:   "List an org's creds keys",
		Example: "  tarn creds ls acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			keys, err := fetch(a, fmt.Sprintf("list creds keys of org %s", org), func(c *client.Client) ([]api.CredsKey, error) {
				return c.CredsKeys(cmd.Context(), org)
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(keys), func() error {
				t := a.table("NAME", "PROVIDER", "VERSION", "UPDATED", "ROOTS")
				for _, k := range keys {
					t.row(k.Name, k.Provider, fmt.Sprint(k.Version), fmtTime(k.UpdatedAt), strings.Join(k.Config.Roots, ","))
				}
				return t.flush()
			})
		},
	}
}

func (a *app) credsShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ORG/KEY",
		Short:   "Show a creds key's provider and configuration (never its secrets)",
		Example: "  tarn creds show acme/local",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			k, err := fetch(a, fmt.Sprintf("show creds key %s/%s", org, key), func(c *client.Client) (*api.CredsKey, error) {
				return c.CredsKey(cmd.Context(), org, key)
			})
			if err != nil {
				return err
			}
			return a.show(k, func() error { return kv(a.stdout, credsKeyPairs(k)...) })
		},
	}
}

// credsKeyPairs returns the lines of "tarn creds show" as kv pairs; unset options are left out.
func credsKeyPairs(k *api.CredsKey) []string {
	pairs := []string{
		"org", k.Org,
		"name", k.Name,
		"provider", k.Provider,
		"version", fmt.Sprint(k.Version),
		"roots", strings.Join(k.Config.Roots, ", "),
	}
	cfg := k.Config
	for _, f := range [][2]string{
		{"role arn", cfg.RoleARN}, {"region", cfg.Region}, {"kms key arn", cfg.KMSKeyARN},
		{"sts endpoint", cfg.STSEndpoint}, {"s3 endpoint", cfg.S3Endpoint}, {"source", cfg.Source},
		{"access key id", cfg.AccessKeyID}, {"external id", cfg.ExternalID},
		{"account", cfg.Account}, {"blob endpoint", cfg.Endpoint}, {"auth", authNote(cfg.Auth)},
		{"tenant id", cfg.TenantID}, {"client id", cfg.ClientID}, {"scope", scopeNote(cfg.Scope)},
		{"service account", cfg.ServiceAccount}, {"iam endpoint", cfg.IAMEndpoint},
		{"storage endpoint", cfg.StorageEndpoint}, {"kms key", cfg.KMSKey},
		{"workload identity provider", cfg.WorkloadIdentityProvider},
	} {
		if f[1] != "" {
			pairs = append(pairs, f[0], f[1])
		}
	}
	if cfg.PathStyle {
		pairs = append(pairs, "path style", "yes")
	}
	if cfg.HierarchicalNamespace {
		pairs = append(pairs, "hierarchical namespace", "yes")
	}
	if cfg.MaxDurationSeconds > 0 {
		pairs = append(pairs, "max duration", fmt.Sprintf("%ds", cfg.MaxDurationSeconds))
	}
	return append(pairs, "created", fmtTime(k.CreatedAt), "updated", fmtTime(k.UpdatedAt))
}

// authNote returns an auth mode as creds show prints it: the modes that keep a long-lived
// secret of the org's cloud, Azure's shared-key and GCS's service-account-key, marked as
// the weakest option.
func authNote(auth string) string {
	switch auth {
	case api.AuthSharedKey:
		return auth + " (the weakest option: the account key reaches the whole account and only rotating it revokes it; prefer default or client-secret)"
	case api.AuthServiceAccountKey:
		return auth + " (the weakest option: a long-lived JSON key that only deleting it revokes; prefer default)"
	}
	return auth
}

// scopeNote returns an Azure SAS scope as creds show prints it: container marked as wider
// than the datasets below a container.
func scopeNote(scope string) string {
	if scope == api.ScopeContainer {
		return scope + " (a prefix gets a container SAS: wider than the dataset, it reaches the whole container)"
	}
	return scope
}

func (a *app) credsVerifyCmd() *cobra.Command {
	var loc string
	cmd := &cobra.Command{
		Use:   "verify ORG/KEY [--location L]",
		Short: "Check that a creds key works, and that its credentials stay in their prefix",
		Long: `Ask the server to check a creds key: that it can mint credentials, list and round-trip a
probe object in the location, and that a vended read credential is refused outside its
prefix and for writes. Each check prints on one line; the command fails (exit 1) if any
check fails. A check the endpoint cannot answer (an emulator that enforces no access
boundaries) prints as skipped: it is neither passed nor failed.

--location picks the location to check (a storage URL or a local directory); without it
the server checks the key's own configuration.`,
		Example: `  tarn creds verify acme/local
  tarn creds verify acme/local --location /srv/datasets/scratch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			where := ""
			if loc != "" {
				l, err := parseStorage(loc)
				if err != nil {
					return err
				}
				where = l.String()
			}
			what := fmt.Sprintf("verify creds key %s/%s", org, key)
			res, err := fetch(a, what, func(c *client.Client) (*api.VerifyResponse, error) {
				return c.VerifyCredsKey(cmd.Context(), org, key, where)
			})
			if err != nil {
				return err
			}
			res.Checks = nonNil(res.Checks)
			err = a.show(res, func() error {
				t := a.table("CHECK", "RESULT", "DETAIL")
				for _, ch := range res.Checks {
					result := "ok"
					switch {
					case ch.Skipped:
						result = "skipped"
					case !ch.OK:
						result = "FAILED"
					}
					t.row(ch.Name, result, ch.Detail)
				}
				return t.flush()
			})
			if err != nil {
				return err
			}
			failed := 0
			for _, ch := range res.Checks {
				if !ch.OK && !ch.Skipped {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%s: %d of %d checks failed", what, failed, len(res.Checks))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&loc, "location", "", "location to check: a storage URL or a local directory")
	return cmd
}

func (a *app) credsRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ORG/KEY",
		Aliases: []string{"remove"},
		Short:   "Delete a creds key",
		Example: "  tarn creds rm acme/old-bucket",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			err = a.call(fmt.Sprintf("delete creds key %s/%s", org, key), func(c *client.Client) error {
				return c.DeleteCredsKey(cmd.Context(), org, key)
			})
			if err != nil {
				return err
			}
			a.say("Deleted creds key %s/%s.\n", org, key)
			return nil
		},
	}
}
