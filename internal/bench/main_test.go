package bench

import (
	"os"
	"testing"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/pgtest"
)

// One MinIO serves every benchmark of the package, one PostgreSQL cluster the benchmarks
// that use it, one Azurite per mode the Azure ones and one fake-gcs-server the GCS ones; all
// stop when the benchmarks are done.
func TestMain(m *testing.M) {
	gcs := func() int { return fakegcstest.Run(m.Run) }
	azure := func() int { return azuritetest.Run(gcs) }
	os.Exit(pgtest.Run(func() int { return miniotest.Run(azure) }))
}
