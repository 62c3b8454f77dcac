package api_test

import (
	"fmt"
	"strings"

	"github.com/tarnhq/tarn/api"
)

// A client reports S3 credentials refused by their access key ID, and an Azure SAS or a GCS
// access token by a digest that does not reveal it.
func ExampleCredentials_RefusalID() {
	s3 := &api.Credentials{S3: &api.S3Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "secret"}}
	sas := &api.Credentials{Azure: &api.AzureCredentials{SASToken: "sv=2025-01-05&sr=c&sp=rl&sig=c2VjcmV0"}}
	id := sas.RefusalID()
	fmt.Println(s3.RefusalID())
	fmt.Println(strings.HasPrefix(id, "sas-"), len(id), strings.Contains(id, "c2VjcmV0"))
	tok := (&api.Credentials{GCS: &api.GCSCredentials{AccessToken: "ya29.c2VjcmV0"}}).RefusalID()
	fmt.Println(strings.HasPrefix(tok, "tok-"), len(tok), strings.Contains(tok, "c2VjcmV0"))
	fmt.Printf("%q\n", (&api.Credentials{}).RefusalID())
	// Output:
	// ASIAEXAMPLE
	// true 36 false
	// true 36 false
	// ""
}
