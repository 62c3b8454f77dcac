// Command install-fake-gcs-server builds the pinned fake-gcs-server binary the tests use, if
// it is not cached yet, and prints its path. scripts/test.sh runs it before the tests so that
// no test waits for the build:
//
//	go run ./internal/fakegcstest/cmd/install-fake-gcs-server
package main

import (
	"fmt"
	"os"

	"github.com/tarnhq/tarn/internal/fakegcstest"
)

func main() {
	bin, err := fakegcstest.Binary()
	if err != nil {
		fmt.Fprintf(os.Stderr, "install-fake-gcs-server: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
