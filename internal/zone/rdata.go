package zone

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// MaxValueLength is the longest ResourceRecord Value Route 53 accepts.
const MaxValueLength = 4000

// supportedTypes are the record types Portico serves, with their DNS type codes.
var supportedTypes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CAA": dns.TypeCAA, "CNAME": dns.TypeCNAME,
	"MX": dns.TypeMX, "NS": dns.TypeNS, "PTR": dns.TypePTR, "SOA": dns.TypeSOA,
	"SRV": dns.TypeSRV, "TXT": dns.TypeTXT,
}

// modelTypes is the RRType enumeration of the Route 53 model: types Route 53
// knows, some of which Portico does not serve yet.
var modelTypes = map[string]bool{
	"SOA": true, "A": true, "TXT": true, "NS": true, "CNAME": true, "MX": true, "NAPTR": true,
	"PTR": true, "SRV": true, "SPF": true, "AAAA": true, "CAA": true, "DS": true, "TLSA": true,
	"SSHFP": true, "SVCB": true, "HTTPS": true,
}

// valueProblem is a record value Route 53 refuses. Its text is one element
// of an InvalidChangeBatch message.
type valueProblem struct {
	code, explanation, value string
}

func (p *valueProblem) Error() string {
	return fmt.Sprintf("Invalid Resource Record: 'FATAL problem: %s (%s) encountered with '%s''", p.code, p.explanation, p.value)
}

// buildRR checks value as the RDATA of a record of type typ (in Route 53's
// value syntax) and returns the DNS record it denotes, owned by owner.
func buildRR(owner domainName, typ string, ttl uint32, value string) (dns.RR, error) {
	hdr := dns.RR_Header{Name: owner.presentation(), Rrtype: supportedTypes[typ], Class: dns.ClassINET, Ttl: ttl}
	bad := func(code, explanation string) error { return &valueProblem{code, explanation, value} }
	if len(value) > MaxValueLength {
		return nil, bad("ValueTooLong", "Value is too long")
	}
	fields := strings.Fields(value)
	switch typ {
	case "A":
		if len(fields) != 1 || fields[0] != value {
			return nil, bad("ARRDATANotSingleField", "Value contains spaces")
		}
		ip, err := netip.ParseAddr(value)
		if err != nil || !ip.Is4() {
			return nil, bad("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address")
		}
		return &dns.A{Hdr: hdr, A: net.IP(ip.AsSlice())}, nil
	case "AAAA":
		if len(fields) != 1 || fields[0] != value {
			return nil, bad("AAAARRDATANotSingleField", "Value contains spaces")
		}
		ip, err := netip.ParseAddr(value)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return nil, bad("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address")
		}
		return &dns.AAAA{Hdr: hdr, AAAA: net.IP(ip.AsSlice())}, nil
	case "CNAME", "NS", "PTR":
		if len(fields) != 1 || fields[0] != value {
			return nil, bad(typ+"RRDATANotSingleField", "Value contains spaces")
		}
		target, err := parseTargetName(value)
		if err != nil {
			return nil, err
		}
		switch typ {
		case "CNAME":
			return &dns.CNAME{Hdr: hdr, Target: target}, nil
		case "NS":
			return &dns.NS{Hdr: hdr, Ns: target}, nil
		default:
			return &dns.PTR{Hdr: hdr, Ptr: target}, nil
		}
	case "MX":
		if len(fields) != 2 {
			return nil, bad("MXRRDATANotTwoFields", "Value must be a priority and a mail server name")
		}
		pref, err := strconv.ParseUint(fields[0], 10, 16)
		if err != nil {
			return nil, bad("MXRRDATAIllegalPriority", "Priority must be an integer from 0 to 65535")
		}
		host, err := parseTargetName(fields[1])
		if err != nil {
			return nil, err
		}
		return &dns.MX{Hdr: hdr, Preference: uint16(pref), Mx: host}, nil
	case "SRV":
		if len(fields) != 4 {
			return nil, bad("SRVRRDATANotFourFields", "Value must be a priority, a weight, a port and a target")
		}
		var nums [3]uint16
		for i := range nums {
			n, err := strconv.ParseUint(fields[i], 10, 16)
			if err != nil {
				return nil, bad("SRVRRDATAIllegalNumber", "Priority, weight and port must be integers from 0 to 65535")
			}
			nums[i] = uint16(n)
		}
		target, err := parseTargetName(fields[3])
		if err != nil {
			return nil, err
		}
		return &dns.SRV{Hdr: hdr, Priority: nums[0], Weight: nums[1], Port: nums[2], Target: target}, nil
	case "SOA":
		if len(fields) != 7 {
			return nil, bad("SOARRDATANotSevenFields", "Value must be a primary name server, a responsible mailbox, a serial number and four timers")
		}
		mname, err := parseTargetName(fields[0])
		if err != nil {
			return nil, err
		}
		rname, err := parseTargetName(fields[1])
		if err != nil {
			return nil, err
		}
		var nums [5]uint32
		for i := range nums {
			n, err := strconv.ParseUint(fields[2+i], 10, 32)
			if err != nil {
				return nil, bad("SOARRDATAIllegalNumber", "Serial number and timers must be integers from 0 to 4294967295")
			}
			nums[i] = uint32(n)
		}
		return &dns.SOA{Hdr: hdr, Ns: mname, Mbox: rname, Serial: nums[0], Refresh: nums[1],
			Retry: nums[2], Expire: nums[3], Minttl: nums[4]}, nil
	case "TXT":
		strs, err := parseCharacterStrings(value, value)
		if err != nil {
			return nil, err
		}
		if len(strs) == 0 {
			return nil, bad("InvalidCharacterString", "Value should be enclosed in quotation marks")
		}
		txt := make([]string, len(strs))
		for i, s := range strs {
			txt[i] = escapeOctets(s)
		}
		return &dns.TXT{Hdr: hdr, Txt: txt}, nil
	case "CAA":
		return buildCAA(hdr, value)
	}
	return nil, bad("UnsupportedType", "Portico does not serve records of type "+typ)
}

func buildCAA(hdr dns.RR_Header, value string) (dns.RR, error) {
	bad := func(code, explanation string) error { return &valueProblem{code, explanation, value} }
	rest := strings.TrimLeft(value, " \t")
	flagsText, rest, ok := cutField(rest)
	if !ok {
		return nil, bad("CAARRDATAIllegalFormat", "Value must be flags, a tag and a quoted value")
	}
	tag, rest, ok := cutField(rest)
	if !ok {
		return nil, bad("CAARRDATAIllegalFormat", "Value must be flags, a tag and a quoted value")
	}
	flags, err := strconv.ParseUint(flagsText, 10, 8)
	if err != nil {
		return nil, bad("CAARRDATAIllegalFlags", "Flags must be an integer from 0 to 255")
	}
	if len(tag) > 15 || !isAlnum(tag) {
		return nil, bad("CAARRDATAIllegalTag", "Tag must be 1 to 15 letters or digits")
	}
	strs, err := parseCharacterStrings(rest, value)
	if err != nil {
		return nil, err
	}
	if len(strs) != 1 {
		return nil, bad("CAARRDATAIllegalFormat", "Value must be flags, a tag and a quoted value")
	}
	return &dns.CAA{Hdr: hdr, Flag: uint8(flags), Tag: tag, Value: escapeOctets(strs[0])}, nil
}

// cutField splits off the first whitespace-separated field of s.
func cutField(s string) (field, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i:], true
}

func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// parseTargetName reads a domain name inside RDATA; the root "." is allowed
// (a null MX or "no service" SRV target).
func parseTargetName(s string) (string, error) {
	n, err := parseName(s)
	if err != nil {
		p := err.(*nameProblem)
		return "", &valueProblem{p.code, p.explanation, s}
	}
	return n.presentation(), nil
}

// parseCharacterStrings reads one or more double-quoted strings separated by
// optional whitespace, as Route 53 wants TXT values: inside quotes \" and \\
// stand for themselves, \ooo (octal) for any octet. It returns the raw octets
// of each string. whole is the complete value, for messages.
func parseCharacterStrings(s, whole string) ([]string, error) {
	bad := func(code, explanation string) error { return &valueProblem{code, explanation, whole} }
	var out []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		if s[i] != '"' {
			return nil, bad("InvalidCharacterString", "Value should be enclosed in quotation marks")
		}
		i++
		var str []byte
		closed := false
		for i < len(s) {
			c := s[i]
			if c == '"' {
				closed = true
				i++
				break
			}
			if c < ' ' || c > '~' {
				return nil, bad("UnsupportedCharacter", "Value contains unsupported characters")
			}
			if c == '\\' {
				if i+1 >= len(s) {
					break
				}
				if i+3 < len(s) && s[i+1] <= '3' && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
					c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
					i += 3
				} else {
					c = s[i+1]
					i++
				}
			}
			str = append(str, c)
			i++
		}
		if !closed {
			return nil, bad("InvalidCharacterString", "Value should be enclosed in quotation marks")
		}
		if len(str) > 255 {
			return nil, bad("CharacterStringTooLong", "Value is too long")
		}
		out = append(out, string(str))
	}
}

// escapeOctets writes raw octets the way miekg/dns expects character-strings
// in its structs: quote and backslash escaped, unprintable octets as \DDD.
func escapeOctets(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, `\%03d`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
