package api

import (
	"crypto/sha256"
	"encoding/hex"
)

// RefusalID returns the name by which a client reports c refused by the storage
// (CredentialsRequest.RefusedAccessKeyID), or "" for credentials that have none: the access
// key ID of S3 credentials, and for an Azure SAS "sas-" and the first 16 bytes of the
// SHA-256 of its token, in hex; for a GCS access token "tok-" and the same digest of the
// token. Neither has a public ID, and the token itself grants access, so only a digest of
// it is ever sent back; the digest is not a credential and may be
// logged. Server and clients compute it the same way, here.
func (c *Credentials) RefusalID() string {
	switch {
	case c.S3 != nil:
		return c.S3.AccessKeyID
	case c.Azure != nil && c.Azure.SASToken != "":
		sum := sha256.Sum256([]byte(c.Azure.SASToken))
		return "sas-" + hex.EncodeToString(sum[:16])
	case c.GCS != nil && c.GCS.AccessToken != "":
		sum := sha256.Sum256([]byte(c.GCS.AccessToken))
		return "tok-" + hex.EncodeToString(sum[:16])
	}
	return ""
}
