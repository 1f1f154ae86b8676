// Package tagging holds the rules that every taggable IoT resource shares: the
// service model's constraints on tag keys and values, the per-resource limit,
// and how TagResource and UntagResource change a resource's tag list. Domain
// packages (endpoint today; things and policies later) store the list and
// call these functions, so that every resource kind answers alike.
package tagging

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/portico-iot/portico/internal/fault"
)

// Tag is a resource tag.
type Tag struct {
	Key   string
	Value string
}

// MaxTags is how many tags one resource may carry (AWS's documented limit).
const MaxTags = 50

// Limits of the service model's TagKey and TagValue shapes.
const (
	MaxKeyLength   = 128
	MaxValueLength = 256
)

// keyPattern is the model's TagKey pattern.
var keyPattern = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)

// CheckKey validates one tag key; member names the request member for the
// message ("tags.1.member.Key").
func CheckKey(key, member string) error {
	if n := utf8.RuneCountInString(key); n < 1 || n > MaxKeyLength {
		return validation(key, member, fmt.Sprintf("Member must have length between 1 and %d", MaxKeyLength))
	}
	if !keyPattern.MatchString(key) {
		return validation(key, member, "Member must satisfy regular expression pattern: "+keyPattern.String())
	}
	return nil
}

// CheckValue validates one tag value.
func CheckValue(value, member string) error {
	if utf8.RuneCountInString(value) > MaxValueLength {
		return validation(value, member, fmt.Sprintf("Member must have length less than or equal to %d", MaxValueLength))
	}
	return nil
}

func validation(value, member, constraint string) error {
	return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

// Validate checks the tags of one request: every key and value, no key twice,
// at most MaxTags.
func Validate(tags []Tag) error {
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		if err := CheckKey(t.Key, fmt.Sprintf("tags.%d.member.Key", i+1)); err != nil {
			return err
		}
		if err := CheckValue(t.Value, fmt.Sprintf("tags.%d.member.Value", i+1)); err != nil {
			return err
		}
		if seen[t.Key] {
			return fault.Invalidf("Tag key %q is given more than once", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > MaxTags {
		return tooMany(len(tags))
	}
	return nil
}

// ValidateKeys checks the keys of an UntagResource request.
func ValidateKeys(keys []string) error {
	for i, k := range keys {
		if err := CheckKey(k, fmt.Sprintf("tagKeys.%d.member", i+1)); err != nil {
			return err
		}
	}
	return nil
}

func tooMany(n int) error {
	return fault.New(fault.LimitExceeded, "A resource can have at most %d tags; this request would leave it with %d", MaxTags, n)
}

// Apply returns existing with add merged in: a tag whose key exists replaces
// its value in place, a new key is appended. add is validated first, and the
// result may not exceed MaxTags.
func Apply(existing, add []Tag) ([]Tag, error) {
	if err := Validate(add); err != nil {
		return nil, err
	}
	out := make([]Tag, len(existing), len(existing)+len(add))
	copy(out, existing)
	index := make(map[string]int, len(out))
	for i, t := range out {
		index[t.Key] = i
	}
	for _, t := range add {
		if i, ok := index[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		index[t.Key] = len(out)
		out = append(out, t)
	}
	if len(out) > MaxTags {
		return nil, tooMany(len(out))
	}
	return out, nil
}

// Remove returns existing without the tags whose keys are listed; keys that
// are not present are ignored. keys are validated first.
func Remove(existing []Tag, keys []string) ([]Tag, error) {
	if err := ValidateKeys(keys); err != nil {
		return nil, err
	}
	drop := make(map[string]bool, len(keys))
	for _, k := range keys {
		drop[k] = true
	}
	out := make([]Tag, 0, len(existing))
	for _, t := range existing {
		if !drop[t.Key] {
			out = append(out, t)
		}
	}
	return out, nil
}
