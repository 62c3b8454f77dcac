package bench

import (
	"os"
	"testing"

	"github.com/tarnhq/tarn/internal/azuritetest"
	"github.com/tarnhq/tarn/internal/browsertest"
	"github.com/tarnhq/tarn/internal/fakegcstest"
	"github.com/tarnhq/tarn/internal/miniotest"
	"github.com/tarnhq/tarn/internal/pgtest"
)

// One MinIO serves every benchmark of the package, one PostgreSQL cluster the benchmarks
// that use it, one Azurite per mode the Azure ones, one fake-gcs-server the GCS ones and one
// headless Chromium the viewer's; all stop when the benchmarks are done.
func TestMain(m *testing.M) {
	gcs := func() int { return fakegcstest.Run(m.Run) }
	azure := func() int { return azuritetest.Run(gcs) }
	browser := func() int { return browsertest.Run(azure) }
	os.Exit(pgtest.Run(func() int { return miniotest.Run(browser) }))
}
