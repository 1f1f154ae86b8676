package policy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Env is the context of one connection that policies are evaluated in: who
// connected, with which client ID, as which thing. Build it once per
// connection (after CONNECT) and reuse it for every request of that
// connection; it is read-only during evaluation and safe for concurrent use.
type Env struct {
	// Region and Account make the resource ARNs of requests
	// (arn:aws:iot:<Region>:<Account>:<kind>/<name>).
	Region, Account string
	// ClientID is the MQTT client ID (${iot:ClientId}).
	ClientID string
	// SourceIP is the client's address (aws:SourceIp); the zero value means
	// unknown.
	SourceIP netip.Addr
	// DomainName is the domain the client connected to (iot:DomainName);
	// empty when unknown.
	DomainName string
	// Thing is the registry thing the connection acts as, or nil. See
	// ResolveThing.
	Thing *Thing
	// Certificate holds the client certificate's policy variables, or nil
	// for a connection without one. See CertificateVars.
	Certificate *CertificateVars
	// Now is the time of evaluation for aws:CurrentTime and aws:EpochTime;
	// the zero time means time.Now.
	Now time.Time
	// Keys holds further context keys by lower-case name (for example
	// "iot:connectattributes"), each with its values.
	Keys map[string][]string
}

// Thing is a registry thing as policies see it.
type Thing struct {
	Name       string
	TypeName   string
	Attributes map[string]string
}

// ResolveThing picks the thing a connection acts as, the way AWS IoT does:
// the attached thing whose name is the client ID; failing that, the one
// thing attached exclusively (EXCLUSIVE_THING) to the certificate. Anything
// else (no thing, or several and none named like the client) resolves to
// nil, and the thing variables stay unresolved.
func ResolveThing(clientID string, attached []Thing, exclusive func(i int) bool) *Thing {
	for i := range attached {
		if attached[i].Name == clientID {
			return &attached[i]
		}
	}
	if len(attached) == 1 && exclusive != nil && exclusive(0) {
		return &attached[0]
	}
	return nil
}

func (e *Env) now() time.Time {
	if e.Now.IsZero() {
		return time.Now()
	}
	return e.Now
}

// Limits AWS puts on certificate policy variables.
const (
	// maxCertValues is how many values of a multi-valued attribute are kept.
	maxCertValues = 5
	// maxCertValueLen is the longest value substituted.
	maxCertValueLen = 1024
)

// CertificateVars are the ${iot:Certificate.*} variables of a certificate,
// keyed by lower-case name without the "iot:certificate." prefix
// ("subject.commonname", "issuer.organization",
// "subject.alternativename.dnsname", "serialnumber"), each with up to five
// values in certificate order.
type CertificateVars struct {
	values map[string][]string
	keys   []string // names with values, in AWS spelling, for AvailableKeys
}

// Values returns the values of a certificate variable named as in a policy
// without the "iot:Certificate." prefix ("Subject.CommonName").
func (c *CertificateVars) Values(name string) []string {
	if c == nil {
		return nil
	}
	return c.values[strings.ToLower(name)]
}

// NewCertificateVars reads the policy variables of a certificate: subject and
// issuer attributes, subject and issuer alternative names, and the serial
// number in decimal.
func NewCertificateVars(cert *x509.Certificate) *CertificateVars {
	c := &CertificateVars{values: map[string][]string{}}
	add := func(name string, vals ...string) {
		for _, v := range vals {
			if v == "" {
				continue
			}
			k := strings.ToLower(name)
			if len(c.values[k]) >= maxCertValues {
				continue
			}
			if len(c.values[k]) == 0 {
				c.keys = append(c.keys, "iot:Certificate."+name)
			}
			c.values[k] = append(c.values[k], v)
		}
	}
	addName := func(prefix string, n pkix.Name) {
		for _, atv := range n.Names {
			field, ok := dnFields[atv.Type.String()]
			if !ok {
				continue
			}
			if s, ok := atv.Value.(string); ok {
				add(prefix+"."+field, s)
			}
		}
	}
	addName("Subject", cert.Subject)
	addName("Issuer", cert.Issuer)
	add("Subject.AlternativeName.DNSName", cert.DNSNames...)
	add("Subject.AlternativeName.RFC822Name", cert.EmailAddresses...)
	for _, ip := range cert.IPAddresses {
		add("Subject.AlternativeName.IPAddress", ip.String())
	}
	for _, u := range cert.URIs {
		add("Subject.AlternativeName.UniformResourceIdentifier", u.String())
	}
	if cert.SerialNumber != nil {
		add("SerialNumber", cert.SerialNumber.String())
	}
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(oidIssuerAltName) {
			addIssuerAltNames(add, ext.Value)
		}
	}
	return c
}

var oidIssuerAltName = asn1.ObjectIdentifier{2, 5, 29, 18}

// addIssuerAltNames decodes the DNS, e-mail, URI and IP names of an
// IssuerAltName extension; other name forms are skipped.
func addIssuerAltNames(add func(string, ...string), der []byte) {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 || !seq.IsCompound {
		return
	}
	rest := seq.Bytes
	for len(rest) > 0 {
		var v asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			return
		}
		if v.Class != asn1.ClassContextSpecific {
			continue
		}
		switch v.Tag {
		case 1:
			add("Issuer.AlternativeName.RFC822Name", string(v.Bytes))
		case 2:
			add("Issuer.AlternativeName.DNSName", string(v.Bytes))
		case 6:
			add("Issuer.AlternativeName.UniformResourceIdentifier", string(v.Bytes))
		case 7:
			if ip, ok := netip.AddrFromSlice(v.Bytes); ok {
				add("Issuer.AlternativeName.IPAddress", ip.String())
			}
		}
	}
}

// dnFields maps the attribute OIDs of a distinguished name to the field
// names of AWS's certificate policy variables.
var dnFields = map[string]string{
	"2.5.4.46": "DistinguishedNameQualifier",
	"2.5.4.6":  "Country",
	"2.5.4.10": "Organization",
	"2.5.4.11": "OrganizationalUnit",
	"2.5.4.8":  "State",
	"2.5.4.3":  "CommonName",
	"2.5.4.5":  "SerialNumber",
	"2.5.4.12": "Title",
	"2.5.4.4":  "Surname",
	"2.5.4.42": "GivenName",
	"2.5.4.43": "Initials",
	"2.5.4.65": "Pseudonym",
	"2.5.4.44": "GenerationQualifier",
}

// refKind says where a context key or variable takes its value from.
type refKind uint8

const (
	refUnknown refKind = iota // a key Portico does not know: never present
	refClientID
	refSourceIP
	refDomainName
	refThingName
	refThingType
	refThingAttached
	refThingAttribute
	refCertificate
	refCertificateKeys
	refCurrentTime
	refEpochTime
	refSecureTransport
	refKeys // Env.Keys
)

// ref is a compiled context key: ${iot:ClientId} in a resource, or
// "iot:Connection.Thing.ThingName" in a condition.
type ref struct {
	name  string // as written
	kind  refKind
	field string // attribute name, certificate field (lower case) or Keys name
	index int    // certificate value index (".1" is the second value)
	list  bool   // ".List": all values
}

// fixedRefs are the context keys and variables with a fixed name, in lower
// case.
var fixedRefs = map[string]refKind{
	"iot:clientid":                       refClientID,
	"aws:sourceip":                       refSourceIP,
	"iot:domainname":                     refDomainName,
	"iot:connection.thing.thingname":     refThingName,
	"iot:connection.thing.thingtypename": refThingType,
	"iot:connection.thing.isattached":    refThingAttached,
	"iot:certificate.availablekeys":      refCertificateKeys,
	"aws:currenttime":                    refCurrentTime,
	"aws:epochtime":                      refEpochTime,
	"aws:securetransport":                refSecureTransport,
}

const (
	thingAttributesPrefix = "iot:connection.thing.attributes["
	certificatePrefix     = "iot:certificate."
)

// parseRef compiles a context key or variable name. Prefixes are matched
// case-insensitively, as IAM does; thing attribute names are case-sensitive.
func parseRef(name string) (*ref, error) {
	if name == "" {
		return nil, malformed("a policy variable has an empty name: ${}")
	}
	r := &ref{name: name}
	lower := strings.ToLower(name)
	if kind, ok := fixedRefs[lower]; ok {
		r.kind = kind
		return r, nil
	}
	switch {
	case strings.HasPrefix(lower, thingAttributesPrefix) && strings.HasSuffix(lower, "]"):
		r.kind = refThingAttribute
		r.field = name[len(thingAttributesPrefix) : len(name)-1]
		if r.field == "" {
			return nil, malformed("the thing attribute variable %q names no attribute", name)
		}
	case strings.HasPrefix(lower, certificatePrefix):
		r.kind = refCertificate
		field := lower[len(certificatePrefix):]
		if f, ok := strings.CutSuffix(field, ".list"); ok {
			field, r.list = f, true
		} else if dot := strings.LastIndexByte(field, '.'); dot > 0 {
			if n, err := strconv.Atoi(field[dot+1:]); err == nil && n >= 0 {
				field, r.index = field[:dot], n
			}
		}
		r.field = field
	default:
		r.kind = refKeys
		r.field = lower
	}
	return r, nil
}

// values returns the key's values in env and whether the key is present.
func (r *ref) values(env *Env) ([]string, bool) {
	var buf [1]string
	vals, ok := r.valuesInto(env, &buf)
	if ok && len(vals) == 1 && &vals[0] == &buf[0] {
		return []string{buf[0]}, true
	}
	return vals, ok
}

// valuesInto is values without allocating: a single value is returned in
// buf.
func (r *ref) valuesInto(env *Env, buf *[1]string) ([]string, bool) {
	if env == nil {
		return nil, false
	}
	switch r.kind {
	case refCertificate:
		if env.Certificate == nil {
			return nil, false
		}
		vals := env.Certificate.values[r.field]
		if len(vals) == 0 {
			return nil, false
		}
		if r.list {
			return vals, true
		}
		if r.index >= len(vals) {
			return nil, false
		}
		return vals[r.index : r.index+1], true
	case refCertificateKeys:
		if env.Certificate == nil || len(env.Certificate.keys) == 0 {
			return nil, false
		}
		return env.Certificate.keys, true
	case refKeys:
		v, ok := env.Keys[r.field]
		return v, ok && len(v) > 0
	case refThingAttribute:
		if env.Thing == nil {
			return nil, false
		}
		v, ok := env.Thing.Attributes[r.field]
		if !ok {
			return nil, false
		}
		buf[0] = v
		return buf[:], true
	}
	s, ok := r.single(env)
	if !ok || s == "" {
		return nil, false
	}
	buf[0] = s
	return buf[:], true
}

// single returns the key's one value for substitution into a pattern. A
// multi-valued key (".List", AvailableKeys, a multi-valued Keys entry) does
// not substitute. A certificate value holding a wildcard character or longer
// than 1024 characters does not substitute either, as with AWS.
func (r *ref) single(env *Env) (string, bool) {
	if env == nil {
		return "", false
	}
	switch r.kind {
	case refClientID:
		return env.ClientID, env.ClientID != ""
	case refSourceIP:
		if !env.SourceIP.IsValid() {
			return "", false
		}
		return env.SourceIP.String(), true
	case refDomainName:
		return env.DomainName, env.DomainName != ""
	case refThingName:
		if env.Thing == nil {
			return "", false
		}
		return env.Thing.Name, true
	case refThingType:
		if env.Thing == nil || env.Thing.TypeName == "" {
			return "", false
		}
		return env.Thing.TypeName, true
	case refThingAttached:
		if env.Thing == nil {
			return "false", true
		}
		return "true", true
	case refThingAttribute:
		if env.Thing == nil {
			return "", false
		}
		v, ok := env.Thing.Attributes[r.field]
		return v, ok
	case refCertificate:
		if r.list || env.Certificate == nil {
			return "", false
		}
		vals := env.Certificate.values[r.field]
		if r.index >= len(vals) {
			return "", false
		}
		v := vals[r.index]
		if len(v) > maxCertValueLen || strings.ContainsAny(v, "*$+?#") {
			return "", false
		}
		return v, true
	case refCurrentTime:
		return env.now().UTC().Format(time.RFC3339), true
	case refEpochTime:
		return strconv.FormatInt(env.now().Unix(), 10), true
	case refSecureTransport:
		// Devices reach Portico over TLS only.
		return "true", true
	case refKeys:
		v := env.Keys[r.field]
		if len(v) != 1 {
			return "", false
		}
		return v[0], true
	}
	return "", false
}
