package bench

import (
	"os"
	"testing"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/pgtest"
)

// One MinIO serves every benchmark of the package, one PostgreSQL cluster the benchmarks
// that use it, and one Azurite per mode the Azure ones; all stop when the benchmarks are
// done.
func TestMain(m *testing.M) {
	os.Exit(pgtest.Run(func() int { return miniotest.Run(func() int { return azuritetest.Run(m.Run) }) }))
}
