// Command install-minio builds the pinned MinIO binary the tests use, if it is not cached
// yet, and prints its path. scripts/test.sh runs it before the tests so that no test waits
// for the build:
//
//	go run ./internal/miniotest/cmd/install-minio
package main

import (
	"fmt"
	"os"

	"github.com/tarnhq/tarn/internal/miniotest"
)

func main() {
	bin, err := miniotest.Binary()
	if err != nil {
		fmt.Fprintf(os.Stderr, "install-minio: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
