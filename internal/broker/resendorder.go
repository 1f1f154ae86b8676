package broker

import (
	"slices"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// orderResends numbers the in-flight messages of the session a reconnecting
// client takes over so that mochi resends them in the order they were
// first sent, as MQTT requires ([MQTT-4.6.0-1]). mochi (v2.7.9,
// ResendInflightMessages) sorts them by uint16(Created), Created being the
// second the broker received each message: messages of the same second come
// out in map order, and the truncation to 16 bits can put a later second
// first. Created is not on the wire and Portico sets no maximum message
// expiry that would read it, so it can carry the order instead: 1, 2, ...
// in the order of (Created, packet ID), packet IDs being handed out in
// sequence.
func orderResends(existing *mqtt.Client) {
	all := existing.State.Inflight.GetAll(false)
	if len(all) < 2 {
		return
	}
	// Packet IDs wrap from 65535 to 1: when both ends of the range are in
	// flight, the low ones came after the high ones.
	wrapped := slices.ContainsFunc(all, func(p packets.Packet) bool { return p.PacketID > 0xC000 }) &&
		slices.ContainsFunc(all, func(p packets.Packet) bool { return p.PacketID < 0x4000 })
	seq := func(p packets.Packet) int {
		if wrapped && p.PacketID < 0x4000 {
			return int(p.PacketID) + 0x10000
		}
		return int(p.PacketID)
	}
	slices.SortStableFunc(all, func(a, b packets.Packet) int {
		if a.Created != b.Created {
			if a.Created < b.Created {
				return -1
			}
			return 1
		}
		return seq(a) - seq(b)
	})
	for i, p := range all {
		p.Created = int64(i + 1)
		existing.State.Inflight.Set(p)
	}
}
