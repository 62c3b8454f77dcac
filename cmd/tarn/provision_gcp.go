package main

import (
	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/cloudsetup"
)

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
                                 impersonates it;
  for --auth federated instead: the workload identity pool and OIDC provider of
                                 --workload-identity-provider, trusting tarn's issuer
                                 (tarn serve --public-url) for the key's subject
                                 org:ORG:creds-key:KEY only, and
                                 roles/iam.workloadIdentityUser on the service account for
                                 that subject's pool principal (no secret is stored).

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
			var issuerURL, subject string
			if principal == "" || key.Config.Auth == api.AuthFederated {
				out, err := fetch(a, "provision "+args[0], func(c *client.Client) (*api.ProvisionResponse, error) {
					return c.Provision(cmd.Context(), key.Org, key.Name, api.ProvisionRequest{Bucket: bucket})
				})
				if err != nil {
					return err
				}
				if principal == "" {
					principal = out.PrincipalARN
				}
				if p := out.OIDCProvider; p != nil {
					issuerURL, subject = p.URL, p.Subject
				}
			}
			setup, err := cloudsetup.GCP(key.Config, cloudsetup.GCPInput{Project: project, Bucket: bucket, KMSKey: kmsKey,
				Principal: principal, ConsoleOrigin: origin, Issuer: issuerURL, Subject: subject})
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
