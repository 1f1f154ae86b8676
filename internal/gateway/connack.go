package gateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// maxRefusedConnect bounds the CONNECT packet read from a connection about
// to be refused (a CONNECT carries at most a will message of 128 KiB).
const maxRefusedConnect = 256 << 10

// refuseMQTT reads the client's CONNECT and answers with a CONNACK "not
// authorized" in the client's protocol version (MQTT 3.1/3.1.1 return code
// 5; MQTT 5 reason code 0x87 with reason as its reason string), then the
// caller closes the connection. The reason is logged.
func (g *Gateway) refuseMQTT(conn net.Conn, d *domainState, reason string) {
	conn.SetDeadline(time.Now().Add(g.cfg.ConnectTimeout))
	connect, err := readConnect(bufio.NewReader(conn))
	attrs := []any{"domain", d.Name, "remote", conn.RemoteAddr().String(), "reason", reason}
	if err != nil {
		g.cfg.Logger.Info("mqtt connection refused before CONNECT", append(attrs, "err", err)...)
		return
	}
	g.cfg.Logger.Info("mqtt connection refused: CONNACK not authorized", append(attrs, "client_id", connect.clientID, "protocol_level", connect.level)...)
	conn.Write(connack(connect.level, reason))
}

type connectPacket struct {
	level    byte // 3: MQTT 3.1, 4: 3.1.1, 5: 5.0
	clientID string
	// username and password, when the CONNECT carries them (decoded only
	// from a well-formed CONNECT).
	username    string
	hasUsername bool
	password    []byte
	hasPassword bool
}

var errNotConnect = errors.New("the first packet is not CONNECT")

// readConnect reads one CONNECT packet and decodes what the refusal needs.
func readConnect(r *bufio.Reader) (*connectPacket, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if first != 0x10 {
		return nil, errNotConnect
	}
	n, err := readVarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxRefusedConnect {
		return nil, fmt.Errorf("CONNECT of %d bytes is too large", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	p := &connectPacket{}
	name, rest, ok := mqttString(body)
	if !ok || (name != "MQTT" && name != "MQIsdp") || len(rest) < 4 {
		return nil, errors.New("malformed CONNECT")
	}
	flags := rest[1]
	p.level, rest = rest[0], rest[4:] // level, flags, keep alive
	if p.level == 5 {
		props, used := binary.Uvarint(rest)
		if used <= 0 || uint64(len(rest)-used) < props {
			return p, nil
		}
		rest = rest[used+int(props):]
	}
	if id, after, ok := mqttString(rest); ok {
		p.clientID = id
		connectCredentials(p, flags, after)
	}
	return p, nil
}

// readVarint reads an MQTT variable byte integer.
func readVarint(r io.ByteReader) (int, error) {
	v, shift := 0, 0
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
		shift += 7
	}
	return 0, errors.New("malformed remaining length")
}

func mqttString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

// ConnackCode is why a CONNACK refuses a connection.
type ConnackCode int

const (
	// NotAuthorized: MQTT 3.1.1 return code 5, MQTT 5 reason code 0x87.
	NotAuthorized ConnackCode = iota
	// BadCredentials: the username or password (or the token or signature
	// in them) is malformed or does not verify; 3.1.1: 4, MQTT 5: 0x86.
	BadCredentials
	// ServerUnavailable: the decision could not be made (the user's
	// function failed or answered nonsense); the device may retry later;
	// 3.1.1: 3, MQTT 5: 0x88.
	ServerUnavailable
)

// ConnectRefusal is an error that says which CONNACK refuses it; other
// errors refuse with NotAuthorized.
type ConnectRefusal struct {
	Code ConnackCode
	Err  error
}

func (r *ConnectRefusal) Error() string { return r.Err.Error() }
func (r *ConnectRefusal) Unwrap() error { return r.Err }

var connackCodes = [...]struct{ v311, v5 byte }{
	NotAuthorized:     {0x05, 0x87},
	BadCredentials:    {0x04, 0x86},
	ServerUnavailable: {0x03, 0x88},
}

// connackFor encodes the CONNACK that refuses err.
func connackFor(level byte, err error) []byte {
	code := NotAuthorized
	var r *ConnectRefusal
	if errors.As(err, &r) && int(r.Code) < len(connackCodes) {
		code = r.Code
	}
	return encodeConnack(level, code, err.Error())
}

// connack encodes CONNACK "not authorized" for the protocol level.
func connack(level byte, reason string) []byte { return encodeConnack(level, NotAuthorized, reason) }

// encodeConnack encodes a refusing CONNACK; MQTT 5 carries reason as its
// reason string.
func encodeConnack(level byte, code ConnackCode, reason string) []byte {
	c := connackCodes[code]
	if level != 5 {
		return []byte{0x20, 0x02, 0x00, c.v311}
	}
	if len(reason) > 512 {
		// Cut at a rune boundary: a reason string must be valid UTF-8.
		reason = strings.ToValidUTF8(reason[:512], "")
	}
	props := append([]byte{0x1F, byte(len(reason) >> 8), byte(len(reason))}, reason...) // reason string
	variable := append([]byte{0x00, c.v5}, binary.AppendUvarint(nil, uint64(len(props)))...)
	variable = append(variable, props...)
	return append(append([]byte{0x20}, binary.AppendUvarint(nil, uint64(len(variable)))...), variable...)
}
