package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

// gcpSetup is what tarn provision gcp prints: the gcloud commands that create a gcs creds
// key's service account, grant it the bucket (and its KMS key), let tarn's identity
// impersonate it, and set the CORS rule for the console.
type gcpSetup struct {
	ServiceAccount string `json:"service_account"`
	// Principal is who impersonates the service account, as an IAM member
	// (serviceAccount:EMAIL, user:EMAIL, principal://...); PRINCIPAL when not given.
	Principal string          `json:"principal"`
	Commands  []string        `json:"commands"`
	CORS      json.RawMessage `json:"cors"`
}

func (a *app) provisionGCPCmd() *cobra.Command {
	var project, bucket, kmsKey, principal, origin string
	cmd := &cobra.Command{
		Use:   "gcp ORG/KEY --project P --bucket B [--kms-key K] [--principal PRINCIPAL] [--console-origin URL]",
		Short: "Print the gcloud commands that set up a gcs creds key's service account",
		Long: `Print, ready to run with gcloud (logged in as an owner of project P and of the bucket), the
setup a creds key of provider gcs needs:

  the service account of the key (--service-account), created if it is in project P;
  roles/storage.objectAdmin for it on the bucket: a vended token is cut down from what
                                 the service account may do;
  roles/cloudkms.cryptoKeyEncrypterDecrypter for it on the bucket's Cloud KMS key
                                 (--kms-key, default the key's), and the Cloud Storage
                                 service agent of project P authorized on the key (CMEK);
  roles/iam.serviceAccountTokenCreator on the service account for the principal that
                                 impersonates it.

The principal is the tarn server's own Google identity (its Application Default
Credentials) for --auth default, or the service account whose JSON key the creds key
holds for --auth service-account-key (that key's client_email; no server principal then).
Without --principal the tarn server tells it: the service account of its ADC (the
client_email of GOOGLE_APPLICATION_CREDENTIALS' key, the target of impersonated
credentials, the metadata server's account on GCE, GKE or Cloud Run), or the client_email
of the key's JSON key. Where the server cannot tell (a gcloud user login, workload
identity federation) the command prints the placeholder PRINCIPAL and says what it
stands for. Give --principal as an IAM member (serviceAccount:EMAIL, user:EMAIL,
principal://...; a bare email is taken as a service account); it wins over the server's.

It also prints the CORS rule a browser needs to read the bucket directly (the tarn
console): GET and HEAD from the console's origin, any response header, and the gcloud
command that sets it. The origin defaults to the tarn server the CLI talks to.`,
		Example: `  tarn provision gcp acme/gcs --project acme-ml --bucket acme-ml-data \
      --principal serviceAccount:tarn-server@tarn-prod.iam.gserviceaccount.com
  tarn provision gcp acme/gcs --project acme-ml --bucket acme-ml-data \
      --kms-key projects/acme-ml/locations/europe-west4/keyRings/data/cryptoKeys/datasets`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, origin, err := a.provisionTarget(cmd, args[0], api.ProviderGCS, origin)
			if err != nil {
				return err
			}
			if kmsKey == "" {
				kmsKey = key.Config.KMSKey
			}
			if principal == "" {
				out, err := fetch(a, "provision "+args[0], func(c *client.Client) (*api.ProvisionResponse, error) {
					return c.Provision(cmd.Context(), key.Org, key.Name, api.ProvisionRequest{Bucket: bucket})
				})
				if err != nil {
					return err
				}
				principal = out.PrincipalARN
			}
			setup, err := gcpProvision(key.Config, project, bucket, kmsKey, principal, origin)
			if err != nil {
				return err
			}
			return a.showCommands(setup, setup.Commands)
		},
	}
	f := cmd.Flags()
	f.StringVar(&project, "project", "", "the project of the bucket and, usually, of the service account (required)")
	f.StringVar(&bucket, "bucket", "", "the bucket the key's datasets are in (required)")
	f.StringVar(&kmsKey, "kms-key", "", "the bucket's Cloud KMS key, projects/P/locations/L/keyRings/R/cryptoKeys/K (default: the key's)")
	f.StringVar(&principal, "principal", "", "who impersonates the service account, an IAM member (default: found from the server's ADC, or the key's client_email)")
	f.StringVar(&origin, "console-origin", "", "origin of the tarn console, for CORS (default: the tarn server's URL)")
	cmd.MarkFlagRequired("project")
	cmd.MarkFlagRequired("bucket")
	return cmd
}

// The names that go into the commands provision gcp prints, as Google allows them; none
// holds a character that means anything to a shell.
var (
	gcpProject        = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	gcsBucket         = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)
	gcpServiceAccount = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\.gserviceaccount\.com$`)
	gcpKMSKey         = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]{1,63}/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$`)
	gcpMember         = regexp.MustCompile(`^((serviceAccount|user|group):[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}|principal(Set)?://[A-Za-z0-9._~%@:/-]{1,1000})$`)
)

// principalPlaceholder stands for the principal that impersonates when none was given.
const principalPlaceholder = "PRINCIPAL"

// gcpProvision returns the commands that set up a gcs key of configuration cfg on bucket
// of project, with the Cloud KMS key kmsKey if not empty, for principal (an IAM member or
// a bare email; the placeholder when empty) and a console at origin.
func gcpProvision(cfg api.CredsKeyConfig, project, bucket, kmsKey, principal, origin string) (*gcpSetup, error) {
	sa := cfg.ServiceAccount
	if sa == "" {
		return nil, fmt.Errorf("the creds key names no service account: add it again with --service-account EMAIL")
	}
	if principal != "" && !strings.Contains(principal, ":") {
		principal = "serviceAccount:" + principal
	}
	err := checkNames(
		nameRule{"project", project, gcpProject, "a valid Google Cloud project ID (6 to 30 lowercase letters, digits and '-', starting with a letter)", false},
		nameRule{"bucket", bucket, gcsBucket, "a valid bucket name (3 to 222 lowercase letters, digits, '-', '_' and '.')", false},
		nameRule{"service account", sa, gcpServiceAccount, "a valid service account email (NAME@PROJECT.iam.gserviceaccount.com)", false},
		nameRule{"KMS key", kmsKey, gcpKMSKey, "a valid Cloud KMS key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)", true},
		nameRule{"principal", principal, gcpMember, "a valid IAM member (serviceAccount:EMAIL, user:EMAIL, group:EMAIL or principal://...)", true},
	)
	if err != nil {
		return nil, err
	}
	if origin, err = consoleOrigin(origin); err != nil {
		return nil, err
	}
	cors, _ := json.MarshalIndent([]map[string]any{{
		"origin":         []string{origin},
		"method":         []string{"GET", "HEAD"},
		"responseHeader": []string{"*"},
		"maxAgeSeconds":  3600,
	}}, "", "  ")
	member := "serviceAccount:" + sa
	var c []string
	if name, ok := strings.CutSuffix(sa, "@"+project+".iam.gserviceaccount.com"); ok {
		c = append(c, "# The service account the key impersonates (skip this if it exists):",
			fmt.Sprintf("gcloud iam service-accounts create %s --project=%s --display-name='tarn datasets'", name, project))
	} else {
		c = append(c, "# The service account "+sa+" is not in project "+project+": create it in its own project if it does not exist.")
	}
	c = append(c, "# What vended tokens are cut down from: objects of the bucket, read and write:",
		fmt.Sprintf("gcloud storage buckets add-iam-policy-binding gs://%s --member=%s --role=roles/storage.objectAdmin", bucket, member))
	if kmsKey != "" {
		c = append(c, "# The bucket's Cloud KMS key: the service account encrypts and decrypts with it,",
			fmt.Sprintf("gcloud kms keys add-iam-policy-binding %s --member=%s --role=roles/cloudkms.cryptoKeyEncrypterDecrypter", kmsKey, member),
			"# and so does Cloud Storage's own service agent of the project, which does the work for CMEK:",
			fmt.Sprintf("gcloud storage service-agent --project=%s --authorize-cmek=%s", project, kmsKey))
	}
	switch {
	case cfg.Auth == api.AuthServiceAccountKey:
		c = append(c, "# This key impersonates with the JSON key it holds (--auth service-account-key): there is no server",
			"# principal to grant. The key's own service account (client_email in the JSON key) needs the role")
		if principal == "" {
			c = append(c, "# (give it as --principal serviceAccount:EMAIL, or replace PRINCIPAL), also when it is "+sa+" itself:")
		} else {
			c = append(c, "# (also when it is "+sa+" itself):")
		}
	case principal == "":
		c = append(c, "# PRINCIPAL: the tarn server's Google identity (its Application Default Credentials), which is no",
			"# service account the server can name: user:EMAIL for gcloud auth application-default login, or",
			"# principal://... for workload identity federation; give it with --principal.")
	}
	if principal == "" {
		principal = principalPlaceholder
	}
	c = append(c, "# Impersonation: "+principal+" may mint tokens for the service account:",
		fmt.Sprintf("gcloud iam service-accounts add-iam-policy-binding %s --member=%s --role=roles/iam.serviceAccountTokenCreator", sa, shellQuote(principal)),
		"# CORS, so that the tarn console at "+origin+" can read the bucket from the browser",
		"# (this replaces the bucket's CORS configuration: merge it into an existing one):",
		"cat > cors.json <<'EOF'", string(cors), "EOF",
		fmt.Sprintf("gcloud storage buckets update gs://%s --cors-file=cors.json", bucket))
	return &gcpSetup{ServiceAccount: sa, Principal: principal, Commands: c, CORS: cors}, nil
}
