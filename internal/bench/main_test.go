package bench

import (
	"testing"

	"github.com/tarnhq/tarn/internal/miniotest"
)

// One MinIO serves every benchmark of the package and stops when they are done.
func TestMain(m *testing.M) { miniotest.Main(m) }
