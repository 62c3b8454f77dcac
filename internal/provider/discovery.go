package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/issuer"
)

// CheckDiscovery is the name of DiscoveryCheck's check.
const CheckDiscovery = "issuer discovery"

// DiscoveryCheck fetches the OpenID Connect discovery document of tarn's issuer iss with
// do, as a cloud does before it trusts the issuer's tokens, and reports whether it answers
// and names iss as its issuer. A failure says what the cloud would see; the check cannot
// tell whether the cloud, from outside, reaches the URL too.
func DiscoveryCheck(ctx context.Context, do func(*http.Request) (*http.Response, error), iss string) api.Check {
	u := strings.TrimSuffix(iss, "/") + issuer.DiscoveryPath
	c := api.Check{Name: CheckDiscovery}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		c.Detail = fmt.Sprintf("the public URL %s is not usable: start tarn serve with --public-url https://...", iss)
		return c
	}
	resp, err := do(req)
	if err != nil {
		c.Detail = fmt.Sprintf("cannot fetch %s: the cloud fetches it to trust tarn's tokens; make --public-url reachable", u)
		return c
	}
	defer resp.Body.Close()
	var disc struct {
		Issuer string `json:"issuer"`
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		c.Detail = fmt.Sprintf("%s answered %d, not the issuer's discovery: route it to tarn serve", u, resp.StatusCode)
	case json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&disc) != nil:
		c.Detail = fmt.Sprintf("%s answered no discovery document: route it to tarn serve", u)
	case disc.Issuer != iss:
		c.Detail = fmt.Sprintf("%s names issuer %q, not %q: route the public URL to this tarn, or set --public-url to the URL it has", u, disc.Issuer, iss)
	default:
		c.OK, c.Detail = true, u+" names issuer "+iss
	}
	return c
}
