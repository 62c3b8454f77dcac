package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/cloudsetup"
	"github.com/tarnhq/tarn/internal/presign"
	"github.com/tarnhq/tarn/location"
)

func (a *app) vendCmd() *cobra.Command {
	var mode, format, org, key string
	cmd := &cobra.Command{
		Use:   "vend PATH [--mode read|write] [--format json|env|aws-process|sas-url|token]",
		Short: "Mint short-lived credentials for a dataset or a storage location",
		Long: `Mint temporary credentials limited to one location and one mode, and print them.

PATH is a dataset, al://ORG/NAME, or a storage location (a storage URL or a local
directory) that is not registered as a dataset: the latter needs --org and --creds-key, and
the creds key must allow the location.

--format json (the default) prints the credentials as JSON.

--format env prints shell export lines: TARN_FILE_PATH for provider file;
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and
AWS_DEFAULT_REGION, and AWS_ENDPOINT_URL_S3 for a store other than AWS, for S3;
AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_SAS_TOKEN and AZURE_STORAGE_BLOB_ENDPOINT for Azure;
CLOUDSDK_AUTH_ACCESS_TOKEN (gcloud) and GOOGLE_OAUTH_ACCESS_TOKEN for GCS, and for an
emulator STORAGE_EMULATOR_HOST (Google's client libraries, gcsfs) and
CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE (gcloud storage).

--format token prints only the GCS access token, for the tools that take a bearer token
and for gcloud's --access-token-file (write it to a file: gcloud reads the file more than
once, so a pipe such as <(tarn vend ...) gives it an empty token).

--format sas-url prints the container or directory URL of Azure credentials with their
SAS, for azcopy, rclone (sas_url) and Azure Storage Explorer.

--format aws-process prints S3 credentials in the JSON that the AWS CLI, the AWS SDKs and
the tools built on them read from a credential_process command in ~/.aws/config, with
their expiry, so that they run tarn vend again before the credentials expire:

  [profile coco]
  credential_process = tarn vend al://acme/coco --format aws-process`,
		Example: `  tarn vend al://acme/coco
  eval "$(tarn vend al://acme/coco --mode write --format env)"
  tarn vend al://acme/coco --format aws-process
  azcopy list "$(tarn vend al://acme/coco --format sas-url)"
  tarn vend al://acme/coco --format token > "$TOKEN_FILE"
  tarn vend /srv/datasets/raw --org acme --creds-key local`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := oneOf("mode", mode, api.ModeRead, api.ModeWrite); err != nil {
				return err
			}
			if err := oneOf("format", format, "json", "env", "aws-process", "sas-url", "token"); err != nil {
				return err
			}
			loc, err := location.FromLocal(args[0])
			if err != nil {
				return usagef("%s", err)
			}
			if loc.Scheme == location.AL {
				if loc.Path != "" {
					return usagef("%q is below a dataset: vend for the whole dataset, al://%s/%s", args[0], loc.Org, loc.Dataset)
				}
				if org != "" || key != "" {
					return usagef("--org and --creds-key are for storage paths; a dataset vends through its own creds key")
				}
			} else {
				if org == "" || key == "" {
					return usagef("vending for a storage path needs --org ORG and --creds-key KEY (or vend a dataset, al://ORG/NAME)")
				}
				if err := checkName("org", org); err != nil {
					return err
				}
				if err := checkName("creds key", key); err != nil {
					return err
				}
			}
			what := fmt.Sprintf("vend %s credentials for %s", mode, loc)
			cr, err := fetch(a, what, func(c *client.Client) (*api.Credentials, error) {
				if loc.Scheme == location.AL {
					return c.DatasetCredentials(cmd.Context(), loc.Org, loc.Dataset, mode)
				}
				return c.LocationCredentials(cmd.Context(), org, key, loc.String(), mode)
			})
			if err != nil {
				return err
			}
			var out string
			switch format {
			case "json":
				return a.printJSON(cr)
			case "env":
				out, err = envLines(cr)
			case "aws-process":
				out, err = awsProcess(cr)
			case "sas-url":
				out, err = sasURL(cr)
			case "token":
				out, err = accessToken(cr)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			_, err = fmt.Fprint(a.stdout, out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", api.ModeRead, "read or write")
	f.StringVar(&format, "format", "json", "output format: json, env, aws-process, sas-url or token")
	f.StringVar(&org, "org", "", "org whose creds key vends for a storage PATH")
	f.StringVar(&key, "creds-key", "", "creds key that vends for a storage PATH")
	return cmd
}

// envLines returns credentials as shell export lines.
func envLines(cr *api.Credentials) (string, error) {
	var b strings.Builder
	export := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "export %s=%s\n", name, cloudsetup.ShellQuote(value))
		}
	}
	switch {
	case cr.File != nil:
		export("TARN_FILE_PATH", cr.File.Path)
	case cr.S3 != nil:
		export("AWS_ACCESS_KEY_ID", cr.S3.AccessKeyID)
		export("AWS_SECRET_ACCESS_KEY", cr.S3.SecretAccessKey)
		export("AWS_SESSION_TOKEN", cr.S3.SessionToken)
		// The AWS CLI and the Go, Java and JavaScript SDKs read AWS_REGION; boto3 (and so
		// most Python tools) reads only AWS_DEFAULT_REGION.
		export("AWS_REGION", cr.S3.Region)
		export("AWS_DEFAULT_REGION", cr.S3.Region)
		export("AWS_ENDPOINT_URL_S3", cr.S3.Endpoint)
		if cr.S3.PathStyle {
			// No environment variable sets the addressing style for the AWS CLI or boto3
			// (botocore never merged AWS_S3_ADDRESSING_STYLE); with a custom endpoint they
			// address buckets by path by default.
			b.WriteString("# path-style addressing (ENDPOINT/BUCKET/KEY): AWS CLI and boto3 use it with AWS_ENDPOINT_URL_S3;\n" +
				"# elsewhere set s3 addressing_style = path (~/.aws/config), URL_STYLE 'path' (DuckDB), force_path_style = true (rclone)\n")
		}
	case cr.Azure != nil:
		export("AZURE_STORAGE_ACCOUNT", cr.Azure.Account)
		export("AZURE_STORAGE_SAS_TOKEN", cr.Azure.SASToken)
		export("AZURE_STORAGE_BLOB_ENDPOINT", cr.Azure.Endpoint)
	case cr.GCS != nil:
		// gcloud (371.0.0 and later) reads CLOUDSDK_AUTH_ACCESS_TOKEN; Terraform's google
		// provider and other tools read GOOGLE_OAUTH_ACCESS_TOKEN.
		export("CLOUDSDK_AUTH_ACCESS_TOKEN", cr.GCS.AccessToken)
		export("GOOGLE_OAUTH_ACCESS_TOKEN", cr.GCS.AccessToken)
		if ep := strings.TrimSuffix(cr.GCS.Endpoint, "/"); ep != "" {
			// An emulator: Google's client libraries and gcsfs read its base URL from
			// STORAGE_EMULATOR_HOST, gcloud storage its JSON API URL from the override.
			export("STORAGE_EMULATOR_HOST", ep)
			export("CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE", ep+"/storage/v1/")
		}
	default:
		return "", fmt.Errorf("--format env does not support credentials of provider %q yet; use --format json", cr.Provider)
	}
	return b.String(), nil
}

// awsProcessOutput is what an AWS credential_process command prints (Version 1).
type awsProcessOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
	// Expiration is RFC 3339; without it, tools take the credentials as never expiring and
	// never run the command again.
	Expiration string `json:"Expiration,omitempty"`
}

// awsProcess returns S3 credentials as AWS credential_process JSON, one line.
func awsProcess(cr *api.Credentials) (string, error) {
	if cr.S3 == nil {
		return "", fmt.Errorf("--format aws-process is for S3 credentials; these are of provider %q: use --format json or env", cr.Provider)
	}
	out := awsProcessOutput{
		Version:         1,
		AccessKeyID:     cr.S3.AccessKeyID,
		SecretAccessKey: cr.S3.SecretAccessKey,
		SessionToken:    cr.S3.SessionToken,
	}
	if !cr.ExpiresAt.IsZero() {
		out.Expiration = cr.ExpiresAt.UTC().Format(time.RFC3339)
	}
	data, err := json.Marshal(out)
	if err != nil {
		return "", err
	}
	return string(data) + "\n", nil
}

// sasURL returns Azure credentials as the URL of their container or directory with the SAS,
// one line.
func sasURL(cr *api.Credentials) (string, error) {
	az := cr.Azure
	if az == nil {
		return "", fmt.Errorf("--format sas-url is for Azure credentials; these are of provider %q: use --format json or env", cr.Provider)
	}
	return presign.BlobURL(az, "") + "\n", nil
}

// accessToken returns the access token of GCS credentials, one line.
func accessToken(cr *api.Credentials) (string, error) {
	if cr.GCS == nil {
		return "", fmt.Errorf("--format token is for GCS credentials; these are of provider %q: use --format json or env", cr.Provider)
	}
	return cr.GCS.AccessToken + "\n", nil
}
