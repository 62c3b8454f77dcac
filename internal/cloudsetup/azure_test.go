package cloudsetup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/cloudsetup"
)

func TestAzure(t *testing.T) {
	const id = "11111111-2222-3333-4444-555555555555"
	app := api.CredsKeyConfig{Auth: api.AuthClientSecret, TenantID: "t", ClientID: "00000000-0000-0000-0000-000000000001"}
	server := api.CredsKeyConfig{Auth: api.AuthDefault}
	fed := api.CredsKeyConfig{Auth: api.AuthFederated, TenantID: "t", ClientID: "00000000-0000-0000-0000-000000000002"}
	for _, tc := range []struct {
		name                                        string
		cfg                                         api.CredsKeyConfig
		container, group, sub, principal, orig, iss string
		want                                        []string // substrings of the output, in any order
		err, field                                  string   // the error and the input it is in
	}{
		{name: "client-secret app, scopes from az", cfg: app, container: "datasets", orig: "https://127.0.0.1:8443/x",
			want: []string{
				`--role 'Storage Blob Data Contributor' --assignee 00000000-0000-0000-0000-000000000001 --scope "$(az storage account show --name acmeml --query id --output tsv)/blobServices/default/containers/datasets"`,
				`--role 'Storage Blob Delegator' --assignee 00000000-0000-0000-0000-000000000001 --scope "$(az storage account show --name acmeml --query id --output tsv)"`,
				`--origins https://127.0.0.1:8443 --allowed-headers '*'`, `--methods GET HEAD`,
			}},
		{name: "server identity with literal scopes", cfg: server, container: "datasets", group: "ml", sub: "sub-1", principal: id, orig: "http://127.0.0.1:8080",
			want: []string{
				`--assignee-object-id ` + id + ` --assignee-principal-type ServicePrincipal --scope "/subscriptions/sub-1/resourceGroups/ml/providers/Microsoft.Storage/storageAccounts/acmeml/blobServices/default/containers/datasets"`,
				`--role 'Storage Blob Delegator' --assignee-object-id ` + id,
			}},
		{name: "shared key needs no role", cfg: api.CredsKeyConfig{Auth: api.AuthSharedKey}, container: "d", orig: "http://127.0.0.1:8080",
			want: []string{"needs no role", "az storage cors add"}},
		{name: "server identity without its object ID", cfg: server, container: "d", orig: "http://127.0.0.1:8080", err: "give its object ID with --principal-id", field: "principal_id"},
		{name: "group without subscription", cfg: app, container: "d", group: "ml", orig: "http://127.0.0.1:8080", err: "--resource-group and --subscription together", field: "subscription"},
		{name: "subscription without group", cfg: app, container: "d", sub: "sub-1", orig: "http://127.0.0.1:8080", err: "--resource-group and --subscription together", field: "resource_group"},
		{name: "resource group that would run in a shell", cfg: app, container: "d", group: "ml`id`", sub: "s", orig: "http://127.0.0.1:8080", err: "resource group \"ml`id`\" is not a valid Azure name", field: "resource_group"},
		{name: "container that would run in a shell", cfg: app, container: "d$(rm -rf ~)", orig: "http://127.0.0.1:8080", err: "not a valid Azure name", field: "container"},
		{name: "origin that is no URL", cfg: app, container: "d", orig: "tarn", err: "is no URL", field: "console_origin"},
		{name: "federated app", cfg: fed, container: "datasets", iss: "https://tarn.acme.com", orig: "http://127.0.0.1:8080",
			want: []string{
				`az ad app federated-credential create --id 00000000-0000-0000-0000-000000000002 --parameters '{"name":"tarn-acme-creds-key-fed","issuer":"https://tarn.acme.com","subject":"org:acme:creds-key:fed","audiences":["api://AzureADTokenExchange"],`,
				`--role 'Storage Blob Delegator' --assignee 00000000-0000-0000-0000-000000000002 --scope`,
			}},
		{name: "federated app of a server that is no issuer", cfg: fed, container: "d", orig: "http://127.0.0.1:8080", err: "no OIDC issuer", field: "issuer"},
		{name: "federated issuer that would run in a shell", cfg: fed, container: "d", iss: "https://x'$(id)'", orig: "http://127.0.0.1:8080",
			want: []string{`"issuer":"https://x'\''$(id)'\''"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := cloudsetup.AzureInput{Account: "acmeml", Container: tc.container, ResourceGroup: tc.group, Subscription: tc.sub, PrincipalID: tc.principal, ConsoleOrigin: tc.orig}
			if tc.iss != "" {
				in.Issuer, in.Subject = tc.iss, "org:acme:creds-key:fed"
			}
			got, err := cloudsetup.Azure(tc.cfg, in)
			var commands []string
			if got != nil {
				commands = got.Commands
			}
			checkSetup(t, commands, err, tc.err, tc.field, tc.want, nil)
		})
	}
}

// TestAzureFlagsExist checks the commands Azure returns against the
// installed Azure CLI: every option they use is one its help lists. Nothing is sent
// anywhere: az only prints help.
func TestAzureFlagsExist(t *testing.T) {
	if _, err := exec.LookPath("az"); err != nil {
		t.Skip("az is not installed (scripts/test.sh installs it from Debian's packages)")
	}
	setup, err := cloudsetup.Azure(api.CredsKeyConfig{Auth: api.AuthFederated, ClientID: "00000000-0000-0000-0000-000000000002"}, cloudsetup.AzureInput{Account: "acmeml", Container: "datasets",
		ResourceGroup: "ml", Subscription: "sub-1", PrincipalID: "11111111-2222-3333-4444-555555555555", ConsoleOrigin: "http://127.0.0.1:8080",
		Issuer: "https://tarn.acme.com", Subject: "org:acme:creds-key:fed"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(setup.Commands, "\n"), "az ad app federated-credential create") {
		t.Fatalf("commands %q: want the federated credential", setup.Commands)
	}
	home := t.TempDir()
	option := regexp.MustCompile(`\s(--[a-z-]+)`)
	for _, c := range setup.Commands {
		if strings.HasPrefix(c, "#") {
			continue
		}
		words := strings.Fields(c)
		sub := words[1:slices.IndexFunc(words, func(w string) bool { return strings.HasPrefix(w, "--") })]
		cmd := exec.CommandContext(t.Context(), "az", append(sub, "--help")...)
		cmd.Env = append(os.Environ(), "HOME="+home, "AZURE_CONFIG_DIR="+filepath.Join(home, ".azure"),
			"AZURE_CORE_COLLECT_TELEMETRY=no", "HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9")
		help, err := cmd.Output()
		if err != nil {
			t.Fatalf("az %s --help: %v", strings.Join(sub, " "), err)
		}
		for _, m := range option.FindAllStringSubmatch(c, -1) {
			if !strings.Contains(string(help), m[1]) {
				t.Errorf("az %s has no option %s (printed: %s)", strings.Join(sub, " "), m[1], c)
			}
		}
	}
}
