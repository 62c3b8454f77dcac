package googletest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// signBlob is IAM Credentials' method: the caller's token must be live and its principal
// granted Token Creator on the target service account, whose Google-managed key (made on
// first use, see SigningKey) signs the payload with RSASSA-PKCS1-v1_5 over SHA-256.
func (s *Server) signBlob(w http.ResponseWriter, r *http.Request) {
	s.count(SignBlob)
	target, _ := strings.CutSuffix(r.PathValue("rest"), ":signBlob")
	caller, ok := s.caller(w, r)
	if !ok {
		return
	}
	var req struct {
		Delegates []string `json:"delegates"`
		Payload   []byte   `json:"payload"` // base64, as protobuf's JSON bytes
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Payload) == 0 {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received, or no payload.")
		return
	}
	if !s.granted(w, caller.Principal, target, PermissionSignBlob) {
		return
	}
	key := s.signingKey(target)
	sum := sha256.Sum256(req.Payload)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		apiError(w, http.StatusInternalServerError, "INTERNAL", "signing failed")
		return
	}
	s.mu.Lock()
	s.signatures = append(s.signatures, Signature{Caller: caller.Principal, Account: target, Payload: req.Payload})
	s.mu.Unlock()
	writeJSON(w, map[string]any{"keyId": fmt.Sprintf("%x", sha256.Sum256([]byte(target)))[:40], "signedBlob": sig})
}

// signingKey returns the Google-managed key of account, made on first use.
func (s *Server) signingKey(account string) *rsa.PrivateKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.signing[account]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // the system's random source failed
	}
	s.signing[account] = k
	return k
}

// SigningKey returns the public half of the key with which signBlob signs for account, as
// Google publishes it for every service account.
func (s *Server) SigningKey(account string) *rsa.PublicKey { return &s.signingKey(account).PublicKey }

// Signatures returns the signBlob calls the server signed, in order.
func (s *Server) Signatures() []Signature {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Signature(nil), s.signatures...)
}

// VerifySignedURL checks a V4 signed URL (GOOG4-RSA-SHA256, query signing, path style) of a
// GET as Cloud Storage would at now: it rebuilds the canonical request from the URL itself
// (so an edited path, host or parameter changes what was signed), verifies the signature
// with the SigningKey of the account that X-Goog-Credential names, and checks the
// signature's time window. It returns that account and the bucket and object the URL reads.
func (s *Server) VerifySignedURL(raw string, now time.Time) (account, bucket, object string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", err
	}
	q := u.Query()
	if q.Get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256" {
		return "", "", "", fmt.Errorf("X-Goog-Algorithm is %q", q.Get("X-Goog-Algorithm"))
	}
	cred := strings.Split(q.Get("X-Goog-Credential"), "/")
	if len(cred) != 5 || cred[2] != "auto" || cred[3] != "storage" || cred[4] != "goog4_request" {
		return "", "", "", fmt.Errorf("X-Goog-Credential %q is not EMAIL/DATE/auto/storage/goog4_request", q.Get("X-Goog-Credential"))
	}
	account = cred[0]
	date, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil || date.Format("20060102") != cred[1] {
		return "", "", "", fmt.Errorf("X-Goog-Date %q does not match the credential's date", q.Get("X-Goog-Date"))
	}
	exp, err := strconv.Atoi(q.Get("X-Goog-Expires"))
	if err != nil || exp < 1 || exp > 604800 {
		return "", "", "", fmt.Errorf("X-Goog-Expires %q is not 1 to 604800 seconds", q.Get("X-Goog-Expires"))
	}
	if q.Get("X-Goog-SignedHeaders") != "host" {
		return "", "", "", fmt.Errorf("X-Goog-SignedHeaders is %q, want host", q.Get("X-Goog-SignedHeaders"))
	}
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		return "", "", "", fmt.Errorf("X-Goog-Signature is not hex")
	}
	q.Del("X-Goog-Signature")
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	var query []string
	for _, k := range names {
		for _, v := range q[k] {
			query = append(query, strings.ReplaceAll(url.QueryEscape(k)+"="+url.QueryEscape(v), "+", "%20"))
		}
	}
	canonical := strings.Join([]string{http.MethodGet, u.EscapedPath(), strings.Join(query, "&"),
		"host:" + u.Hostname(), "", "host", "UNSIGNED-PAYLOAD"}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"GOOG4-RSA-SHA256", q.Get("X-Goog-Date"),
		strings.Join(cred[1:], "/"), hex.EncodeToString(sum[:])}, "\n")
	digest := sha256.Sum256([]byte(toSign))
	if err := rsa.VerifyPKCS1v15(s.SigningKey(account), crypto.SHA256, digest[:], sig); err != nil {
		return "", "", "", fmt.Errorf("the signature does not verify with %s's key", account)
	}
	if now.Before(date) || !now.Before(date.Add(time.Duration(exp)*time.Second)) {
		return "", "", "", fmt.Errorf("the URL is valid from %s for %ds, not at %s", date, exp, now.UTC())
	}
	bucket, object, _ = strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return account, bucket, object, nil
}
