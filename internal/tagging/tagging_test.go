package tagging

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/fault"
)

func TestCheckKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"env":                    true,
		"a b:c/d=e+f-g@h_i.j":    true,
		"ünïcödé 名前 ٣":           true,
		strings.Repeat("k", 128): true,
		strings.Repeat("é", 128): true, // characters, not bytes
		"":                       false,
		strings.Repeat("k", 129): false,
		"a#b":                    false,
		"a*b":                    false,
		"tab\there":              false,
		"quote'":                 false,
	} {
		if err := CheckKey(key, "tags.1.member.Key"); (err == nil) != ok {
			t.Errorf("CheckKey(%.20q) = %v, want ok=%v", key, err, ok)
		}
	}
	if err := CheckValue(strings.Repeat("v", 256), "v"); err != nil {
		t.Error(err)
	}
	if err := CheckValue(strings.Repeat("v", 257), "v"); !fault.Is(err, fault.Invalid) {
		t.Errorf("257-character value: %v", err)
	}
}

func TestApplyAndRemove(t *testing.T) {
	tags, err := Apply(nil, []Tag{{"a", "1"}, {"b", "2"}})
	if err != nil {
		t.Fatal(err)
	}
	tags, err = Apply(tags, []Tag{{"b", "3"}, {"c", ""}})
	if err != nil || fmt.Sprint(tags) != "[{a 1} {b 3} {c }]" {
		t.Fatalf("apply: %v %v", tags, err)
	}
	if _, err := Apply(tags, []Tag{{"d", "1"}, {"d", "2"}}); !fault.Is(err, fault.Invalid) {
		t.Errorf("duplicate keys: %v", err)
	}
	var many []Tag
	for i := range MaxTags - 2 {
		many = append(many, Tag{Key: fmt.Sprint("k", i)})
	}
	if _, err := Apply(tags, many); !fault.Is(err, fault.LimitExceeded) {
		t.Errorf("51 tags: %v", err)
	}
	full, err := Apply(tags, many[:MaxTags-3])
	if err != nil || len(full) != MaxTags {
		t.Fatalf("50 tags: %d, %v", len(full), err)
	}
	// Replacing a value at the limit is fine.
	if _, err := Apply(full, []Tag{{"a", "x"}}); err != nil {
		t.Errorf("replace at the limit: %v", err)
	}
	left, err := Remove(tags, []string{"a", "zzz"})
	if err != nil || fmt.Sprint(left) != "[{b 3} {c }]" || len(tags) != 3 {
		t.Fatalf("remove: %v %v (input %v)", left, err, tags)
	}
	if _, err := Remove(tags, []string{""}); !fault.Is(err, fault.Invalid) {
		t.Errorf("remove empty key: %v", err)
	}
}
