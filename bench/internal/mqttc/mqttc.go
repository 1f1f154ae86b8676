// Package mqttc is the smallest MQTT 3.1.1 client the benchmarks need:
// CONNECT and CONNACK, PINGREQ and PINGRESP, DISCONNECT, written by hand so
// the load generator spends its CPU on TLS, not on a client library.
package mqttc

import (
	"errors"
	"fmt"
	"io"
)

// Connect encodes a CONNECT with a clean session, no credentials and the
// given keep-alive in seconds.
func Connect(clientID string, keepAlive uint16) []byte {
	return ConnectWithCredentials(clientID, "", nil, keepAlive)
}

// ConnectWithCredentials is Connect with a username and password when
// username is not empty: what a device presenting a custom authorizer's
// credentials sends.
func ConnectWithCredentials(clientID, username string, password []byte, keepAlive uint16) []byte {
	flags := byte(0x02) // clean session
	payload := appendString(nil, clientID)
	if username != "" {
		flags |= 0x80 | 0x40
		payload = appendString(payload, username)
		payload = appendString(payload, string(password))
	}
	variable := []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, byte(keepAlive >> 8), byte(keepAlive)}
	out := appendLength([]byte{0x10}, len(variable)+len(payload))
	out = append(out, variable...)
	return append(out, payload...)
}

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

// Pingreq, Pingresp and Disconnect are the fixed two-byte packets.
var (
	Pingreq    = []byte{0xC0, 0x00}
	Pingresp   = []byte{0xD0, 0x00}
	Disconnect = []byte{0xE0, 0x00}
)

// ReadConnack reads a CONNACK and fails unless it accepts the connection.
func ReadConnack(r io.Reader) error {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if b[0] != 0x20 || b[1] != 0x02 {
		return fmt.Errorf("mqttc: not a CONNACK: % x", b)
	}
	if b[3] != 0 {
		return fmt.Errorf("mqttc: CONNACK return code %d", b[3])
	}
	return nil
}

// ErrUnexpected is a packet other than the one awaited.
var ErrUnexpected = errors.New("mqttc: unexpected packet")

// ReadPingresp reads a PINGRESP.
func ReadPingresp(r io.Reader) error {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if b != [2]byte{0xD0, 0x00} {
		return fmt.Errorf("%w: % x", ErrUnexpected, b)
	}
	return nil
}
