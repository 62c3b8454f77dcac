package main

import (
	"strings"

	"github.com/tarnhq/tarn/location"
)

// checkName returns a usage error unless s is a valid name of what.
func checkName(what, s string) error {
	if err := location.CheckName(what, s); err != nil {
		return usagef("%s", err)
	}
	return nil
}

// parseOrgKey splits an ORG/KEY argument naming a creds key.
func parseOrgKey(s string) (org, key string, err error) {
	org, key, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(key, "/") {
		return "", "", usagef("%q is not ORG/KEY: name a creds key as ORG/KEY, e.g. acme/local", s)
	}
	if err := checkName("org", org); err != nil {
		return "", "", err
	}
	if err := checkName("creds key", key); err != nil {
		return "", "", err
	}
	return org, key, nil
}

// parseDataset parses an al://ORG/NAME argument naming a dataset.
func parseDataset(s string) (location.Location, error) {
	l, err := location.Parse(s)
	if err != nil {
		return l, usagef("%s", err)
	}
	if l.Scheme != location.AL || l.Path != "" {
		return l, usagef("%q is not a dataset: use al://ORG/NAME", s)
	}
	return l, nil
}

// parseStorage parses a storage location argument: a storage URL (s3://, gs://, az://,
// file:///, mem://) or a plain local path, which becomes a file:// location.
func parseStorage(s string) (location.Location, error) {
	l, err := location.FromLocal(s)
	if err != nil {
		return l, usagef("%s", err)
	}
	if l.Scheme == location.AL {
		return l, usagef("%q is a dataset path; a storage location is needed here (s3://, gs://, az://, file:///... or a local directory)", s)
	}
	return l, nil
}
