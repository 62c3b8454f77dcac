package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"google.golang.org/api/option"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/cors"
	"github.com/tarnhq/tarn/location"
)

func (a *app) corsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "cors",
		Short: "Show, set and check the CORS rules that let the console's viewer read a bucket",
		Long: `The console's dataset viewer reads a dataset's files straight from its bucket, with
ranged GETs on presigned URLs, so the bucket must allow the console's origin.

"tarn cors show" and "tarn cors set" act on a storage location with your own cloud
credentials, as a platform engineer sets the bucket up (tarn's vending roles need no
bucket-administration rights):
  s3://BUCKET    the AWS SDK's default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...); needs
                 s3:GetBucketCORS and s3:PutBucketCORS. --store-endpoint for S3-compatible
                 stores (path style).
  az://ACCOUNT/CONTAINER
                 AZURE_STORAGE_CONNECTION_STRING, else DefaultAzureCredential; CORS rules
                 are the whole account's blob service's, not the container's.
  gs://BUCKET    Application Default Credentials; needs storage.buckets.get and update.
                 --store-endpoint for an emulator (no credentials sent).
"tarn cors check" takes a dataset and needs only read access to it.`,
	})
	cmd.AddCommand(a.corsShowCmd(), a.corsSetCmd(), a.corsCheckCmd())
	return cmd
}

// storeFlags are the flags that say how to reach a store's CORS configuration.
type storeFlags struct{ endpoint, region string }

func (f *storeFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.endpoint, "store-endpoint", "", "URL of an S3-compatible store or a GCS emulator (default: the cloud's own)")
	cmd.Flags().StringVar(&f.region, "region", "", "S3 region (default: $AWS_REGION, the AWS config, us-east-1)")
}

func (a *app) corsShowCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "show LOCATION",
		Short: "Print the CORS rules of a bucket (Azure: of the account)",
		Long: `Print the CORS rules of the bucket of LOCATION (s3://BUCKET, gs://BUCKET), or of the
blob service of an Azure account (az://ACCOUNT/CONTAINER), in the order the store applies
them, with your own cloud credentials (see "tarn cors --help").

With --output json it prints a list of {allowed_origins, allowed_methods,
allowed_headers, expose_headers, max_age_seconds}.`,
		Example: `  tarn cors show s3://acme-ml
  tarn cors show az://acmeml/datasets -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, store, err := a.corsStore(cmd.Context(), args[0], sf)
			if err != nil {
				return err
			}
			rules, err := store.Rules(cmd.Context())
			if err != nil {
				return err
			}
			return a.show(nonNil(rules), func() error {
				if len(rules) == 0 {
					fmt.Fprintf(a.stdout, "%s has no CORS rules.\n", corsScope(loc))
				}
				for _, r := range rules {
					fmt.Fprintln(a.stdout, r)
				}
				return nil
			})
		},
	}
	sf.add(cmd)
	return cmd
}

func (a *app) corsSetCmd() *cobra.Command {
	var sf storeFlags
	var origins []string
	cmd := &cobra.Command{
		Use:   "set LOCATION --origin URL [--origin URL2]",
		Short: "Allow origins to read a bucket with ranged GETs (Azure: the account)",
		Long: `Add to the CORS rules of LOCATION's bucket (Azure: of the account's blob service) the rule
the console's viewer needs for the given origins: GET and HEAD, the Range header, ETag,
Content-Range, Content-Length and Accept-Ranges exposed, cached for an hour. The rule goes
first; other rules stay, except an older rule of this kind for the same origins, which it
replaces. Uses your own cloud credentials (see "tarn cors --help").

MinIO has no per-bucket CORS rules, only a server-wide setting: there, set says what to
configure instead and fails.`,
		Example: `  tarn cors set s3://acme-ml --origin https://tarn.acme.com
  tarn cors set az://acmeml/datasets --origin https://tarn.acme.com --origin http://localhost:7777`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []string
			for _, o := range origins {
				o, err := cors.ParseOrigin(o)
				if err != nil {
					return usagef("--origin: %s", err)
				}
				list = append(list, o)
			}
			loc, store, err := a.corsStore(cmd.Context(), args[0], sf)
			if err != nil {
				return err
			}
			rules, err := cors.Set(cmd.Context(), store, cors.NewRule(list...))
			if errors.Is(err, cors.ErrServerWide) {
				return fmt.Errorf("%s has no per-bucket CORS rules (MinIO): allow the origin server-wide with `mc admin config set ALIAS api cors_allow_origin=%s` or MINIO_API_CORS_ALLOW_ORIGIN=%s, then check with tarn cors check",
					loc, strings.Join(list, ","), strings.Join(list, ","))
			}
			if err != nil {
				return err
			}
			return a.showf(rules, "%s now lets %s read with ranged GETs.\n", corsScope(loc), strings.Join(list, ", "))
		},
	}
	sf.add(cmd)
	cmd.Flags().StringArrayVar(&origins, "origin", nil, "origin to allow, scheme://host[:port] (required; repeatable)")
	cmd.MarkFlagRequired("origin")
	return cmd
}

// corsCheckOutput is the JSON answer of tarn cors check.
type corsCheckOutput struct {
	cors.Report
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

func (a *app) corsCheckCmd() *cobra.Command {
	var origin string
	cmd := &cobra.Command{
		Use:   "check al://ORG/NAME --origin URL",
		Short: "Check that a browser at an origin can read a dataset from its store",
		Long: `Send what a browser at --origin sends to read the dataset al://ORG/NAME: a CORS preflight
and a ranged GET, to a presigned URL of the dataset's tarn.json. Print each check, and
when one fails, the rule to add. Needs only read access to the dataset. Exits 1 when a
check fails.

With --output json it prints {origin, object, checks: [{name, ok, detail}], ok, problem}.`,
		Example: `  tarn cors check al://acme/coco --origin https://tarn.acme.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := cors.ParseOrigin(origin)
			if err != nil {
				return usagef("--origin: %s", err)
			}
			loc, err := location.Parse(args[0])
			if err != nil {
				return usagef("%s", err)
			}
			if loc.Scheme != location.AL || loc.Path != "" {
				return usagef("%q is not a dataset: give al://ORG/NAME", args[0])
			}
			const key = "tarn.json"
			out, err := fetch(a, fmt.Sprintf("presign %s", loc), func(c *client.Client) (*api.PresignResponse, error) {
				return c.PresignDataset(cmd.Context(), loc.Org, loc.Dataset, []string{key}, 5*time.Minute)
			})
			if err != nil {
				return err
			}
			rep := cors.Check(cmd.Context(), &http.Client{Timeout: 30 * time.Second}, out.URLs[key], o)
			res := corsCheckOutput{Report: rep, OK: rep.OK(), Problem: rep.Problem()}
			if err := a.show(res, func() error {
				t := a.table("CHECK", "OK", "DETAIL")
				for _, c := range rep.Checks {
					t.row(c.Name, map[bool]string{true: "ok", false: "FAILED"}[c.OK], c.Detail)
				}
				return t.flush()
			}); err != nil {
				return err
			}
			if !rep.OK() {
				return errors.New(rep.Problem())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "origin of the page that reads the dataset, scheme://host[:port] (required)")
	cmd.MarkFlagRequired("origin")
	return cmd
}

// corsScope names what a location's CORS rules belong to.
func corsScope(loc location.Location) string {
	if loc.Scheme == location.AZ {
		return fmt.Sprintf("The blob service of Azure account %s (all its containers)", loc.Account)
	}
	return loc.Root().String()
}

// corsStore parses a storage location and returns the CORS configuration of its bucket
// (Azure: account), reached with the caller's own credentials.
func (a *app) corsStore(ctx context.Context, arg string, f storeFlags) (location.Location, cors.Store, error) {
	loc, err := location.ParseStorage(arg)
	if err != nil {
		return loc, nil, usagef("%s", err)
	}
	switch loc.Scheme {
	case location.S3:
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(firstOf(f.region, a.getenv("AWS_REGION"), a.getenv("AWS_DEFAULT_REGION"), "us-east-1"))}
		if id := a.getenv("AWS_ACCESS_KEY_ID"); id != "" {
			opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, a.getenv("AWS_SECRET_ACCESS_KEY"), a.getenv("AWS_SESSION_TOKEN"))))
		} else if p := a.getenv("AWS_PROFILE"); p != "" {
			opts = append(opts, awsconfig.WithSharedConfigProfile(p))
		}
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return loc, nil, fmt.Errorf("load AWS credentials: %w", err)
		}
		c := s3.NewFromConfig(cfg, func(o *s3.Options) {
			if f.endpoint != "" {
				o.BaseEndpoint, o.UsePathStyle = aws.String(f.endpoint), true
			}
		})
		return loc, cors.S3{Client: c, Bucket: loc.Bucket}, nil
	case location.AZ:
		if f.endpoint != "" {
			return loc, nil, usagef("--store-endpoint is for S3 and GCS: for Azure put BlobEndpoint in AZURE_STORAGE_CONNECTION_STRING")
		}
		c, err := a.azureService(loc.Account)
		if err != nil {
			return loc, nil, err
		}
		return loc, cors.Azure{Client: c, Account: loc.Account}, nil
	case location.GS:
		opts := []option.ClientOption{storage.WithJSONReads()}
		if f.endpoint != "" {
			opts = append(opts, option.WithEndpoint(strings.TrimSuffix(f.endpoint, "/")+"/storage/v1/"), option.WithoutAuthentication())
		}
		c, err := storage.NewClient(ctx, opts...)
		if err != nil {
			return loc, nil, fmt.Errorf("GCS client (Application Default Credentials): %w", err)
		}
		return loc, cors.GCS{Client: c, Bucket: loc.Bucket}, nil
	}
	return loc, nil, usagef("%s has no CORS rules: give s3://BUCKET, az://ACCOUNT/CONTAINER or gs://BUCKET", loc)
}

// azureService returns a blob service client of account from AZURE_STORAGE_CONNECTION_STRING
// (which must name that account), or else with DefaultAzureCredential.
func (a *app) azureService(account string) (*service.Client, error) {
	if cs := a.getenv("AZURE_STORAGE_CONNECTION_STRING"); cs != "" {
		c, err := service.NewClientFromConnectionString(cs, nil)
		if err != nil {
			return nil, fmt.Errorf("AZURE_STORAGE_CONNECTION_STRING does not parse: %w", err)
		}
		// The account is the host's first label, or the path's first segment (Azurite).
		u, err := url.Parse(c.URL())
		if err != nil || (strings.Split(u.Hostname(), ".")[0] != account && strings.Split(strings.Trim(u.Path, "/"), "/")[0] != account) {
			return nil, fmt.Errorf("AZURE_STORAGE_CONNECTION_STRING is not of account %s: unset it, or give that account's", account)
		}
		return c, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("Azure credentials (DefaultAzureCredential): %w", err)
	}
	return service.NewClient(fmt.Sprintf("https://%s.blob.core.windows.net/", account), cred, nil)
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
