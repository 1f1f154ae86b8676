// Package storetest opens private in-memory stores for tests.
package storetest

import (
	"context"
	"testing"

	"github.com/portico-iot/portico/internal/store"
)

// New opens a private in-memory store that is closed when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.OpenMemory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
