package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"time"
)

// dialect is what differs between the databases: every query is written once, with ?
// placeholders and SQL that both databases accept, and the dialect fills in the rest.
type dialect interface {
	// name names the dialect and the folder of its own migrations, migrations/<name>.
	name() string
	// rebind rewrites the ? placeholders of query into the database's own.
	rebind(query string) string
	// time encodes t for a time column; the zero time is NULL. timeDst decodes it.
	time(t time.Time) any
	// types is the vocabulary of the shared migrations: {{time}}, {{bytes}}, ...
	types() map[string]string
	// lock takes, inside tx, the lock that l names, held until tx ends. Transactions that
	// take the same lock run one at a time, and each sees what the ones before it wrote.
	lock(ctx context.Context, tx *sql.Tx, l lockName) error
	// txOptions are the options of the store's transactions.
	txOptions() *sql.TxOptions
	// violation reports which kind of constraint err violates, if any.
	violation(err error) violation
	// unavailable returns the user-facing reason when err means that the database cannot
	// answer now but may later (busy, unreachable, timed out, out of resources), else "".
	unavailable(err error) string
}

// lockName names a lock that serializes one kind of transaction.
type lockName int

const (
	// lockMigrations is held while applying migrations.
	lockMigrations lockName = iota + 1
	// lockDatasets is held while checking that a new dataset overlaps no other and adding it.
	lockDatasets
)

// violation is the kind of constraint a failed statement violated.
type violation int

const (
	noViolation violation = iota
	uniqueViolation
	foreignKeyViolation
	checkViolation
)

// rebindDollar rewrites the ? placeholders of query into $1, $2, ..., leaving string
// literals alone.
func rebindDollar(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
