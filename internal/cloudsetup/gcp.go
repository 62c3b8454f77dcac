package cloudsetup

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/provider/gcsdownscope"
)

// GCPInput is where a gcs key's setup applies. Project and Bucket are required; KMSKey is
// the bucket's Cloud KMS key, if any; Principal is who impersonates the service account, an
// IAM member or a bare email (taken as a service account), PrincipalPlaceholder in the
// commands when empty; ConsoleOrigin is the URL of the tarn console, for CORS. Issuer and
// Subject, required for a key of auth federated, are tarn's issuer URL and the key's
// subject (api.ProvisionResponse); the principal of such a key is its pool principal.
type GCPInput struct {
	Project, Bucket string
	KMSKey          string
	Principal       string
	ConsoleOrigin   string
	Issuer, Subject string
}

// GCPSetup is the gcloud commands that create a gcs creds key's service account, grant it
// the bucket (and its KMS key), let tarn's identity impersonate it, and set the CORS rule
// for the console; lines starting with # are comments.
type GCPSetup struct {
	ServiceAccount string `json:"service_account"`
	// Principal is who impersonates the service account, as an IAM member
	// (serviceAccount:EMAIL, user:EMAIL, principal://...); PrincipalPlaceholder when not given.
	Principal string          `json:"principal"`
	Commands  []string        `json:"commands"`
	CORS      json.RawMessage `json:"cors"`
}

// The names that go into the commands, as Google allows them; none holds a character that
// means anything to a shell.
var (
	gcpProject        = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	gcsBucket         = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)
	gcpServiceAccount = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}@[a-z0-9][a-z0-9.-]{0,99}\.gserviceaccount\.com$`)
	gcpKMSKey         = regexp.MustCompile(`^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]{1,63}/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$`)
	gcpMember         = regexp.MustCompile(`^((serviceAccount|user|group):[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}|principal(Set)?://[A-Za-z0-9._~%@:/-]{1,1000})$`)
	issuerURL         = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$`)
	tarnSubject       = regexp.MustCompile(`^org:[a-z0-9][a-z0-9_-]{0,62}:creds-key:[a-z0-9][a-z0-9_-]{0,62}$`)
)

// PrincipalPlaceholder stands for the principal that impersonates when none was given.
const PrincipalPlaceholder = "PRINCIPAL"

// GCP returns the commands that set up a gcs key of configuration cfg for in. A bad input
// is an Invalid error in the field of that input (project, bucket, kms_key, principal,
// console_origin); a bad service account of the key is one in no field. For a key of auth
// federated the pool, its OIDC provider and roles/iam.workloadIdentityUser for the key's
// pool principal replace the Token Creator grant (gcpFederation).
func GCP(cfg api.CredsKeyConfig, in GCPInput) (*GCPSetup, error) {
	sa, project, bucket, kmsKey, principal := cfg.ServiceAccount, in.Project, in.Bucket, in.KMSKey, in.Principal
	if sa == "" {
		return nil, errs.E(errs.Invalid, "the creds key names no service account: add it again with --service-account EMAIL")
	}
	if principal != "" && !strings.Contains(principal, ":") {
		principal = "serviceAccount:" + principal
	}
	err := checkNames(
		nameRule{"project", "project", project, gcpProject, "a valid Google Cloud project ID (6 to 30 lowercase letters, digits and '-', starting with a letter)", false},
		nameRule{"bucket", "bucket", bucket, gcsBucket, "a valid bucket name (3 to 222 lowercase letters, digits, '-', '_' and '.')", false},
		nameRule{"service account", "", sa, gcpServiceAccount, "a valid service account email (NAME@PROJECT.iam.gserviceaccount.com)", false},
		nameRule{"KMS key", "kms_key", kmsKey, gcpKMSKey, "a valid Cloud KMS key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)", true},
		nameRule{"principal", "principal", principal, gcpMember, "a valid IAM member (serviceAccount:EMAIL, user:EMAIL, group:EMAIL or principal://...)", true},
	)
	if err != nil {
		return nil, err
	}
	origin, err := consoleOrigin(in.ConsoleOrigin)
	if err != nil {
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
	if cfg.Auth == api.AuthFederated {
		fed, member, err := gcpFederation(cfg, in)
		if err != nil {
			return nil, err
		}
		c, principal = append(c, fed...), member
	}
	switch {
	case cfg.Auth == api.AuthFederated: // its principal is the pool principal
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
		principal = PrincipalPlaceholder
	}
	if cfg.Auth != api.AuthFederated {
		c = append(c, "# Impersonation: "+principal+" may mint tokens for the service account:",
			fmt.Sprintf("gcloud iam service-accounts add-iam-policy-binding %s --member=%s --role=roles/iam.serviceAccountTokenCreator", sa, ShellQuote(principal)))
	}
	c = append(c, "# CORS, so that the tarn console at "+origin+" can read the bucket from the browser",
		"# (this replaces the bucket's CORS configuration: merge it into an existing one):",
		"cat > cors.json <<'EOF'", string(cors), "EOF",
		fmt.Sprintf("gcloud storage buckets update gs://%s --cors-file=cors.json", bucket))
	return &GCPSetup{ServiceAccount: sa, Principal: principal, Commands: c, CORS: cors}, nil
}

// gcpFederation returns the commands that make Google trust tarn's issuer for the subject
// of a key of auth federated, and its pool principal impersonate the key's service account:
// the workload identity pool, its OIDC provider (google.subject=assertion.sub, an attribute
// condition on the key's subject) and roles/iam.workloadIdentityUser for that subject's
// principal only. A bad workload_identity_provider, issuer or subject is an Invalid error,
// and so is a principal other than the pool principal, which it returns.
func gcpFederation(cfg api.CredsKeyConfig, in GCPInput) ([]string, string, error) {
	p, ok := gcsdownscope.ParsePoolProvider(cfg.WorkloadIdentityProvider)
	if !ok {
		return nil, "", errs.E(errs.Invalid, "the creds key names no valid workload identity pool provider: add it again with --workload-identity-provider projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER")
	}
	if !issuerURL.MatchString(in.Issuer) || !tarnSubject.MatchString(in.Subject) {
		return nil, "", errs.E(errs.Invalid, "the tarn server named no OIDC issuer and subject for this key: start tarn serve with --public-url")
	}
	member := p.Principal(in.Subject)
	if in.Principal != "" && in.Principal != member {
		return nil, "", errs.E(errs.Invalid, "a key of auth %s is impersonated by its pool principal %s: leave out the principal", api.AuthFederated, member).In("principal")
	}
	return []string{
		"# Workload identity federation: Google trusts tarn's issuer " + in.Issuer + " for this creds key's subject",
		"# " + in.Subject + " only; no key or secret is stored anywhere. The pool (skip this if it exists):",
		fmt.Sprintf("gcloud iam workload-identity-pools create %s --project=%s --location=global", p.Pool, p.Project),
		"# Its OIDC provider: tarn's issuer, google.subject from the token's sub, and no other subject:",
		fmt.Sprintf(`gcloud iam workload-identity-pools providers create-oidc %s --project=%s --workload-identity-pool=%s --location=global --issuer-uri=%s --attribute-mapping=google.subject=assertion.sub --attribute-condition="assertion.sub=='%s'"`,
			p.Provider, p.Project, p.Pool, in.Issuer, in.Subject),
		"# Impersonation: the pool principal of exactly that subject may mint tokens for the service account:",
		fmt.Sprintf("gcloud iam service-accounts add-iam-policy-binding %s --member=%s --role=%s", cfg.ServiceAccount, member, gcsdownscope.RoleWorkloadIdentityUser),
		"# (tarn presign signs URLs with signBlob, which that role does not allow: for presigned URLs also grant",
		"# the same member roles/iam.serviceAccountTokenCreator on the service account.)",
	}, member, nil
}
