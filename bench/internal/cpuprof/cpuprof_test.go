package cpuprof

import "testing"

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		frames []string
		want   string
	}{
		{[]string{"p256MulInternal", "crypto/internal/fips140/nistec.p256PointDoubleAsm", "crypto/tls.(*serverHandshakeStateTLS13).sendServerCertificate"}, PKC},
		{[]string{"runtime.memclrNoHeapPointers", "runtime.mallocgc", "github.com/mochi-mqtt/server/v2.newClient"}, GC},
		{[]string{"runtime.mapaccess1_faststr", "github.com/portico-iot/portico/internal/gateway.(*snapshot).lookup", "crypto/tls.(*Conn).serverHandshake"}, Gateway},
		{[]string{"crypto/internal/fips140/sha256.blockSHANI", "github.com/portico-iot/portico/internal/device.(*Snapshot).Lookup"}, "hashing and symmetric crypto"},
		{[]string{"runtime.futex", "runtime.findRunnable", "runtime.schedule"}, "scheduler and other runtime"},
		{[]string{"unknown.func"}, Other},
	} {
		if got := Classify(c.frames); got != c.want {
			t.Errorf("Classify(%q) = %q, want %q", c.frames[0], got, c.want)
		}
	}
}
