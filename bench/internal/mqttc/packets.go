package mqttc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Packet types (the high nibble of the first byte).
const (
	TypeConnack  = 2
	TypePublish  = 3
	TypePuback   = 4
	TypeSuback   = 9
	TypePingresp = 13
)

// appendLength appends MQTT's variable-length remaining length.
func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// AppendPublish appends a PUBLISH (no retain, no dup) to b. id is used only
// for QoS 1.
func AppendPublish(b []byte, topic string, payload []byte, qos byte, id uint16) []byte {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	b = append(b, 0x30|qos<<1)
	b = appendLength(b, n)
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	if qos > 0 {
		b = append(b, byte(id>>8), byte(id))
	}
	return append(b, payload...)
}

// AppendPuback appends a PUBACK for id.
func AppendPuback(b []byte, id uint16) []byte {
	return append(b, 0x40, 0x02, byte(id>>8), byte(id))
}

// Subscribe encodes a SUBSCRIBE of one filter at qos with packet id.
func Subscribe(id uint16, filter string, qos byte) []byte {
	b := []byte{0x82}
	b = appendLength(b, 2+2+len(filter)+1)
	b = append(b, byte(id>>8), byte(id), byte(len(filter)>>8), byte(len(filter)))
	b = append(b, filter...)
	return append(b, qos)
}

// Packet is one packet read by Reader. Body aliases the reader's buffer:
// valid until the next Next.
type Packet struct {
	Type  byte
	Flags byte
	Body  []byte
}

// QoS of a PUBLISH.
func (p Packet) QoS() byte { return p.Flags >> 1 & 3 }

// Publish splits a PUBLISH's body into topic, packet ID (QoS > 0) and
// payload.
func (p Packet) Publish() (topic string, id uint16, payload []byte, err error) {
	b := p.Body
	if len(b) < 2 {
		return "", 0, nil, errors.New("mqttc: short PUBLISH")
	}
	n := int(b[0])<<8 | int(b[1])
	if len(b) < 2+n {
		return "", 0, nil, errors.New("mqttc: short PUBLISH topic")
	}
	topic, b = string(b[2:2+n]), b[2+n:]
	if p.QoS() > 0 {
		if len(b) < 2 {
			return "", 0, nil, errors.New("mqttc: PUBLISH without packet ID")
		}
		id, b = uint16(b[0])<<8|uint16(b[1]), b[2:]
	}
	return topic, id, b, nil
}

// ID is the packet identifier leading a PUBACK's or SUBACK's body.
func (p Packet) ID() uint16 {
	if len(p.Body) < 2 {
		return 0
	}
	return uint16(p.Body[0])<<8 | uint16(p.Body[1])
}

// Reader reads whole packets from a buffered stream, reusing one buffer.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader reads packets from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 32<<10)} }

// Next reads the next packet.
func (r *Reader) Next() (Packet, error) {
	h, err := r.r.ReadByte()
	if err != nil {
		return Packet{}, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		d, err := r.r.ReadByte()
		if err != nil {
			return Packet{}, err
		}
		n += int(d&0x7f) * mult
		if d&0x80 == 0 {
			break
		}
		if mult *= 128; i == 3 {
			return Packet{}, fmt.Errorf("mqttc: bad remaining length")
		}
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	body := r.buf[:n]
	if _, err := io.ReadFull(r.r, body); err != nil {
		return Packet{}, err
	}
	return Packet{Type: h >> 4, Flags: h & 0x0f, Body: body}, nil
}

// Buffered is how many bytes are read but not yet returned: zero means the
// next Next will wait on the network, the time to flush acknowledgements.
func (r *Reader) Buffered() int { return r.r.Buffered() }

// Whole reports whether the next packet is entirely buffered, so Next will
// not wait on the network: when it is not, pending acknowledgements must be
// flushed first, or client and broker may wait on each other.
func (r *Reader) Whole() bool {
	avail := r.r.Buffered()
	if avail < 2 {
		return false
	}
	hdr, _ := r.r.Peek(min(avail, 5))
	n, mult := 0, 1
	for i := 1; i < len(hdr); i++ {
		n += int(hdr[i]&0x7f) * mult
		if hdr[i]&0x80 == 0 {
			return avail >= 1+i+n
		}
		mult *= 128
	}
	return false
}
