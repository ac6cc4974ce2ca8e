package admit

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestGatewaysDoNotImportEachOther: what the gateways share lives in small
// packages of its own (this one, cork, jsonlimit), so no gateway imports
// another.
func TestGatewaysDoNotImportEachOther(t *testing.T) {
	t.Parallel()
	gateways := []string{"ws", "mqtt", "http"}
	for _, g := range gateways {
		files, err := filepath.Glob(filepath.Join("..", g, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no Go files in ../%s", g)
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				for _, other := range gateways {
					if other != g && strings.HasSuffix(path, "/internal/gateway/"+other) {
						t.Errorf("%s imports %s", name, path)
					}
				}
			}
		}
	}
}
