package policy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	region  = "us-east-1"
	account = "123456789012"
	arn     = "arn:aws:iot:us-east-1:123456789012:"
)

func mustParse(t testing.TB, doc string) *Document {
	t.Helper()
	d, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return d
}

// allow returns a one-statement Allow document.
func allow(action string, resources ...string) string {
	return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"` + action + `","Resource":[` + quoteAll(resources) + `]}}`
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ",")
}

func env(clientID string) *Env {
	return &Env{Region: region, Account: account, ClientID: clientID}
}

func thingEnv(clientID, thing string, attrs map[string]string) *Env {
	e := env(clientID)
	e.Thing = &Thing{Name: thing, TypeName: "sensor", Attributes: attrs}
	return e
}

func TestEvaluate(t *testing.T) {
	thermostat := thingEnv("thermo-1", "thermo-1", map[string]string{"floor": "3", "site": "lyon"})
	cases := []struct {
		name   string
		docs   []string
		env    *Env
		action Action
		res    string // client ID, topic or filter
		want   Decision
	}{
		// Plain grants and the default deny.
		{"no policies", nil, env("c1"), Connect, "c1", ImplicitDeny},
		{"exact client", []string{allow("iot:Connect", arn+"client/c1")}, env("c1"), Connect, "c1", Allow},
		{"other client", []string{allow("iot:Connect", arn+"client/c1")}, env("c2"), Connect, "c2", ImplicitDeny},
		{"star resource", []string{allow("iot:*", "*")}, env("c1"), Publish, "a/b", Allow},
		{"star action", []string{allow("*", "*")}, env("c1"), Subscribe, "a/#", Allow},
		{"action wildcard ?", []string{allow("iot:?ublish", arn+"topic/t")}, env("c1"), Publish, "t", Allow},
		{"action prefix wildcard", []string{allow("iot:Pub*", arn+"topic/t")}, env("c1"), Publish, "t", Allow},
		{"action case-insensitive", []string{allow("IOT:PUBLISH", arn+"topic/t")}, env("c1"), Publish, "t", Allow},
		{"action does not cover", []string{allow("iot:Publish", "*")}, env("c1"), Subscribe, "t", ImplicitDeny},
		{"other service action", []string{allow("greengrass:*", "*")}, env("c1"), Publish, "t", ImplicitDeny},
		{"topic not topicfilter", []string{allow("iot:Subscribe", arn+"topic/a/b")}, env("c1"), Subscribe, "a/b", ImplicitDeny},
		{"topicfilter", []string{allow("iot:Subscribe", arn+"topicfilter/a/b")}, env("c1"), Subscribe, "a/b", Allow},
		{"other region", []string{allow("iot:Publish", "arn:aws:iot:eu-west-1:123456789012:topic/t")}, env("c1"), Publish, "t", ImplicitDeny},
		{"region wildcard", []string{allow("iot:Publish", "arn:aws:iot:*:*:topic/t")}, env("c1"), Publish, "t", Allow},
		{"resource case-sensitive", []string{allow("iot:Publish", arn+"topic/T")}, env("c1"), Publish, "t", ImplicitDeny},
		{"star spans levels", []string{allow("iot:Publish", arn+"topic/a/*")}, env("c1"), Publish, "a/b/c", Allow},
		{"star matches empty", []string{allow("iot:Publish", arn+"topic/a/*")}, env("c1"), Publish, "a/", Allow},
		{"? is one character", []string{allow("iot:Publish", arn+"topic/a/?")}, env("c1"), Publish, "a/bc", ImplicitDeny},
		{"? matches a multibyte character", []string{allow("iot:Publish", arn+"topic/a/?")}, env("c1"), Publish, "a/é", Allow},
		{"ListRetainedMessages needs *", []string{allow("iot:ListRetainedMessages", arn+"topic/*")}, env("c1"), ListRetainedMessages, "", ImplicitDeny},
		{"ListRetainedMessages with *", []string{allow("iot:ListRetainedMessages", "*")}, env("c1"), ListRetainedMessages, "", Allow},
		{"RetainPublish", []string{allow("iot:RetainPublish", arn+"topic/r/*")}, env("c1"), RetainPublish, "r/x", Allow},
		{"GetRetainedMessage", []string{allow("iot:GetRetainedMessage", arn+"topic/r/*")}, env("c1"), GetRetainedMessage, "r/x", Allow},
		{"DeleteRetainedMessage", []string{allow("iot:DeleteRetainedMessage", arn+"topic/r/*")}, env("c1"), DeleteRetainedMessage, "r/x", Allow},

		// Explicit deny wins, across statements and across documents.
		{"deny wins in one document", []string{`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"iot:*","Resource":"*"},
			{"Effect":"Deny","Action":"iot:Publish","Resource":"` + arn + `topic/secret/*"}]}`},
			env("c1"), Publish, "secret/x", ExplicitDeny},
		{"deny wins across documents", []string{allow("iot:*", "*"),
			`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"` + arn + `client/bad"}}`},
			env("bad"), Connect, "bad", ExplicitDeny},
		{"deny elsewhere leaves allow", []string{allow("iot:*", "*"),
			`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"` + arn + `client/bad"}}`},
			env("good"), Connect, "good", Allow},
		{"NotAction", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iot:Publish","Resource":"*"}}`},
			env("c1"), Publish, "t", ImplicitDeny},
		{"NotAction allows others", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iot:Publish","Resource":"*"}}`},
			env("c1"), Subscribe, "t", Allow},
		{"NotResource", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"},{"Effect":"Deny","Action":"iot:Publish","NotResource":"` + arn + `topic/ok/*"}]}`},
			env("c1"), Publish, "other", ExplicitDeny},
		{"NotResource spares", []string{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"},{"Effect":"Deny","Action":"iot:Publish","NotResource":"` + arn + `topic/ok/*"}]}`},
			env("c1"), Publish, "ok/1", Allow},

		// Reserved topics are ordinary resources: only what a policy names.
		{"$aws not under *-less grant", []string{allow("iot:Publish", arn+"topic/devices/*")}, env("c1"), Publish, "$aws/things/x/shadow/update", ImplicitDeny},
		{"$aws when granted", []string{allow("iot:Publish", arn+"topic/$aws/things/${iot:ClientId}/shadow/*")}, env("c1"), Publish, "$aws/things/c1/shadow/update", Allow},
		{"$aws other thing", []string{allow("iot:Publish", arn+"topic/$aws/things/${iot:ClientId}/shadow/*")}, env("c1"), Publish, "$aws/things/c2/shadow/update", ImplicitDeny},
		{"$aws under topic/*", []string{allow("iot:Publish", arn+"topic/*")}, env("c1"), Publish, "$aws/rules/r", Allow},

		// MQTT wildcards are literal characters, in policies and requests.
		{"+ in policy is literal", []string{allow("iot:Publish", arn+"topic/a/+/c")}, env("c1"), Publish, "a/b/c", ImplicitDeny},
		{"+ in policy matches literal +", []string{allow("iot:Subscribe", arn+"topicfilter/a/+/c")}, env("c1"), Subscribe, "a/+/c", Allow},
		{"# in policy is literal", []string{allow("iot:Subscribe", arn+"topicfilter/a/#")}, env("c1"), Subscribe, "a/b", ImplicitDeny},
		{"# filter needs # grant", []string{allow("iot:Subscribe", arn+"topicfilter/a/b")}, env("c1"), Subscribe, "a/#", ImplicitDeny},
		{"+ filter needs + grant", []string{allow("iot:Subscribe", arn+"topicfilter/a/b")}, env("c1"), Subscribe, "a/+", ImplicitDeny},
		{"# alone", []string{allow("iot:Subscribe", arn+"topicfilter/own/*")}, env("c1"), Subscribe, "#", ImplicitDeny},

		// Request text is never a pattern.
		{"* in topic is literal", []string{allow("iot:Publish", arn+"topic/a/b")}, env("c1"), Publish, "a/*", ImplicitDeny},
		{"? in topic is literal", []string{allow("iot:Publish", arn+"topic/a/b")}, env("c1"), Publish, "a/?", ImplicitDeny},
		{"${ in topic is literal", []string{allow("iot:Publish", arn+"topic/a/${iot:ClientId}")}, env("c1"), Publish, "a/${iot:ClientId}", ImplicitDeny},
		{"* client ID cannot connect as anyone", []string{allow("iot:Connect", arn+"client/c1")}, env("*"), Connect, "*", ImplicitDeny},

		// Variables are substituted as literal text.
		{"ClientId variable", []string{allow("iot:Publish", arn+"topic/d/${iot:ClientId}/*")}, env("c1"), Publish, "d/c1/t", Allow},
		{"ClientId variable other", []string{allow("iot:Publish", arn+"topic/d/${iot:ClientId}/*")}, env("c1"), Publish, "d/c2/t", ImplicitDeny},
		{"* client ID stays literal", []string{allow("iot:Publish", arn+"topic/d/${iot:ClientId}")}, env("*"), Publish, "d/anything", ImplicitDeny},
		{"* client ID own topic", []string{allow("iot:Publish", arn+"topic/d/${iot:ClientId}")}, env("*"), Publish, "d/*", Allow},
		{"? client ID stays literal", []string{allow("iot:Publish", arn+"topic/d/${iot:ClientId}")}, env("?"), Publish, "d/x", ImplicitDeny},
		{"# client ID stays literal", []string{allow("iot:Subscribe", arn+"topicfilter/d/${iot:ClientId}")}, env("#"), Subscribe, "d/x", ImplicitDeny},
		{"+ client ID own filter", []string{allow("iot:Subscribe", arn+"topicfilter/d/${iot:ClientId}")}, env("+"), Subscribe, "d/+", Allow},
		{"${ client ID is not expanded", []string{allow("iot:Publish", arn+"topic/d/${iot:ClientId}")}, env("${iot:ClientId}"), Publish, "d/x", ImplicitDeny},
		{"client ID with * then suffix", []string{allow("iot:Publish", arn+"topic/${iot:ClientId}/data")}, env("a*"), Publish, "abc/data", ImplicitDeny},
		{"thing name", []string{allow("iot:Connect", arn+"client/${iot:Connection.Thing.ThingName}")}, thermostat, Connect, "thermo-1", Allow},
		{"thing attribute", []string{allow("iot:Publish", arn+"topic/site/${iot:Connection.Thing.Attributes[site]}/*")}, thermostat, Publish, "site/lyon/t", Allow},
		{"thing attribute other", []string{allow("iot:Publish", arn+"topic/site/${iot:Connection.Thing.Attributes[site]}/*")}, thermostat, Publish, "site/paris/t", ImplicitDeny},
		{"thing type", []string{allow("iot:Publish", arn+"topic/${iot:Connection.Thing.ThingTypeName}/x")}, thermostat, Publish, "sensor/x", Allow},
		{"special variable ${*}", []string{allow("iot:Publish", arn+"topic/a/${*}")}, env("c1"), Publish, "a/*", Allow},
		{"special variable ${*} is literal", []string{allow("iot:Publish", arn+"topic/a/${*}")}, env("c1"), Publish, "a/b", ImplicitDeny},

		// Unresolvable variables: the statement does not apply, either way.
		{"no thing: allow does not apply", []string{allow("iot:Connect", arn+"client/${iot:Connection.Thing.ThingName}")}, env("c1"), Connect, "c1", ImplicitDeny},
		{"no thing: deny does not apply", []string{allow("iot:Connect", "*"),
			`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"` + arn + `client/${iot:Connection.Thing.ThingName}"}}`},
			env("c1"), Connect, "c1", Allow},
		{"missing attribute", []string{allow("iot:Publish", arn+"topic/${iot:Connection.Thing.Attributes[nope]}/*")}, thermostat, Publish, "/x", ImplicitDeny},
		{"unknown variable", []string{allow("iot:Publish", arn+"topic/${iot:Nope}")}, env("c1"), Publish, "", ImplicitDeny},
		{"empty client ID", []string{allow("iot:Publish", arn+"topic/${iot:ClientId}")}, env(""), Publish, "", ImplicitDeny},

		// Conditions.
		{"IsAttached", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}}`},
			thermostat, Connect, "thermo-1", Allow},
		{"IsAttached without thing", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}}}`},
			env("c1"), Connect, "c1", ImplicitDeny},
		{"IsAttached JSON bool", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":true}}}}`},
			thermostat, Connect, "thermo-1", Allow},
		{"StringEquals attribute and type", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[floor]":["2","3"],"iot:Connection.Thing.ThingTypeName":"sensor"}}}}`},
			thermostat, Publish, "t", Allow},
		{"StringEquals one key fails", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[floor]":"3","iot:Connection.Thing.ThingTypeName":"lamp"}}}}`},
			thermostat, Publish, "t", ImplicitDeny},
		{"StringEquals with variable", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}}}`},
			thermostat, Connect, "thermo-1", Allow},
		{"StringLike", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringLike":{"iot:ClientId":"thermo-*"}}}}`},
			thermostat, Connect, "thermo-1", Allow},
		{"StringNotLike", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringNotLike":{"iot:ClientId":"thermo-*"}}}}`},
			thermostat, Connect, "thermo-1", ImplicitDeny},
		{"StringEqualsIgnoreCase", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"iot:ClientId":"THERMO-1"}}}}`},
			thermostat, Connect, "thermo-1", Allow},
		{"StringNotEquals absent key holds", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"lamp"}}}}`},
			env("c1"), Connect, "c1", Allow},
		{"StringEquals absent key fails", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"lamp"}}}}`},
			env("c1"), Connect, "c1", ImplicitDeny},
		{"IfExists absent key holds", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"lamp"}}}}`},
			env("c1"), Connect, "c1", Allow},
		{"IfExists present key decides", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"lamp"}}}}`},
			thermostat, Connect, "thermo-1", ImplicitDeny},
		{"Null true", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"Null":{"iot:Connection.Thing.ThingName":"true"}}}}`, allow("iot:Connect", "*")},
			env("c1"), Connect, "c1", ExplicitDeny},
		{"Null false", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"Null":{"iot:Connection.Thing.ThingName":"true"}}}}`, allow("iot:Connect", "*")},
			thermostat, Connect, "thermo-1", Allow},
		{"NumericGreaterThan", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"NumericGreaterThan":{"iot:Connection.Thing.Attributes[floor]":2}}}}`},
			thermostat, Publish, "t", Allow},
		{"NumericLessThan", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"NumericLessThan":{"iot:Connection.Thing.Attributes[floor]":"2.5"}}}}`},
			thermostat, Publish, "t", ImplicitDeny},
		{"NumericNotEquals", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"NumericNotEquals":{"iot:Connection.Thing.Attributes[floor]":"3"}}}}`},
			thermostat, Publish, "t", ImplicitDeny},
		{"DateLessThan current time", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, Publish, "t", Allow},
		{"DateGreaterThan epoch", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"1893456000"}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, Publish, "t", ImplicitDeny},
		{"IpAddress", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", SourceIP: netip.MustParseAddr("10.1.2.3")}, Connect, "c", Allow},
		{"IpAddress outside", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", SourceIP: netip.MustParseAddr("192.0.2.1")}, Connect, "c", ImplicitDeny},
		{"NotIpAddress", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`, allow("iot:Connect", "*")},
			&Env{Region: region, Account: account, ClientID: "c", SourceIP: netip.MustParseAddr("192.0.2.1")}, Connect, "c", ExplicitDeny},
		{"ForAnyValue ConnectAttributes", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"iot:ConnectAttributes":["LastWill"]}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", Keys: map[string][]string{"iot:connectattributes": {"PersistentConnect", "LastWill"}}}, Connect, "c", Allow},
		{"ForAllValues ConnectAttributes", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect"]}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", Keys: map[string][]string{"iot:connectattributes": {"PersistentConnect", "LastWill"}}}, Connect, "c", ImplicitDeny},
		{"ForAllValues absent key holds", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect"]}}}}`},
			env("c"), Connect, "c", Allow},
		{"ArnLike", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"ArnLike":{"iot:ThingArn":"arn:aws:iot:*:*:thing/t*"}}}}`},
			&Env{Region: region, Account: account, ClientID: "c", Keys: map[string][]string{"iot:thingarn": {arn + "thing/t1"}}}, Connect, "c", Allow},
		{"unresolved variable in condition value", []string{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}}}`},
			env("c1"), Connect, "c1", ImplicitDeny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var docs []*Document
			for _, d := range tc.docs {
				docs = append(docs, mustParse(t, d))
			}
			got := Evaluate(NewRequest(tc.env, tc.action, tc.res), docs)
			if got != tc.want {
				t.Fatalf("Evaluate(%v %q, client %q) = %v, want %v", tc.action, tc.res, tc.env.ClientID, got, tc.want)
			}
		})
	}
}

// TestRequestTextNeverWidens throws hostile client IDs and topics at a
// policy that grants a client only its own namespace.
func TestRequestTextNeverWidens(t *testing.T) {
	doc := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/${iot:ClientId}"},
		{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"`+arn+`topic/dev/${iot:ClientId}/*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"`+arn+`topicfilter/dev/${iot:ClientId}/*"}]}`)
	hostile := []string{"*", "?", "+", "#", "${iot:ClientId}", "${*}", "a*", "*/x", "dev/*", "$aws", "", "\x00", "é"}
	for _, id := range hostile {
		e := env(id)
		for _, other := range []string{"victim", "victim/secret", "x"} {
			for _, a := range []Action{Publish, Receive} {
				if d := Evaluate(NewRequest(e, a, "dev/"+other+"/t"), []*Document{doc}); d.Allowed() && other != id {
					t.Errorf("client %q may %v dev/%s/t", id, a, other)
				}
			}
			if d := Evaluate(NewRequest(e, Subscribe, "dev/"+other+"/#"), []*Document{doc}); d.Allowed() {
				t.Errorf("client %q may subscribe to dev/%s/#", id, other)
			}
		}
		if id != "" {
			if d := Evaluate(NewRequest(e, Publish, "dev/"+id+"/t"), []*Document{doc}); !d.Allowed() {
				t.Errorf("client %q may not publish to its own dev/%s/t", id, id)
			}
		}
	}
}

func TestExplicitARN(t *testing.T) {
	doc := mustParse(t, allow("iot:Publish", arn+"topic/a/*"))
	if d := doc.Evaluate(Request{Action: Publish, ARN: arn + "topic/a/b"}); d != Allow {
		t.Fatalf("ARN request = %v", d)
	}
	if d := doc.Evaluate(Request{Action: Publish, ARN: "arn:aws:iot:eu-west-1:123456789012:topic/a/b"}); d != ImplicitDeny {
		t.Fatalf("other-region ARN = %v", d)
	}
	if d := doc.Evaluate(Request{Action: Action(200), ARN: arn + "topic/a/b"}); d != ImplicitDeny {
		t.Fatalf("unknown action = %v", d)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"empty", "", "empty"},
		{"not JSON", "{", "not valid JSON"},
		{"array", `[]`, "must be a JSON object"},
		{"trailing", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}} x`, "after its JSON object"},
		{"no version", `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, `"Version"`},
		{"old version", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, "not supported"},
		{"unknown element", `{"Version":"2012-10-17","Statements":[]}`, "unknown element"},
		{"no statement", `{"Version":"2012-10-17"}`, "no Statement"},
		{"empty statements", `{"Version":"2012-10-17","Statement":[]}`, "empty Statement"},
		{"statement string", `{"Version":"2012-10-17","Statement":"x"}`, "object or an array"},
		{"bad effect", `{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"*","Resource":"*"}}`, "Allow or Deny"},
		{"no effect", `{"Version":"2012-10-17","Statement":{"Action":"*","Resource":"*"}}`, "Effect is required"},
		{"principal", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}`, "Principal is not allowed"},
		{"no action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}`, "Action or NotAction"},
		{"both actions", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}}`, "both Action and NotAction"},
		{"bad action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"Publish","Resource":"*"}}`, "service:action"},
		{"action number", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":1,"Resource":"*"}}`, "string or an array"},
		{"empty action list", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`, "empty list"},
		{"no resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*"}}`, "Resource or NotResource"},
		{"bad resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"topic/a"}}`, "neither"},
		{"unclosed variable", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:*:*:topic/${iot:ClientId"}}`, "not closed"},
		{"bad operator", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSimilar":{"iot:ClientId":"a"}}}}`, "not a condition operator"},
		{"Null IfExists", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NullIfExists":{"iot:ClientId":"true"}}}}`, "Null takes no"},
		{"bad bool", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"yes"}}}}`, "true or false"},
		{"bad number", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"NumericEquals":{"k":"ten"}}}}`, "a number"},
		{"bad date", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateEquals":{"aws:CurrentTime":"tomorrow"}}}}`, "a date"},
		{"bad ip", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`, "IP address"},
		{"condition list empty", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":[]}}}}`, "empty list"},
		{"condition object value", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"k":{}}}}}`, "string, number or boolean"},
		{"too long", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:*:*:topic/` + strings.Repeat("a", 2048) + `"}}`, "the limit is 2048"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.doc)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !IsMalformed(err) {
				t.Fatalf("error %v is not a malformed-policy error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestSizeLimitIgnoresWhitespace: 2048 characters excluding whitespace is
// the limit, so an indented document may be longer than that.
func TestSizeLimitIgnoresWhitespace(t *testing.T) {
	base := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:*:*:topic/`
	tail := `"}}`
	fill := MaxDocumentChars - len(base) - len(tail)
	exact := base + strings.Repeat("a", fill) + tail
	if _, err := Parse(exact); err != nil {
		t.Fatalf("2048 characters refused: %v", err)
	}
	spaced := strings.ReplaceAll(exact, ",", ",\n      ")
	if _, err := Parse(spaced); err != nil {
		t.Fatalf("2048 characters with whitespace refused: %v", err)
	}
	if _, err := Parse(base + strings.Repeat("a", fill+1) + tail); err == nil {
		t.Fatal("2049 characters accepted")
	}
}

func TestStatementForms(t *testing.T) {
	// Statement as an object and as an array; Action and Resource as a
	// string and as an array; Sid and Id allowed.
	for _, doc := range []string{
		`{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"s","Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":["*"]}]}`,
	} {
		d := mustParse(t, doc)
		if !d.Evaluate(NewRequest(env("c"), Connect, "c")).Allowed() {
			t.Errorf("%s does not allow connect", doc)
		}
	}
}

func testCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("urn:device:001")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(123456789),
		Subject: pkix.Name{CommonName: "bulb-001", Organization: []string{"Example Corp", "AnyCompany"},
			OrganizationalUnit: []string{"Lights"}, Country: []string{"FR"}},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		DNSNames:       []string{"bulb.example.com"},
		EmailAddresses: []string{"bulb@example.com"},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.5")},
		URIs:           []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertificateVariables(t *testing.T) {
	cert := testCertificate(t)
	e := env("bulb-001")
	e.Certificate = NewCertificateVars(cert)
	cases := []struct {
		resource string
		topic    string
		want     Decision
	}{
		{arn + "topic/${iot:Certificate.Subject.CommonName}/x", "bulb-001/x", Allow},
		// DER sorts the values of one attribute set: AnyCompany comes first.
		{arn + "topic/${iot:Certificate.Subject.Organization}", "AnyCompany", Allow},
		{arn + "topic/${iot:Certificate.Subject.Organization.1}", "Example Corp", Allow},
		{arn + "topic/${iot:Certificate.Subject.Organization.2}", "", ImplicitDeny},
		{arn + "topic/${iot:Certificate.Subject.Organization.List}", "Example Corp", ImplicitDeny},
		{arn + "topic/${iot:Certificate.SerialNumber}", "123456789", Allow},
		{arn + "topic/${iot:Certificate.Issuer.CommonName}", "bulb-001", Allow},
		{arn + "topic/${iot:Certificate.Subject.AlternativeName.DNSName}", "bulb.example.com", Allow},
		{arn + "topic/${iot:Certificate.Subject.AlternativeName.RFC822Name}", "bulb@example.com", Allow},
		{arn + "topic/${iot:Certificate.Subject.AlternativeName.IPAddress}", "192.0.2.5", Allow},
		{arn + "topic/${iot:Certificate.Subject.AlternativeName.UniformResourceIdentifier}", "urn:device:001", Allow},
		{arn + "topic/${iot:certificate.subject.commonname}", "bulb-001", Allow},
		{arn + "topic/${iot:Certificate.Subject.Title}", "", ImplicitDeny},
	}
	for _, tc := range cases {
		d := mustParse(t, allow("iot:Publish", tc.resource))
		if got := d.Evaluate(NewRequest(e, Publish, tc.topic)); got != tc.want {
			t.Errorf("%s on %q = %v, want %v", tc.resource, tc.topic, got, tc.want)
		}
	}
	cond := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*",
		"Condition":{"ForAllValues:StringEquals":{"iot:Certificate.Subject.Organization.List":["Example Corp","AnyCompany"]},
		"Null":{"iot:Certificate.SerialNumber":"false"}}}}`)
	if got := cond.Evaluate(NewRequest(e, Connect, "bulb-001")); got != Allow {
		t.Errorf("organization list condition = %v", got)
	}
	e2 := env("bulb-001")
	if got := cond.Evaluate(NewRequest(e2, Connect, "bulb-001")); got != ImplicitDeny {
		t.Errorf("no certificate: %v", got)
	}
	// A certificate value holding a wildcard character is not substituted.
	wild := &x509.Certificate{Subject: pkix.Name{CommonName: "dev*"}, SerialNumber: big.NewInt(1)}
	e3 := env("x")
	e3.Certificate = NewCertificateVars(wild)
	d := mustParse(t, allow("iot:Publish", arn+"topic/${iot:Certificate.Subject.CommonName}"))
	if got := d.Evaluate(NewRequest(e3, Publish, "dev*")); got != ImplicitDeny {
		t.Errorf("wildcard CN substituted: %v", got)
	}
}

func TestResolveThing(t *testing.T) {
	things := []Thing{{Name: "a"}, {Name: "b"}}
	if th := ResolveThing("b", things, nil); th == nil || th.Name != "b" {
		t.Fatalf("by client ID: %v", th)
	}
	if th := ResolveThing("c", things, func(int) bool { return true }); th != nil {
		t.Fatalf("two things, none named: %v", th)
	}
	one := []Thing{{Name: "a"}}
	if th := ResolveThing("c", one, func(int) bool { return true }); th == nil || th.Name != "a" {
		t.Fatalf("exclusive: %v", th)
	}
	if th := ResolveThing("c", one, func(int) bool { return false }); th != nil {
		t.Fatalf("non-exclusive, other client ID: %v", th)
	}
}

func TestMissingKeys(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/${iot:Connection.Thing.ThingName}",
		 "Condition":{"StringEquals":{"iot:Connection.Thing.Attributes[site]":"${iot:ClientId}"}}},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"`+arn+`topic/${iot:Certificate.Subject.CommonName}"}]}`)
	got := d.MissingKeys(NewRequest(env("c1"), Connect, "c1"))
	want := "iot:Connection.Thing.ThingName,iot:Connection.Thing.Attributes[site]"
	if strings.Join(got, ",") != want {
		t.Fatalf("MissingKeys = %v, want %s", got, want)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	docs := []*Document{
		mustParse(b, `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/${iot:Connection.Thing.ThingName}","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}},
			{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["`+arn+`topic/devices/${iot:Connection.Thing.ThingName}/*","`+arn+`topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
			{"Effect":"Allow","Action":"iot:Subscribe","Resource":"`+arn+`topicfilter/devices/${iot:Connection.Thing.ThingName}/*"},
			{"Effect":"Deny","Action":"iot:Publish","Resource":"`+arn+`topic/devices/*/admin"}]}`),
		mustParse(b, allow("iot:Publish", arn+"topic/telemetry/${iot:ClientId}/*")),
	}
	e := thingEnv("thermo-1", "thermo-1", map[string]string{"site": "lyon"})
	reqs := []Request{
		NewRequest(e, Connect, "thermo-1"),
		NewRequest(e, Publish, "devices/thermo-1/temperature"),
		NewRequest(e, Publish, "$aws/things/thermo-1/shadow/update"),
		NewRequest(e, Subscribe, "devices/thermo-1/commands"),
		NewRequest(e, Publish, "devices/other/temperature"),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := reqs[i%len(reqs)]
		_ = Evaluate(r, docs)
	}
}
