package miniotest

import "github.com/tarnhq/tarn/internal/testpeer"

// Version is the pinned MinIO release: the module version `go install` builds. It is the
// newest version the Go module proxy serves (commit 7aac2a2c5b7c of 2026-02-12).
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// CacheEnv names the environment variable that overrides the cache directory
// (default: the user cache directory's tarn-test, e.g. ~/.cache/tarn-test).
const CacheEnv = testpeer.CacheEnv

// Binary returns the path of the pinned MinIO binary,
// $TARN_TEST_CACHE/minio-<Version>/minio (default ~/.cache/tarn-test/...). When it is
// missing, Binary builds it with `go install` (CGO_ENABLED=0), which takes about five
// minutes on two cores, and says so on stderr; concurrent callers share one build (see
// testpeer.GoBinary.Install).
func Binary() (string, error) {
	return testpeer.GoBinary{
		Name:    "MinIO",
		Package: "github.com/minio/minio",
		Version: Version,
		Command: "minio",
		Took:    "about 5 minutes",
		Env:     []string{"CGO_ENABLED=0"},
	}.Install()
}
