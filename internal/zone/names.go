package zone

import (
	"fmt"
	"strings"
)

// domainName is a parsed DNS name: its labels as raw octets, ASCII letters
// folded to lower case, leftmost label first. The root name has no labels.
type domainName []string

// maxNameWire is the longest name in wire form (RFC 1035 section 2.3.4).
const maxNameWire = 255

// nameProblem is a name Route 53 refuses, worded the way Route 53 words it:
// "FATAL problem: <Code> (<explanation>) encountered with '<input>'".
type nameProblem struct {
	code, explanation, input string
}

func (p *nameProblem) Error() string {
	return fmt.Sprintf("FATAL problem: %s (%s) encountered with '%s'", p.code, p.explanation, p.input)
}

// parseName reads a name in Route 53's input syntax: a trailing dot is
// optional, letters are case-insensitive, and any octet may be written as a
// three-digit octal escape (\052 for '*'). Raw characters must be printable
// ASCII; everything else (including a literal dot inside a label) needs an
// escape. "." alone is the root.
func parseName(s string) (domainName, error) {
	if s == "" {
		return nil, &nameProblem{"DomainNameEmpty", "Domain name is empty", s}
	}
	if s == "." {
		return domainName{}, nil
	}
	body := s
	body = strings.TrimSuffix(body, ".")
	var labels domainName
	var label []byte
	wire := 1
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '.':
			if len(label) == 0 {
				return nil, &nameProblem{"DomainLabelEmpty", "Domain label is empty", s}
			}
			labels = append(labels, string(label))
			wire += len(label) + 1
			label = label[:0]
			continue
		case c == '\\':
			if i+3 >= len(body) || !isOctal(body[i+1]) || !isOctal(body[i+2]) || !isOctal(body[i+3]) || body[i+1] > '3' {
				return nil, &nameProblem{"InvalidEscapeSequence", "Escape codes must be a backslash followed by three octal digits", s}
			}
			c = (body[i+1]-'0')<<6 | (body[i+2]-'0')<<3 | (body[i+3] - '0')
			i += 3
		case c <= ' ' || c > '~':
			return nil, &nameProblem{"UnsupportedCharacter", "Value contains unsupported characters", s}
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		label = append(label, c)
		if len(label) > 63 {
			return nil, &nameProblem{"DomainLabelTooLong", "Domain label is too long", s}
		}
	}
	if len(label) == 0 {
		return nil, &nameProblem{"DomainLabelEmpty", "Domain label is empty", s}
	}
	labels = append(labels, string(label))
	wire += len(label) + 1
	if wire > maxNameWire {
		return nil, &nameProblem{"DomainNameTooLong", "Domain name is too long", s}
	}
	return labels, nil
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// String is the name as Route 53 prints it: lower case, a trailing dot, and
// every octet other than a-z, 0-9, '-' and '_' as a three-digit octal escape
// (a wildcard comes back as \052.example.com.).
func (n domainName) String() string {
	if len(n) == 0 {
		return "."
	}
	var b strings.Builder
	for _, l := range n {
		writeRoute53Label(&b, l)
		b.WriteByte('.')
	}
	return b.String()
}

func writeRoute53Label(b *strings.Builder, l string) {
	for i := 0; i < len(l); i++ {
		c := l[i]
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(b, `\%03o`, c)
	}
}

// sortKey is the name with its labels reversed, each in Route 53's printed
// form, joined and ended by dots ("com.example.www."). Route 53 lists record
// sets and hosted zones in the ASCII order of this key.
func (n domainName) sortKey() string {
	if len(n) == 0 {
		return "."
	}
	var b strings.Builder
	for i := len(n) - 1; i >= 0; i-- {
		writeRoute53Label(&b, n[i])
		b.WriteByte('.')
	}
	return b.String()
}

// presentation is the name in DNS master-file syntax as github.com/miekg/dns
// writes it: special characters backslash-escaped, unprintable octets as
// decimal \DDD escapes, with a trailing dot.
func (n domainName) presentation() string {
	if len(n) == 0 {
		return "."
	}
	var b strings.Builder
	for _, l := range n {
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c == '.' || c == ' ' || c == '\'' || c == '@' || c == ';' || c == '(' || c == ')' || c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c > '~':
				fmt.Fprintf(&b, `\%03d`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}

// within reports whether n is zone or a name below it.
func (n domainName) within(zone domainName) bool {
	if len(n) < len(zone) {
		return false
	}
	off := len(n) - len(zone)
	for i, l := range zone {
		if n[off+i] != l {
			return false
		}
	}
	return true
}

func (n domainName) equal(o domainName) bool { return len(n) == len(o) && n.within(o) }

// isWildcard reports whether the leftmost label is "*".
func (n domainName) isWildcard() bool { return len(n) > 0 && n[0] == "*" }

// Presentation converts a name in Route 53's printed form (octal escapes,
// as RecordSet.Name and AliasTarget.DNSName hold them) to DNS master-file
// syntax, the form github.com/miekg/dns reads.
func Presentation(route53Name string) (string, error) {
	n, err := parseName(route53Name)
	if err != nil {
		return "", err
	}
	return n.presentation(), nil
}
