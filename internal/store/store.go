// Package store defines tarn's persistent state and the Store interface that holds it.
// Its one implementation, sqlstore/, runs on SQLite and PostgreSQL; storetest/ is the suite it
// passes on both.
//
// Names (users, orgs, datasets, creds keys) are the identifiers: they are validated by the
// caller with location.CheckName and never change. Every method is safe for concurrent use.
// Errors are *errs.Error: NotFound when a named row is missing, Conflict when a create meets
// an existing row or a delete meets a row still in use, Unavailable when the database cannot
// be reached.
package store

import (
	"context"
	"time"
)

// Role is a member's role in an org. Roles are ordered: reader < writer < admin.
type Role string

// The roles.
const (
	Reader Role = "reader"
	Writer Role = "writer"
	Admin  Role = "admin"
)

// Rank orders roles: 0 for an unknown or empty role, then reader 1, writer 2, admin 3.
func (r Role) Rank() int {
	switch r {
	case Reader:
		return 1
	case Writer:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool { return r.Valid() && r.Rank() >= min.Rank() }

// User is a person or a service account.
type User struct {
	Name      string
	Superuser bool
	CreatedAt time.Time
}

// Org is a tenant. DefaultLocation and DefaultCredsKey are empty until set.
type Org struct {
	Name            string
	CreatedAt       time.Time
	DefaultLocation string
	DefaultCredsKey string
}

// Member is a user's role in an org.
type Member struct {
	Org  string
	User string
	Role Role
}

// Token is an API token. Only the SHA-256 of the secret is stored. Org and Role, when set,
// narrow the token to one org and a role no higher than Role. A token belongs either to a
// user (User set) or to a workload identity (Identity set to "org/name", User empty; such a
// token always has Org and Role).
type Token struct {
	ID         string
	User       string
	Identity   string
	Name       string
	Hash       []byte
	Org        string
	Role       Role
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never expires
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

// TokenAuth is what authenticating a token and admitting it to one org needs, read in one
// query: the token, whether its user or workload identity still exists, and, for the org it
// was asked about, whether that org exists and the user's membership role in it.
type TokenAuth struct {
	Token
	UserFound         bool // the token's user exists
	Superuser         bool // the token's user is a superuser
	IdentityFound     bool // the token's workload identity exists
	IdentityCreatedAt time.Time
	Org               string // the org asked about; "" for none
	OrgFound          bool   // Org exists
	MemberRole        Role   // the user's role in Org; "" if not a member
}

// Session is a console session. Only the SHA-256 of its ID is stored. It came from the API
// token TokenID and is valid only while that token is; the console ends it after an idle
// time since LastSeenAt and an absolute time since CreatedAt.
type Session struct {
	Hash       []byte
	TokenID    string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// Identity is a workload identity of an org: tokens signed by one of Issuers whose claims
// match Config (the JSON of the provider's match rule) are exchanged for tarn tokens with
// Role in Org.
type Identity struct {
	Org       string
	Name      string
	Provider  string
	Role      Role
	Issuers   []string // sorted, without duplicates
	Config    []byte
	CreatedAt time.Time
	CreatedBy string
}

// CredsKey is a managed credential of an org. Config is the provider's JSON configuration
// (no secrets); Secret is the provider's secret, already encrypted by the caller, or nil.
// Version starts at 1 and grows by one on every update.
type CredsKey struct {
	Org       string
	Name      string
	Provider  string
	Config    []byte
	Secret    []byte
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Dataset is a registry entry al://Org/Name.
type Dataset struct {
	Org        string
	Name       string
	Location   string
	CredsKey   string
	Public     bool
	LinkedKeys []string // sorted, without duplicates
	CreatedAt  time.Time
	CreatedBy  string
}

// IssuerKey is a signing key of tarn's own OIDC issuer, shared by every server on the
// database. Generation numbers the keys 1, 2, ... in the order they were added, one key per
// algorithm Alg (ES256, RS256) in each; ID is the key's kid. Public is its public JWK (JSON); Private its private key, already sealed by
// the caller. A key signs from NotBefore (after it was published for a while) until a newer
// key takes over, and is retired from that newer key's NotBefore (RetiredAt zero: not
// retired).
type IssuerKey struct {
	Generation int64
	ID         string
	Alg        string
	Public     []byte
	Private    []byte
	CreatedAt  time.Time
	NotBefore  time.Time
	RetiredAt  time.Time
}

// AuditRecord is one audited event. Results are "ok", "denied" or "error".
type AuditRecord struct {
	ID        int64 // assigned by AppendAudit(s), increasing
	Time      time.Time
	RequestID string
	Principal string
	Org       string
	Action    string
	Target    string
	Mode      string
	Result    string
	Detail    string
	KeyID     string
}

// AuditQuery selects audit records of one org: those at or after Since (zero: no bound),
// strictly before Until (zero: no bound), with an ID below BeforeID (0: no bound), with
// action Action and result Result, and of principal Principal: that principal exactly, or
// it with any token ("ann" matches "ann (tok_1)"); each empty matches any. Audit returns
// the newest Limit of them by ID (Limit <= 0: 1000), oldest first; passing the first
// record's ID as the next query's BeforeID pages backwards. A record without a time is
// outside every time bound.
type AuditQuery struct {
	Org       string
	Since     time.Time
	Until     time.Time
	BeforeID  int64
	Action    string
	Principal string
	Result    string
	Limit     int
}

// Store holds tarn's state.
type Store interface {
	// CreateUser adds u; Conflict if the name is taken.
	CreateUser(ctx context.Context, u User) error
	// User returns the named user; NotFound if absent.
	User(ctx context.Context, name string) (User, error)
	// Users lists every user ordered by name.
	Users(ctx context.Context) ([]User, error)

	// CreateOrg adds o; Conflict if the name is taken.
	CreateOrg(ctx context.Context, o Org) error
	// Org returns the named org; NotFound if absent.
	Org(ctx context.Context, name string) (Org, error)
	// Orgs lists every org ordered by name.
	Orgs(ctx context.Context) ([]Org, error)
	// SetDefaultStorage sets an org's default location and creds key; NotFound if the org is absent.
	SetDefaultStorage(ctx context.Context, org, location, credsKey string) error

	// PutMember creates or replaces a membership; NotFound if the org or user is absent.
	PutMember(ctx context.Context, m Member) error
	// Member returns a user's membership in an org; NotFound if there is none.
	Member(ctx context.Context, org, user string) (Member, error)
	// Members lists an org's members ordered by user name.
	Members(ctx context.Context, org string) ([]Member, error)
	// Memberships lists a user's memberships ordered by org name.
	Memberships(ctx context.Context, user string) ([]Member, error)
	// DeleteMember removes a membership; NotFound if there is none.
	DeleteMember(ctx context.Context, org, user string) error

	// CreateToken adds t; Conflict if its ID or hash is taken; NotFound if its user or org is
	// absent; Invalid if it has neither a user nor an identity.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token with the given SHA-256 hash, revoked or not; NotFound if none.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// TokenAuth returns the token with the given SHA-256 hash, revoked or not, with its
	// user's or identity's state and, when org is not empty, org's existence and the user's
	// role in it, all read at one instant; NotFound if there is no such token.
	TokenAuth(ctx context.Context, hash []byte, org string) (TokenAuth, error)
	// Token returns the token with the given ID; NotFound if none.
	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists a user's tokens, revoked ones included, oldest first.
	Tokens(ctx context.Context, user string) ([]Token, error)
	// RevokeToken sets a token's RevokedAt if it is not yet revoked; NotFound if no such token.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// TouchToken sets a token's LastUsedAt.
	TouchToken(ctx context.Context, id string, at time.Time) error

	// CreateSession adds s; Conflict if its hash is taken; NotFound if its token is absent.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with the given SHA-256 hash; NotFound if none.
	Session(ctx context.Context, hash []byte) (Session, error)
	// TouchSession sets a session's LastSeenAt; NotFound if no such session.
	TouchSession(ctx context.Context, hash []byte, at time.Time) error
	// DeleteSession removes a session; removing one that does not exist is no error.
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteExpiredSessions removes the sessions created before created or last used before
	// lastSeen, and returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, created, lastSeen time.Time) (int64, error)

	// PutIdentity adds id (its Issuers sorted and deduplicated); Conflict if the name is taken
	// in its org; NotFound if the org is absent.
	PutIdentity(ctx context.Context, id Identity) error
	// Identity returns the named workload identity; NotFound if absent.
	Identity(ctx context.Context, org, name string) (Identity, error)
	// Identities lists an org's workload identities ordered by name.
	Identities(ctx context.Context, org string) ([]Identity, error)
	// IdentitiesByIssuer lists the workload identities, of every org, that accept tokens of
	// issuer, ordered by org and name.
	IdentitiesByIssuer(ctx context.Context, issuer string) ([]Identity, error)
	// Issuers lists the distinct issuers of every workload identity, ordered.
	Issuers(ctx context.Context) ([]string, error)
	// DeleteIdentity removes a workload identity and, in the same transaction, revokes (at
	// time at) every token minted for it; NotFound if absent.
	DeleteIdentity(ctx context.Context, org, name string, at time.Time) error

	// PutCredsKey creates k with version 1, or replaces the config and secret of an existing
	// key and increments its version (CreatedAt is kept). It returns the stored key.
	// NotFound if the org is absent.
	PutCredsKey(ctx context.Context, k CredsKey) (CredsKey, error)
	// CredsKey returns the named creds key; NotFound if absent.
	CredsKey(ctx context.Context, org, name string) (CredsKey, error)
	// CredsKeys lists an org's creds keys ordered by name.
	CredsKeys(ctx context.Context, org string) ([]CredsKey, error)
	// DeleteCredsKey removes a creds key; NotFound if absent; Conflict (code in_use) if a
	// dataset uses it as its creds key or linked key, or it is the org's default.
	DeleteCredsKey(ctx context.Context, org, name string) error

	// CreateDataset adds d; Conflict if the name is taken in its org; Conflict with code
	// api.CodeLocationOverlap if d.Location equals, contains or lies inside (by whole path
	// segments) the location of another dataset of any org (the detail names that dataset
	// only if it is in d's org); NotFound if the org, the creds key or a linked key is absent.
	// Of concurrent creates of overlapping locations, at most one succeeds.
	CreateDataset(ctx context.Context, d Dataset) error
	// Dataset returns the named dataset; NotFound if absent.
	Dataset(ctx context.Context, org, name string) (Dataset, error)
	// DatasetWithKey returns the named dataset and its creds key (the zero CredsKey if it
	// names none), read at one instant; NotFound if the dataset is absent.
	DatasetWithKey(ctx context.Context, org, name string) (Dataset, CredsKey, error)
	// Datasets lists an org's datasets ordered by name.
	Datasets(ctx context.Context, org string) ([]Dataset, error)
	// SetDatasetPublic sets whether a dataset is public; NotFound if absent.
	SetDatasetPublic(ctx context.Context, org, name string, public bool) error
	// DeleteDataset removes a dataset entry; NotFound if absent.
	DeleteDataset(ctx context.Context, org, name string) error
	// AddLinkedKey adds key to a dataset's linked keys (idempotent); NotFound if the dataset
	// or the creds key is absent.
	AddLinkedKey(ctx context.Context, org, name, key string) error

	// AppendAudit stores r and returns its ID; IDs increase.
	AppendAudit(ctx context.Context, r AuditRecord) (int64, error)
	// AppendAudits stores rs in one transaction, all of them or none, and returns their
	// IDs, which increase in the order of rs.
	AppendAudits(ctx context.Context, rs []AuditRecord) ([]int64, error)
	// DeleteAuditBefore deletes up to limit records (limit <= 0: 1000) whose time is before
	// t, oldest first, in one transaction, and returns how many it deleted.
	DeleteAuditBefore(ctx context.Context, t time.Time, limit int) (int, error)
	// Audit returns the records q selects, oldest (lowest ID) first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditRecord, error)

	// AddIssuerKeys adds ks, the keys of one generation (one per algorithm), and, in the
	// same transaction, retires at their NotBefore every key of an older generation not yet
	// retired. Conflict if the generation or a key ID is taken: of servers rotating at once
	// with the same next generation, one succeeds.
	AddIssuerKeys(ctx context.Context, ks []IssuerKey) error
	// IssuerKeys lists the issuer's signing keys, newest (highest generation) first, and by
	// algorithm within a generation.
	IssuerKeys(ctx context.Context) ([]IssuerKey, error)

	// AccessVersion returns a number that grows with every committed change to what
	// authenticating and admitting a request reads: users, orgs, memberships, tokens (all
	// but their last use), workload identities, creds keys, datasets and their linked keys.
	// Whatever is read after AccessVersion returned v reflects every change counted in v, so
	// a copy of such reads made after v may serve for as long as AccessVersion still says v.
	AccessVersion(ctx context.Context) (int64, error)

	// Ping checks that the database answers; Unavailable if not.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
