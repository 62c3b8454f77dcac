package sqlstore

import (
	"context"

	"github.com/tarnhq/tarn/internal/errs"
	"github.com/tarnhq/tarn/internal/store"
)

const issuerKeyColumns = `generation, kid, alg, public_jwk, private_key, created_at, not_before, retired_at`

func scanIssuerKey(row scanner) (store.IssuerKey, error) {
	var k store.IssuerKey
	err := row.Scan(&k.Generation, &k.ID, &k.Alg, &k.Public, &k.Private, ts(&k.CreatedAt), ts(&k.NotBefore), ts(&k.RetiredAt))
	return k, err
}

// AddIssuerKey adds k and, in the same transaction, retires at k.NotBefore every older key
// not yet retired. Conflict if k's generation or ID is taken.
func (s *Store) AddIssuerKey(ctx context.Context, k store.IssuerKey) error {
	err := s.inTx(ctx, func(t txn) error {
		_, err := t.exec(ctx, `INSERT INTO issuer_keys (`+issuerKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
			k.Generation, k.ID, k.Alg, nonNil(k.Public), nonNil(k.Private), s.d.time(k.CreatedAt), s.d.time(k.NotBefore))
		if s.d.violation(err) == uniqueViolation {
			return errs.E(errs.Conflict, "issuer key generation %d already exists: another server rotated first", k.Generation)
		}
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, `UPDATE issuer_keys SET retired_at = ? WHERE generation < ? AND retired_at IS NULL`,
			s.d.time(k.NotBefore), k.Generation)
		return err
	})
	return s.fail("add issuer key", err)
}

// IssuerKeys lists the issuer's signing keys, newest (highest generation) first.
func (s *Store) IssuerKeys(ctx context.Context) ([]store.IssuerKey, error) {
	rows, err := s.query(ctx, `SELECT `+issuerKeyColumns+` FROM issuer_keys ORDER BY generation DESC`)
	if err != nil {
		return nil, s.fail("list issuer keys", err)
	}
	ks, err := collect(rows, scanIssuerKey)
	return ks, s.fail("list issuer keys", err)
}
