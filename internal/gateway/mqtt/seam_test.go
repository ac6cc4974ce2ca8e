package mqtt

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/core"
)

// TestGatewayReachesNoStore: gateways only call the core (DESIGN.md §1).
// The gateway's code imports no store package, and the core offers no way
// to its store that a gateway could take.
func TestGatewayReachesNoStore(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, "/internal/store") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	ct := reflect.TypeOf(&core.Core{})
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		for j := range m.Type.NumOut() {
			if out := m.Type.Out(j); strings.Contains(out.PkgPath(), "/internal/store") {
				t.Errorf("core.Core.%s returns %s", m.Name, out)
			}
		}
	}
}
