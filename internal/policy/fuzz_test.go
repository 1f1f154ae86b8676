package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary documents to Parse: no panic, refusals are
// malformed-policy errors, and whatever is accepted evaluates without panic
// and respects the size limit.
func FuzzParse(f *testing.F) {
	f.Add(allow("iot:Connect", arn+"client/${iot:ClientId}"))
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":["iot:Pub*"],"NotResource":"arn:aws:iot:*:*:topic/$aws/*","Condition":{"ForAllValues:StringLikeIfExists":{"iot:Certificate.Subject.Organization.List":["a*","b?"]},"Null":{"iot:ClientId":false},"NumericLessThan":{"iot:Connection.Thing.Attributes[n]":[1,2.5]},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}]}`)
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"${*}${?}${$}${"}}`)
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"arn:${iot:Certificate.Issuer.CommonName.7}"}}`)
	f.Add(`{}`)
	f.Add(`[1,2]`)
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{"Bool":{"k":[true,"false"]}}}}  `)
	envs := []*Env{nil, env("c1"), thingEnv("t", "t", map[string]string{"n": "1"})}
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := Parse(doc)
		if err != nil {
			if !IsMalformed(err) {
				t.Fatalf("refusal is not a malformed-policy error: %v", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if n := nonSpaceChars(doc); n > MaxDocumentChars {
			t.Fatalf("accepted %d characters", n)
		}
		for _, e := range envs {
			for a := Action(0); a < numActions; a++ {
				_ = d.Evaluate(NewRequest(e, a, "dev/c1/x"))
				_ = d.MissingKeys(NewRequest(e, a, "dev/c1/x"))
			}
		}
	})
}

// FuzzEvaluate checks the matcher against two oracles: a policy granting
// dev/${iot:ClientId}/* allows exactly the topics under the client's own
// prefix, whatever characters the client ID and topic hold; and a
// variable-free resource pattern matches exactly what the equivalent
// regular expression matches.
func FuzzEvaluate(f *testing.F) {
	f.Add("c1", "dev/c1/x", "a/*/b?")
	f.Add("*", "dev/victim/x", "*")
	f.Add("+", "dev/+/#", "?")
	f.Add("${iot:ClientId}", "dev/${iot:ClientId}/x", "${*}")
	f.Add("é", "dev/é/é", "dev/?/*")
	f.Add("", "dev//x", "**a**")
	own := mustParse(f, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["iot:Publish","iot:Subscribe"],"Resource":["`+arn+`topic/dev/${iot:ClientId}/*","`+arn+`topicfilter/dev/${iot:ClientId}/*"]}}`)
	f.Fuzz(func(t *testing.T, clientID, topic, pat string) {
		e := env(clientID)
		want := clientID != "" && strings.HasPrefix(topic, "dev/"+clientID+"/")
		for _, a := range []Action{Publish, Subscribe} {
			if got := Evaluate(NewRequest(e, a, topic), []*Document{own}); got.Allowed() != want {
				t.Fatalf("client %q %v %q: allowed=%v, want %v", clientID, a, topic, got.Allowed(), want)
			}
		}
		if strings.Contains(pat, "${") || !utf8.ValidString(pat) || !utf8.ValidString(topic) {
			return
		}
		p, err := compilePattern(pat, true)
		if err != nil {
			return
		}
		in := stringInput(topic)
		got, ok := p.match(nil, &in)
		if !ok {
			t.Fatalf("variable-free pattern %q unresolved", pat)
		}
		var re strings.Builder
		re.WriteString(`^(?s:`)
		for _, r := range pat {
			switch r {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`)$`)
		if want := regexp.MustCompile(re.String()).MatchString(topic); got != want {
			t.Fatalf("pattern %q on %q: %v, regexp says %v", pat, topic, got, want)
		}
	})
}
