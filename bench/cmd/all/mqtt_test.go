package main

import "testing"

func TestHeapLeaders(t *testing.T) {
	top := `Showing nodes accounting for 948MB, 1173.90% of 80.78MB total
      flat  flat%   sum%        cum   cum%
  948.31MB 1173.90% 1173.90%   960.00MB 1188.00%  github.com/mochi-mqtt/server/v2.newClient
   36.57MB 45.27% 1219.17%    36.57MB 45.27%  bufio.NewReaderSize (inline)
  -512kB  -0.62% 1218.55%    -512kB  -0.62%  runtime.malg`
	got := heapLeaders(top, 2, 15000)
	want := "`github.com/mochi-mqtt/server/v2.newClient` (64.7 KiB), `bufio.NewReaderSize` (2.5 KiB)"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
