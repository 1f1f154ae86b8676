package broker

// Every part of mochi-mqtt's unexported server that Portico uses, in one
// place. attach.go runs a connection with them: mochi's own attachClient
// keeps two goroutines on every connection for its whole life, and Portico
// runs the same steps, in the same order, with its own read and write
// loops (park.go, writer.go); sendwindow.go flushes with flushOutbuf,
// backpressure.go reads the queue's length, and fanout.go delivers with
// publishToClient. Pinned to mochi v2.7.9
// (go.mod): a newer mochi fails to link (a renamed function), or makes New
// fail naming the field it no longer finds (a renamed or retyped one).

import (
	"bufio"
	"fmt"
	"reflect"
	"unsafe"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

//go:linkname serverValidateConnect github.com/mochi-mqtt/server/v2.(*Server).validateConnect
func serverValidateConnect(s *mqtt.Server, cl *mqtt.Client, pk packets.Packet) packets.Code

//go:linkname serverInheritClientSession github.com/mochi-mqtt/server/v2.(*Server).inheritClientSession
func serverInheritClientSession(s *mqtt.Server, pk packets.Packet, cl *mqtt.Client) bool

//go:linkname serverReceivePacket github.com/mochi-mqtt/server/v2.(*Server).receivePacket
func serverReceivePacket(s *mqtt.Server, cl *mqtt.Client, pk packets.Packet) error

//go:linkname serverSendLWT github.com/mochi-mqtt/server/v2.(*Server).sendLWT
func serverSendLWT(s *mqtt.Server, cl *mqtt.Client)

// serverPublishToClient and serverRetainMessage are the steps of mochi's
// publishToSubscribers and processPublish that fanout.go runs itself.
//
//go:linkname serverPublishToClient github.com/mochi-mqtt/server/v2.(*Server).publishToClient
func serverPublishToClient(s *mqtt.Server, cl *mqtt.Client, sub packets.Subscription, pk packets.Packet) (packets.Packet, error)

//go:linkname serverRetainMessage github.com/mochi-mqtt/server/v2.(*Server).retainMessage
func serverRetainMessage(s *mqtt.Server, cl *mqtt.Client, pk packets.Packet)

// clientFlushOutbuf is mochi's (*Client).flushOutbuf, which writes the
// client's buffered packets: mochi exports no way to flush them, and it
// flushes only when its write loop's queue is empty. Pinned to mochi
// v2.7.9 (go.mod); TestInflightLimit and TestBurstBeyondInflightDelivered
// stall if it stops working.
//
//go:linkname clientFlushOutbuf github.com/mochi-mqtt/server/v2.(*Client).flushOutbuf
func clientFlushOutbuf(cl *mqtt.Client) error

// mochiServer is what attach.go needs of one mochi server beyond its
// exported API.
type mochiServer struct {
	hooks       *mqtt.Hooks      // Server.hooks
	willDelayed *packets.Packets // Server.loop.willDelayed
}

// field is the address of the unexported field name of the struct v
// points to, checked to be of type T.
func field[T any](v reflect.Value, name string) (*T, error) {
	f := v.Elem().FieldByName(name)
	if !f.IsValid() || f.Type() != reflect.TypeFor[T]() {
		return nil, fmt.Errorf("broker: mochi-mqtt has no %s %s field (pinned to v2.7.9)", name, reflect.TypeFor[T]())
	}
	return (*T)(unsafe.Pointer(f.UnsafeAddr())), nil
}

func mochiInternals(srv *mqtt.Server) (mochiServer, error) {
	hooks, err := field[*mqtt.Hooks](reflect.ValueOf(srv), "hooks")
	if err != nil {
		return mochiServer{}, err
	}
	loop := reflect.ValueOf(srv).Elem().FieldByName("loop")
	if !loop.IsValid() || loop.Kind() != reflect.Pointer || loop.IsNil() {
		return mochiServer{}, fmt.Errorf("broker: mochi-mqtt has no loop field (pinned to v2.7.9)")
	}
	willDelayed, err := field[*packets.Packets](loop, "willDelayed")
	if err != nil {
		return mochiServer{}, err
	}
	if !bconnFound {
		return mochiServer{}, fmt.Errorf("broker: mochi-mqtt's ClientConnection has no bconn *bufio.Reader field (pinned to v2.7.9)")
	}
	if !outboundFound {
		return mochiServer{}, fmt.Errorf("broker: mochi-mqtt's ClientState has no outbound chan *packets.Packet field (pinned to v2.7.9)")
	}
	return mochiServer{hooks: *hooks, willDelayed: *willDelayed}, nil
}

// offsetOf locates the unexported field name, of type T, in struct S.
func offsetOf[S, T any](name string) (uintptr, bool) {
	f, ok := reflect.TypeFor[S]().FieldByName(name)
	if !ok || f.Type != reflect.TypeFor[T]() {
		return 0, false
	}
	return f.Offset, true
}

var (
	// ClientConnection.bconn: the client's read buffer.
	bconnField, bconnFound = offsetOf[mqtt.ClientConnection, *bufio.Reader]("bconn")
	// ClientState.outbound: the client's queue of deliveries, set when
	// mochi creates the client and never changed.
	outboundField, outboundFound = offsetOf[mqtt.ClientState, chan *packets.Packet]("outbound")
)

// readBuffer is cl's read buffer: what mochi's ReadFixedHeader reads from.
func readBuffer(cl *mqtt.Client) *bufio.Reader { return *readBufferField(cl) }

func readBufferField(cl *mqtt.Client) **bufio.Reader {
	return (**bufio.Reader)(unsafe.Add(unsafe.Pointer(&cl.Net), bconnField))
}

// outboundOf is cl's queue of deliveries (see backpressure.go).
func outboundOf(cl *mqtt.Client) chan *packets.Packet {
	return *(*chan *packets.Packet)(unsafe.Add(unsafe.Pointer(&cl.State), outboundField))
}
