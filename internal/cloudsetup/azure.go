package cloudsetup

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// AzureInput is where an azure key's setup applies. Account and Container are required;
// ResourceGroup and Subscription go together, or are both empty (az then looks the account
// up); PrincipalID is the object ID of the identity that signs, needed for a key of auth
// default; ConsoleOrigin is the URL of the tarn console, for CORS. Issuer and Subject, for a
// key of auth federated, are tarn's issuer URL and the key's subject
// ("org:ORG:creds-key:KEY"), which the app's federated credential names.
type AzureInput struct {
	Account, Container          string
	ResourceGroup, Subscription string
	PrincipalID                 string
	ConsoleOrigin               string
	Issuer, Subject             string
}

// AzureFederatedCredential is the federated identity credential of an app registration
// that trusts tarn's tokens for one creds key: the --parameters of
// az ad app federated-credential create.
type AzureFederatedCredential struct {
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Audiences   []string `json:"audiences"`
	Description string   `json:"description"`
}

// AzureSetup is the Azure CLI commands that give the signing identity of an azure creds key
// the two roles it needs, and a CORS rule for the console; lines starting with # are
// comments.
type AzureSetup struct {
	// Assignee is who gets the roles; empty for a shared-key key, which needs none.
	Assignee string `json:"assignee"`
	// FederatedCredential is what the app of a key of auth federated trusts; nil for the
	// other modes.
	FederatedCredential *AzureFederatedCredential `json:"federated_credential,omitempty"`
	Commands            []string                  `json:"commands"`
}

// azureName matches the names that go into the commands: Azure's account, container,
// resource group and subscription names are drawn from these characters, and none of them
// means anything to a shell inside double quotes.
var azureName = regexp.MustCompile(`^[A-Za-z0-9._()-]{1,90}$`)

// Azure returns the commands that set up an azure key of configuration cfg for in; for auth
// federated, first the federated credential that makes the key's app registration trust
// tarn's tokens for in.Subject only. A bad input is an Invalid error in the field of that
// input (account, container, resource_group, subscription, principal_id, console_origin,
// issuer).
func Azure(cfg api.CredsKeyConfig, in AzureInput) (*AzureSetup, error) {
	const valid = "a valid Azure name (letters, digits, '-', '_', '.', '(' and ')')"
	account, container, group, subscription := in.Account, in.Container, in.ResourceGroup, in.Subscription
	err := checkNames(
		nameRule{"account", "account", account, azureName, valid, false},
		nameRule{"container", "container", container, azureName, valid, false},
		nameRule{"resource group", "resource_group", group, azureName, valid, true},
		nameRule{"subscription", "subscription", subscription, azureName, valid, true},
	)
	if err != nil {
		return nil, err
	}
	if (group == "") != (subscription == "") {
		field := "subscription"
		if group == "" {
			field = "resource_group"
		}
		return nil, errs.E(errs.Invalid, "give --resource-group and --subscription together, or neither (az then looks the account up)").In(field)
	}
	origin, err := consoleOrigin(in.ConsoleOrigin)
	if err != nil {
		return nil, err
	}
	accountScope := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s", subscription, group, account)
	if group == "" {
		accountScope = fmt.Sprintf("$(az storage account show --name %s --query id --output tsv)", ShellQuote(account))
	}
	containerScope := accountScope + "/blobServices/default/containers/" + container
	cors := []string{
		"# CORS, so that the tarn console at " + origin + " can read the container from the browser",
		"# (a setting of the blob service: az signs it with the account key, from AZURE_STORAGE_KEY or --account-key):",
		fmt.Sprintf("az storage cors add --services b --methods GET HEAD --origins %s --allowed-headers '*' --exposed-headers '*' --max-age 3600 --account-name %s",
			ShellQuote(origin), ShellQuote(account)),
	}
	var fed *AzureFederatedCredential
	var fedCommands []string
	if cfg.Auth == api.AuthFederated {
		if fed, fedCommands, err = azureFederated(cfg, in); err != nil {
			return nil, err
		}
	}
	var assignee, flag string
	switch {
	case cfg.Auth == api.AuthSharedKey:
		return &AzureSetup{Commands: append([]string{
			"# This key signs with the account key (--auth shared-key): it needs no role, and reaches the whole account.",
			"# Prefer --auth default or client-secret, then run this command again for their role assignments.",
		}, cors...)}, nil
	case in.PrincipalID != "":
		assignee, flag = in.PrincipalID, "--assignee-object-id "+ShellQuote(in.PrincipalID)+" --assignee-principal-type ServicePrincipal"
	case (cfg.Auth == api.AuthClientSecret || cfg.Auth == api.AuthFederated) && cfg.ClientID != "":
		assignee, flag = cfg.ClientID, "--assignee "+ShellQuote(cfg.ClientID)
	default:
		return nil, errs.E(errs.Invalid, "the key signs with the tarn server's own identity (--auth default): give its object ID with --principal-id (az identity show --name NAME --resource-group RG --query principalId)").In("principal_id")
	}
	commands := append(fedCommands,
		"# Role assignments for "+assignee+" (run as an owner of the account):",
		fmt.Sprintf("az role assignment create --role 'Storage Blob Data Contributor' %s --scope \"%s\"", flag, containerScope),
		fmt.Sprintf("az role assignment create --role 'Storage Blob Delegator' %s --scope \"%s\"", flag, accountScope))
	return &AzureSetup{Assignee: assignee, FederatedCredential: fed, Commands: append(commands, cors...)}, nil
}

// azureFederated returns the federated credential of a key of auth federated and the
// command that creates it on the key's app registration.
func azureFederated(cfg api.CredsKeyConfig, in AzureInput) (*AzureFederatedCredential, []string, error) {
	if in.Issuer == "" || in.Subject == "" {
		return nil, nil, errs.E(errs.Invalid, "the key has auth %q but the tarn server is no OIDC issuer: start tarn serve with --public-url https://...", api.AuthFederated).In("issuer")
	}
	// A federated credential's name: letters, digits, '-' and '_', at most 120 characters.
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, "tarn-"+strings.TrimPrefix(in.Subject, "org:"))
	fc := &AzureFederatedCredential{Name: name[:min(len(name), 120)], Issuer: in.Issuer, Subject: in.Subject,
		Audiences: []string{api.AudienceAzure}, Description: "tokens of tarn for " + in.Subject}
	params, err := json.Marshal(fc)
	if err != nil {
		return nil, nil, err
	}
	return fc, []string{
		"# Federated credential: app " + cfg.ClientID + " trusts tarn's tokens for " + in.Subject + " only, so no secret is stored",
		"# (run as an owner of the app registration):",
		fmt.Sprintf("az ad app federated-credential create --id %s --parameters %s", ShellQuote(cfg.ClientID), ShellQuote(string(params))),
	}, nil
}
