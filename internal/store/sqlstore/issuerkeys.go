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

// AddIssuerKeys adds ks, the keys of one generation, and, in the same transaction,
// retires at their NotBefore every key of an older generation not yet retired. Conflict if
// the generation or a key ID is taken.
func (s *Store) AddIssuerKeys(ctx context.Context, ks []store.IssuerKey) error {
	if len(ks) == 0 {
		return nil
	}
	gen := ks[0].Generation
	err := s.inTx(ctx, func(t txn) error {
		// Taken generations conflict even for an algorithm they lack (keys of a database
		// from before 0008 hold ES256 only).
		var taken int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM issuer_keys WHERE generation = ?`, gen).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return errs.E(errs.Conflict, "issuer key generation %d already exists: another server rotated first", gen)
		}
		for _, k := range ks {
			if k.Generation != gen {
				return errs.E(errs.Internal, "issuer keys of generations %d and %d added together", gen, k.Generation)
			}
			_, err := t.exec(ctx, `INSERT INTO issuer_keys (`+issuerKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
				k.Generation, k.ID, k.Alg, nonNil(k.Public), nonNil(k.Private), s.d.time(k.CreatedAt), s.d.time(k.NotBefore))
			if s.d.violation(err) == uniqueViolation {
				return errs.E(errs.Conflict, "issuer key generation %d already exists: another server rotated first", gen)
			}
			if err != nil {
				return err
			}
		}
		_, err := t.exec(ctx, `UPDATE issuer_keys SET retired_at = ? WHERE generation < ? AND retired_at IS NULL`,
			s.d.time(ks[0].NotBefore), gen)
		return err
	})
	return s.fail("add issuer keys", err)
}

// IssuerKeys lists the issuer's signing keys, newest (highest generation) first, and
// by algorithm within a generation.
func (s *Store) IssuerKeys(ctx context.Context) ([]store.IssuerKey, error) {
	rows, err := s.query(ctx, `SELECT `+issuerKeyColumns+` FROM issuer_keys ORDER BY generation DESC, alg`)
	if err != nil {
		return nil, s.fail("list issuer keys", err)
	}
	ks, err := collect(rows, scanIssuerKey)
	return ks, s.fail("list issuer keys", err)
}
