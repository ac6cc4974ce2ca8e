package schema

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	ok := fstest.MapFS{
		"migrations/0002_more.sql": {Data: []byte("B")},
		"migrations/0001_init.sql": {Data: []byte("A")},
		"migrations/README":        {Data: []byte("not a migration")},
	}
	ms, err := Load(ok)
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[0].SQL != "A" || ms[1].Name != "0002_more.sql" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"a gap":        {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"no number":    {"migrations/init.sql": {}},
		"zero":         {"migrations/0000_zero.sql": {}},
		"not from one": {"migrations/0002_b.sql": {}},
	} {
		if _, err := Load(fsys); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: Load error = %v, want one naming the migration", name, err)
		}
	}
}
