package customauthbench

// connectPacket encodes an MQTT 3.1.1 CONNECT with a clean session, the
// given keep-alive, and a username and password when username is not
// empty: what a device presenting a custom authorizer's credentials sends.
func connectPacket(clientID, username string, password []byte, keepAlive uint16) []byte {
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
