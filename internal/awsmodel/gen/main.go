// Command gen writes iot.json.gz, the AWS IoT control-plane service model as
// Portico serves it: the stock botocore model (service-2.json of the newest
// API version) with Portico's documented extensions.
//
//	go generate ./internal/awsmodel
//
// The extensions (docs/compatibility.md):
//   - UpdateDomainConfigurationRequest gains serverCertificateArns (shape
//     ServerCertificateArns), which replaces a configuration's certificates;
//   - the ServerCertificateArns list takes up to 4 ARNs instead of 1.
//
// Everything else, member order included, is botocore's. The botocore
// directory comes from -botocore, else from the python3 that has botocore
// installed; the generated file needs neither.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/portico-iot/portico/internal/botocoremodel"
)

// MaxServerCertificates mirrors endpoint.MaxServerCertificates; the
// generator stays free of Portico's packages so it runs from a bare model.
const MaxServerCertificates = 4

func main() {
	log.SetFlags(0)
	log.SetPrefix("awsmodel/gen: ")
	out := flag.String("out", "iot.json.gz", "file to write")
	data := flag.String("botocore", "", "botocore package directory (holding data/); default: ask python3")
	flag.Parse()

	dir, err := botocoremodel.Dir(*data)
	if err != nil {
		log.Fatal(err)
	}
	raw, apiVersion, err := botocoremodel.NewestModel(dir, "iot")
	if err != nil {
		log.Fatal(err)
	}
	model, err := Extend(raw)
	if err != nil {
		log.Fatal(err)
	}
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	// No name or time in the header: the output depends only on the model.
	zw.Comment = fmt.Sprintf("botocore %s iot %s with Portico extensions", botocoremodel.Version(dir), apiVersion)
	if _, err := zw.Write(model); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// Extend applies Portico's extensions to the stock iot model and returns it
// indented, with every object's keys in their original order.
func Extend(raw []byte) ([]byte, error) {
	var top object
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var shapes object
	if err := top.get("shapes", &shapes); err != nil {
		return nil, err
	}

	// The list takes up to four ARNs.
	var list object
	if err := shapes.get("ServerCertificateArns", &list); err != nil {
		return nil, err
	}
	if err := list.set("max", MaxServerCertificates); err != nil {
		return nil, err
	}
	if err := shapes.set("ServerCertificateArns", list); err != nil {
		return nil, err
	}

	// CreateDomainConfiguration's member documents the higher limit.
	if err := editMember(shapes, "CreateDomainConfigurationRequest", "serverCertificateArns", func(m *object) error {
		var doc string
		if err := m.get("documentation", &doc); err != nil {
			return err
		}
		return m.set("documentation", doc+fmt.Sprintf(" <p><b>Portico:</b> up to %d certificates, for example an RSA and an ECDSA certificate, or the old and the new one during a rotation. The device's TLS handshake selects the one it supports.</p>", MaxServerCertificates))
	}); err != nil {
		return nil, err
	}

	// UpdateDomainConfiguration gains serverCertificateArns.
	var update object
	if err := shapes.get("UpdateDomainConfigurationRequest", &update); err != nil {
		return nil, err
	}
	var members object
	if err := update.get("members", &members); err != nil {
		return nil, err
	}
	if _, exists := members.vals["serverCertificateArns"]; exists {
		return nil, errors.New("UpdateDomainConfigurationRequest already has serverCertificateArns: botocore now models it; review the extension")
	}
	type member struct {
		Shape         string `json:"shape"`
		Documentation string `json:"documentation"`
	}
	if err := members.set("serverCertificateArns", member{
		Shape: "ServerCertificateArns",
		Documentation: fmt.Sprintf("<p><b>Portico extension</b> (not in AWS IoT): replaces the server certificates of a customer-managed domain configuration with these ACM certificate ARNs, up to %d. "+
			"Each must be ISSUED and cover the configuration's domain name. Devices get the new certificates on their next TLS handshake. "+
			"Not allowed for AWS-managed configurations and default endpoints.</p>", MaxServerCertificates),
	}); err != nil {
		return nil, err
	}
	if err := update.set("members", members); err != nil {
		return nil, err
	}
	if err := shapes.set("UpdateDomainConfigurationRequest", update); err != nil {
		return nil, err
	}
	if err := top.set("shapes", shapes); err != nil {
		return nil, err
	}

	var compact, out bytes.Buffer
	if err := encode(&compact, top); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, bytes.TrimSpace(compact.Bytes()), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func editMember(shapes object, shape, member string, edit func(*object) error) error {
	var s, members, m object
	if err := shapes.get(shape, &s); err != nil {
		return err
	}
	if err := s.get("members", &members); err != nil {
		return fmt.Errorf("%s: %w", shape, err)
	}
	if err := members.get(member, &m); err != nil {
		return fmt.Errorf("%s: %w", shape, err)
	}
	if err := edit(&m); err != nil {
		return fmt.Errorf("%s.%s: %w", shape, member, err)
	}
	if err := members.set(member, m); err != nil {
		return err
	}
	if err := s.set("members", members); err != nil {
		return err
	}
	return shapes.set(shape, s)
}

// object is a JSON object that keeps its keys in order; values stay raw until
// asked for.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func (o *object) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("not a JSON object")
	}
	o.keys, o.vals = nil, map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("object key is %T", t)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := o.vals[key]; dup {
			return fmt.Errorf("key %q appears twice", key)
		}
		o.keys = append(o.keys, key)
		o.vals[key] = v
	}
	_, err = dec.Token()
	return err
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encode(&b, k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (o object) get(key string, v any) error {
	raw, ok := o.vals[key]
	if !ok {
		return fmt.Errorf("model has no %q", key)
	}
	return json.Unmarshal(raw, v)
}

// set replaces the value of key, or appends key when it is new.
func (o *object) set(key string, v any) error {
	var b bytes.Buffer
	if err := encode(&b, v); err != nil {
		return err
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = json.RawMessage(bytes.TrimSpace(b.Bytes()))
	return nil
}

// encode writes v as JSON without HTML escaping (the model's documentation
// is HTML).
func encode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
