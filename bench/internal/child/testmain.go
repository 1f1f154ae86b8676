package child

import (
	"os"
	"testing"
)

// TestMain lets a test binary serve as the child processes it starts: call
// it from the package's TestMain.
func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}
