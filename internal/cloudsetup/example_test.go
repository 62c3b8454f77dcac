package cloudsetup_test

import (
	"fmt"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/cloudsetup"
)

func ExampleAzure() {
	cfg := api.CredsKeyConfig{Account: "acmeml", Auth: api.AuthClientSecret, TenantID: "t", ClientID: "00000000-0000-0000-0000-000000000001"}
	setup, err := cloudsetup.Azure(cfg, cloudsetup.AzureInput{Account: cfg.Account, Container: "datasets",
		ResourceGroup: "ml", Subscription: "sub-1", ConsoleOrigin: "https://tarn.acme.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(setup.Commands[1])
	// Output:
	// az role assignment create --role 'Storage Blob Data Contributor' --assignee 00000000-0000-0000-0000-000000000001 --scope "/subscriptions/sub-1/resourceGroups/ml/providers/Microsoft.Storage/storageAccounts/acmeml/blobServices/default/containers/datasets"
}

func ExampleGCP() {
	cfg := api.CredsKeyConfig{ServiceAccount: "tarn-data@acme-ml.iam.gserviceaccount.com"}
	setup, err := cloudsetup.GCP(cfg, cloudsetup.GCPInput{Project: "acme-ml", Bucket: "acme-ml-data",
		Principal: "tarn-server@tarn-prod.iam.gserviceaccount.com", ConsoleOrigin: "https://tarn.acme.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range setup.Commands {
		if strings.Contains(c, "serviceAccountTokenCreator") {
			fmt.Println(c)
		}
	}
	// Output:
	// gcloud iam service-accounts add-iam-policy-binding tarn-data@acme-ml.iam.gserviceaccount.com --member=serviceAccount:tarn-server@tarn-prod.iam.gserviceaccount.com --role=roles/iam.serviceAccountTokenCreator
}

func ExampleShellQuote() {
	fmt.Println(cloudsetup.ShellQuote("datasets/2025"), cloudsetup.ShellQuote("it's $HOME"), cloudsetup.ShellQuote(""))
	// Output:
	// datasets/2025 'it'\''s $HOME' ''
}
