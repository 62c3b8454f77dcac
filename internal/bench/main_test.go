package bench

import (
	"os"
	"testing"

	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/pgtest"
)

// One MinIO serves every benchmark of the package, and one PostgreSQL cluster the
// benchmarks that use it; both stop when the benchmarks are done.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(func() int { return miniotest.Run(m.Run) })) }
