package broker

import (
	"slices"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestOrderResends: after orderResends, mochi's resend order (GetAll,
// sorted by uint16(Created)) is the order first sent: by second, then by
// packet ID, across the wrap from 65535 to 1.
func TestOrderResends(t *testing.T) {
	cl := &mqtt.Client{State: mqtt.ClientState{Inflight: mqtt.NewInflights()}}
	const second = 0x6A18_FFFF // uint16(second+1) is 0: mochi alone would resend that second first
	for _, p := range []struct {
		id      uint16
		created int64
	}{{2, second}, {65535, second}, {1, second}, {65534, second}, {7, second - 1}, {3, second + 1}} {
		cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: p.id, Created: p.created})
	}
	orderResends(cl)
	var got []uint16
	for _, p := range cl.State.Inflight.GetAll(false) {
		got = append(got, p.PacketID)
	}
	if want := []uint16{7, 65534, 65535, 1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("resend order %v, want %v", got, want)
	}
}
