// Command parley is the Parley instant-messaging server and its admin tool.
package main

import (
	"fmt"
	"os"

	"github.com/parley-im/parley/internal/cli"
)

func main() {
	if err := cli.New(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}
