package broker

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestMochiLogDropsSkips: mochi's debug line for a delivery the window keeps
// waiting is dropped; its other lines, failed writes included, are kept.
func TestMochiLogDropsSkips(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(mochiLog{slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})}).With("component", "mqtt")
	log.Debug(mochiWriteFailed, "error", fmt.Errorf("%w: %v", packets.ErrNoValidPacketAvailable, 0), "client", "c1")
	log.Debug(mochiWriteFailed, "error", packets.ErrPacketTooLarge, "client", "c2")
	log.Info("client connected", "client", "c3")
	got := out.String()
	if strings.Contains(got, "c1") || !strings.Contains(got, "c2") || !strings.Contains(got, "c3") || !strings.Contains(got, "component=mqtt") {
		t.Fatalf("log:\n%s", got)
	}
}
