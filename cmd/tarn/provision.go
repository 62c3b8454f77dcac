package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/issuer"
)

func (a *app) provisionCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "provision",
		Short: "Print the cloud-side setup a creds key needs",
	})
	cmd.AddCommand(a.provisionAWSCmd(), a.provisionAzureCmd(), a.provisionGCPCmd())
	return cmd
}

func (a *app) provisionAWSCmd() *cobra.Command {
	var req api.ProvisionRequest
	cmd := &cobra.Command{
		Use:   "aws ORG/KEY --bucket B [--prefix P] [--kms-key-arn A] [--principal-arn ARN]",
		Short: "Print the IAM permission policy and trust policy of an aws creds key's role",
		Long: `Print, ready to paste, the IAM permission policy the creds key's role needs on the bucket
(prefix) and the trust policy that lets tarn assume it: the principal is the tarn server's
own AWS identity (or --principal-arn) and the condition requires the key's external ID, so
nobody else can make the role act for them (confused deputy).

It also prints a bucket lifecycle rule that aborts multipart uploads left incomplete for
7 days: a client killed during an upload leaves parts that cost storage, which no listing
shows and which tarn's vended credentials cannot list. Apply it with the AWS CLI v2 command
it prints (that command replaces the bucket's whole lifecycle configuration: merge the rule
into an existing one).

On an S3-compatible store such as MinIO, which has no sts:GetCallerIdentity, give
--principal-arn (any ARN: such stores have no trust policies; attach the permission policy to
the store's user).

For a key with --source web-identity no secret is stored: it prints the IAM OpenID Connect
provider to create for tarn's issuer and a trust policy that lets only tarn's tokens for that
creds key (audience sts.amazonaws.com, subject org:ORG:creds-key:KEY) assume the role; on
MinIO, the OpenID settings that trust tarn and a role policy pinned to that subject.`,
		Example: `  tarn provision aws acme/s3 --bucket acme-ml --prefix datasets
  tarn provision aws acme/s3 --bucket acme-ml --principal-arn arn:aws:iam::123456789012:role/tarn-server`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			out, err := fetch(a, fmt.Sprintf("provision %s/%s", org, key), func(c *client.Client) (*api.ProvisionResponse, error) {
				return c.Provision(cmd.Context(), org, key, req)
			})
			if err != nil {
				return err
			}
			return a.show(out, func() error {
				switch p := out.OIDCProvider; {
				case p != nil && p.ARN == "":
					a.printMinIOWebIdentity(org, key, p, out)
				case p != nil:
					fmt.Fprintf(a.stdout, "# OpenID Connect provider: tarn's issuer, which IAM trusts instead of a stored key. Create it once per AWS account:\n"+
						"#   aws iam create-open-id-connect-provider --url %s --client-id-list %s\n\n", p.URL, p.Audience)
					fmt.Fprintf(a.stdout, "# Permission policy: attach to the role.\n%s\n\n", indentJSON(out.PermissionPolicy))
					fmt.Fprintf(a.stdout, "# Trust policy: lets only tarn's tokens for %s (audience %s) assume the role.\n%s\n\n", p.Subject, p.Audience, indentJSON(out.TrustPolicy))
				default:
					fmt.Fprintf(a.stdout, "# Permission policy: attach to the role.\n%s\n\n", indentJSON(out.PermissionPolicy))
					fmt.Fprintf(a.stdout, "# Trust policy: lets %s assume the role with external ID %s.\n%s\n\n", out.PrincipalARN, out.ExternalID, indentJSON(out.TrustPolicy))
				}
				fmt.Fprintf(a.stdout, "# Lifecycle rule: aborts multipart uploads left incomplete by killed clients after %d days.\n"+
					"# Save it as lifecycle.json and apply it with AWS CLI v2 (this replaces the bucket's lifecycle configuration):\n"+
					"#   aws s3api put-bucket-lifecycle-configuration --bucket %s --lifecycle-configuration file://lifecycle.json\n%s\n",
					abortDays, req.Bucket, lifecycleRule(req.Prefix))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Bucket, "bucket", "", "the bucket (required)")
	f.StringVar(&req.Prefix, "prefix", "", "limit the role to this prefix of the bucket")
	f.StringVar(&req.KMSKeyARN, "kms-key-arn", "", "the bucket's KMS key, if any")
	f.StringVar(&req.PrincipalARN, "principal-arn", "", "who assumes the role (default: the tarn server's AWS identity)")
	cmd.MarkFlagRequired("bucket")
	return cmd
}

// printMinIOWebIdentity prints the setup of a web-identity key on an S3-compatible store
// (MinIO): the OpenID configuration that trusts tarn's issuer and the role policy, pinned to
// the key's subject, that every web identity session gets.
func (a *app) printMinIOWebIdentity(org, key string, p *api.OIDCProvider, out *api.ProvisionResponse) {
	policy := "tarn-" + org + "-" + key
	fmt.Fprintf(a.stdout, "# MinIO: trust tarn's issuer. Start tarn first (MinIO fetches its discovery at startup), then MinIO with:\n"+
		"#   MINIO_IDENTITY_OPENID_CONFIG_URL=%s%s\n"+
		"#   MINIO_IDENTITY_OPENID_CLIENT_ID=%s\n"+
		"#   MINIO_IDENTITY_OPENID_CLIENT_SECRET=$(openssl rand -hex 32)   # required: without one MinIO accepts tokens anyone can sign\n"+
		"#   MINIO_IDENTITY_OPENID_ROLE_POLICY=%s\n"+
		"# and give the creds key (--role-arn) the role MinIO logs at startup after \"IAM Roles:\"\n"+
		"# (arn:minio:iam:::role/oxnUw3DAuQF1uggjXGxI2AmW8IA when MinIO has no region set).\n\n",
		strings.TrimSuffix(p.URL, "/"), issuer.DiscoveryPath, p.Audience, policy)
	fmt.Fprintf(a.stdout, "# Role policy: allows only tokens for %s. Save it as role-policy.json and create it:\n"+
		"#   mc admin policy create ALIAS %s role-policy.json\n%s\n\n", p.Subject, policy, indentJSON(out.PermissionPolicy))
}

// abortDays is how long an incomplete multipart upload may stay before the lifecycle rule
// that provision prints aborts it.
const abortDays = 7

// lifecycleRule returns a bucket lifecycle configuration, for the AWS CLI's
// put-bucket-lifecycle-configuration, that aborts the multipart uploads below prefix (the
// whole bucket when empty) abortDays after they began.
func lifecycleRule(prefix string) string {
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	rule := map[string]any{"Rules": []map[string]any{{
		"ID":                             "tarn-abort-incomplete-multipart-uploads",
		"Status":                         "Enabled",
		"Filter":                         map[string]string{"Prefix": prefix},
		"AbortIncompleteMultipartUpload": map[string]int{"DaysAfterInitiation": abortDays},
	}}}
	b, _ := json.MarshalIndent(rule, "", "  ")
	return string(b)
}

func indentJSON(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// provisionTarget fetches the creds key ORG/KEY named by arg, which must be of provider,
// and returns it with the console origin: origin, or the tarn server's URL when empty.
func (a *app) provisionTarget(cmd *cobra.Command, arg, provider, origin string) (*api.CredsKey, string, error) {
	org, name, err := parseOrgKey(arg)
	if err != nil {
		return nil, "", err
	}
	key, err := fetch(a, fmt.Sprintf("provision %s/%s", org, name), func(c *client.Client) (*api.CredsKey, error) {
		return c.CredsKey(cmd.Context(), org, name)
	})
	if err != nil {
		return nil, "", err
	}
	if key.Provider != provider {
		return nil, "", fmt.Errorf("creds key %s/%s is of provider %s, not %s", org, name, key.Provider, provider)
	}
	if origin == "" {
		s, err := a.resolve()
		if err != nil {
			return nil, "", err
		}
		origin = s.endpoint
	}
	return key, origin, nil
}

// showCommands prints setup, as JSON with --output json, else its commands, one a line.
func (a *app) showCommands(setup any, commands []string) error {
	return a.show(setup, func() error {
		_, err := fmt.Fprintln(a.stdout, strings.Join(commands, "\n"))
		return err
	})
}
