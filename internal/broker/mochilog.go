package broker

import (
	"context"
	"errors"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiLog is the handler of mochi's logger. It drops the debug line
// mochi's write loop logs for each delivery the send window keeps waiting
// (sendwindow.go: the skip packet is refused by WritePacket, on purpose),
// which would otherwise flood a debug log under QoS 1 load.
type mochiLog struct{ slog.Handler }

const mochiWriteFailed = "failed publishing packet" // mochi v2.7.9, Client.WriteLoop

func (h mochiLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == mochiWriteFailed && skipped(r) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func skipped(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "error" && errors.Is(err, packets.ErrNoValidPacketAvailable) {
			found = true
			return false
		}
		return true
	})
	return found
}

func (h mochiLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return mochiLog{h.Handler.WithAttrs(attrs)}
}

func (h mochiLog) WithGroup(name string) slog.Handler { return mochiLog{h.Handler.WithGroup(name)} }
