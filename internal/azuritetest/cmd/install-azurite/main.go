// Command install-azurite installs the pinned Azurite from npm, if it is not cached yet, and
// prints the path of its azurite-blob command. scripts/test.sh runs it before the tests so
// that no test waits for npm:
//
//	go run ./internal/azuritetest/cmd/install-azurite
package main

import (
	"fmt"
	"os"

	"github.com/tarnhq/tarn/internal/azuritetest"
)

func main() {
	bin, err := azuritetest.Install()
	if err != nil {
		fmt.Fprintf(os.Stderr, "install-azurite: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
