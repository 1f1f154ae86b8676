package function

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/store/storetest"
)

func TestParseFile(t *testing.T) {
	fs, err := ParseFile([]byte(`{"functions":[{"name":"a","url":"http://127.0.0.1:9000","timeout":"2s","secret":"s"},{"name":"b","url":"https://x.internal/f"}]}`))
	if err != nil || len(fs) != 2 || fs[0].Timeout != 2*time.Second || fs[0].Secret != "s" || fs[1].Timeout != DefaultTimeout {
		t.Fatalf("= %+v %v", fs, err)
	}
	for in, want := range map[string]string{
		`{"functions":[{"name":"a","url":"ftp://x"}]}`:                                "entry 1 (a)",
		`{"functions":[{"name":"a b","url":"http://x"}]}`:                             "entry 1 (a b)",
		`{"functions":[{"name":"a","url":"http://x","timeout":"soon"}]}`:              "timeout",
		`{"functions":[{"name":"a","url":"http://x"},{"name":"a","url":"http://y"}]}`: "named twice",
		`{"functions":[{"name":"a","url":"http://x","lambda":"yes"}]}`:                "unknown field",
		`{"functions":[]} {}`: "data after",
		`{"functions":[{"name":"a","url":"http://x","timeout":"16m"}]}`: "between",
		`{"functions":` + strings.Repeat(" ", MaxFileSize) + `[]}`:      "larger than",
	} {
		if _, err := ParseFile([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: %v, want %q", in, err, want)
		}
	}
}

// PutAll writes every function or none.
func TestPutAllIsWholeOrNothing(t *testing.T) {
	ctx := context.Background()
	reg, err := New(ctx, storetest.New(t), Config{Region: "us-east-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PutAll(ctx, []Function{{Name: "ok", URL: "http://127.0.0.1:1"}, {Name: "bad", URL: "nope"}}); err == nil {
		t.Fatal("an invalid entry was accepted")
	}
	if all, _ := reg.List(ctx); len(all) != 0 {
		t.Fatalf("half-written: %+v", all)
	}
	fs, err := reg.PutAll(ctx, []Function{{Name: "one", URL: "http://127.0.0.1:1"}, {Name: "two", URL: "http://127.0.0.1:2"}})
	if err != nil || fs[0].Secret == "" || fs[1].Secret == "" {
		t.Fatalf("= %+v %v", fs, err)
	}
	// Re-reading the file keeps the generated secrets.
	again, err := reg.PutAll(ctx, []Function{{Name: "one", URL: "http://127.0.0.1:3"}})
	if err != nil || again[0].Secret != fs[0].Secret {
		t.Fatalf("secret changed: %+v %v", again, err)
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`{"functions":[{"name":"a","url":"http://127.0.0.1:9000","timeout":"2s"}]}`))
	f.Add([]byte(`{"functions":[{"name":"","url":""}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseFile(data)
		if err != nil {
			return
		}
		for _, fn := range fs {
			if Validate(&fn) != nil {
				t.Fatalf("ParseFile returned an invalid function %+v", fn)
			}
		}
	})
}
