package policy

import (
	"encoding/json"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// baseOp is a condition operator without its IfExists suffix and set
// qualifier.
type baseOp uint8

const (
	opStringEquals baseOp = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opArnEquals
	opArnLike
	opNull
)

type opInfo struct {
	base    baseOp
	negated bool
}

// operators are the condition operators AWS IoT policies accept, by lower-case
// name (names are matched case-insensitively).
var operators = map[string]opInfo{
	"stringequals":              {opStringEquals, false},
	"stringnotequals":           {opStringEquals, true},
	"stringequalsignorecase":    {opStringEqualsIgnoreCase, false},
	"stringnotequalsignorecase": {opStringEqualsIgnoreCase, true},
	"stringlike":                {opStringLike, false},
	"stringnotlike":             {opStringLike, true},
	"numericequals":             {opNumericEquals, false},
	"numericnotequals":          {opNumericEquals, true},
	"numericlessthan":           {opNumericLessThan, false},
	"numericlessthanequals":     {opNumericLessThanEquals, false},
	"numericgreaterthan":        {opNumericGreaterThan, false},
	"numericgreaterthanequals":  {opNumericGreaterThanEquals, false},
	"dateequals":                {opDateEquals, false},
	"datenotequals":             {opDateEquals, true},
	"datelessthan":              {opDateLessThan, false},
	"datelessthanequals":        {opDateLessThanEquals, false},
	"dategreaterthan":           {opDateGreaterThan, false},
	"dategreaterthanequals":     {opDateGreaterThanEquals, false},
	"bool":                      {opBool, false},
	"binaryequals":              {opBinaryEquals, false},
	"ipaddress":                 {opIPAddress, false},
	"notipaddress":              {opIPAddress, true},
	"arnequals":                 {opArnEquals, false},
	"arnnotequals":              {opArnEquals, true},
	"arnlike":                   {opArnLike, false},
	"arnnotlike":                {opArnLike, true},
	"null":                      {opNull, false},
}

type setQualifier uint8

const (
	setNone setQualifier = iota
	setForAnyValue
	setForAllValues
)

// condition is one key of one operator of a Condition block.
type condition struct {
	op       string // as written, for messages
	base     baseOp
	negated  bool
	ifExists bool
	set      setQualifier
	key      *ref
	values   []condValue
}

// condValue is one policy value of a condition, parsed for its operator.
type condValue struct {
	pat    *pattern // string, ARN and binary operators
	num    float64
	date   time.Time
	prefix netip.Prefix
	flag   bool // Bool and Null
}

// parseConditions compiles a statement's Condition block. Operators are
// ANDed, keys within an operator are ANDed, and a key's values are ORed.
func parseConditions(raw any) ([]condition, error) {
	block, ok := raw.(map[string]any)
	if !ok {
		return nil, malformed("Condition must be an object of condition operators")
	}
	var out []condition
	ops := sortedKeys(block)
	for _, opName := range ops {
		info, set, ifExists, err := parseOperator(opName)
		if err != nil {
			return nil, err
		}
		keys, ok := block[opName].(map[string]any)
		if !ok {
			return nil, malformed("the %s condition must be an object of condition keys and values", opName)
		}
		if len(keys) == 0 {
			return nil, malformed("the %s condition has no condition keys", opName)
		}
		for _, keyName := range sortedKeys(keys) {
			if strings.Contains(keyName, "${") {
				return nil, malformed("condition key %q cannot hold a policy variable", keyName)
			}
			key, err := parseRef(keyName)
			if err != nil {
				return nil, err
			}
			raws, err := conditionValues(opName, keyName, keys[keyName])
			if err != nil {
				return nil, err
			}
			c := condition{op: opName, base: info.base, negated: info.negated, ifExists: ifExists, set: set, key: key}
			for _, rv := range raws {
				v, err := parseCondValue(c, rv)
				if err != nil {
					return nil, err
				}
				c.values = append(c.values, v)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(name string) (opInfo, setQualifier, bool, error) {
	lower := strings.ToLower(name)
	set := setNone
	if rest, ok := strings.CutPrefix(lower, "foranyvalue:"); ok {
		lower, set = rest, setForAnyValue
	} else if rest, ok := strings.CutPrefix(lower, "forallvalues:"); ok {
		lower, set = rest, setForAllValues
	}
	ifExists := false
	if rest, ok := strings.CutSuffix(lower, "ifexists"); ok {
		lower, ifExists = rest, true
	}
	info, ok := operators[lower]
	if !ok {
		return opInfo{}, 0, false, malformed("%q is not a condition operator AWS IoT policies support", name)
	}
	if info.base == opNull && (ifExists || set != setNone) {
		return opInfo{}, 0, false, malformed("%q is not a valid condition operator: Null takes no IfExists suffix or set qualifier", name)
	}
	return info, set, ifExists, nil
}

// conditionValues returns a condition's values as strings: a string, number
// or boolean, or a non-empty array of those.
func conditionValues(op, key string, raw any) ([]string, error) {
	scalar := func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	if arr, ok := raw.([]any); ok {
		if len(arr) == 0 {
			return nil, malformed("the %s condition on %q has an empty list of values", op, key)
		}
		out := make([]string, 0, len(arr))
		for _, v := range arr {
			s, ok := scalar(v)
			if !ok {
				return nil, malformed("the %s condition on %q has a value that is not a string, number or boolean", op, key)
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := scalar(raw)
	if !ok {
		return nil, malformed("the %s condition on %q must have a string, number or boolean value, or a list of them", op, key)
	}
	return []string{s}, nil
}

func parseCondValue(c condition, s string) (condValue, error) {
	var v condValue
	var err error
	bad := func(what string) error {
		return malformed("the %s condition on %q has %q, which is not %s", c.op, c.key.name, s, what)
	}
	switch c.base {
	case opStringEquals, opStringEqualsIgnoreCase, opArnEquals, opBinaryEquals:
		v.pat, err = compilePattern(s, false)
	case opStringLike, opArnLike:
		v.pat, err = compilePattern(s, true)
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		if v.num, err = parseNumber(s); err != nil {
			return v, bad("a number")
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		var ok bool
		if v.date, ok = parseDate(s); !ok {
			return v, bad("a date (ISO 8601 or epoch seconds)")
		}
	case opBool, opNull:
		switch strings.ToLower(s) {
		case "true":
			v.flag = true
		case "false":
		default:
			return v, bad("true or false")
		}
	case opIPAddress:
		if v.prefix, err = parseIPRange(s); err != nil {
			return v, bad("an IP address or CIDR range")
		}
	}
	return v, err
}

func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) {
		return 0, strconv.ErrSyntax
	}
	return f, nil
}

// parseDate reads an ISO 8601 date (RFC 3339, or a date alone) or epoch
// seconds.
func parseDate(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseIPRange(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// eval decides the condition in env. ok is false when a policy variable in
// one of its values cannot be resolved: the statement then does not apply.
func (c *condition) eval(env *Env) (result, ok bool) {
	var buf [1]string
	vals, present := c.key.valuesInto(env, &buf)
	if c.base == opNull {
		for _, v := range c.values {
			if v.flag == !present {
				return true, true
			}
		}
		return false, true
	}
	if !present {
		switch {
		case c.ifExists:
			return true, true
		case c.set == setForAllValues:
			return true, true
		case c.set == setForAnyValue:
			return false, true
		}
		// A negated operator holds when the key is absent, as in IAM.
		return c.negated, true
	}
	pred := func(v string) (bool, bool) {
		m, ok := c.anyMatch(env, v)
		if !ok {
			return false, false
		}
		return m != c.negated, true
	}
	if c.set == setForAllValues {
		for _, v := range vals {
			r, ok := pred(v)
			if !ok {
				return false, false
			}
			if !r {
				return false, true
			}
		}
		return true, true
	}
	for _, v := range vals {
		r, ok := pred(v)
		if !ok {
			return false, false
		}
		if r {
			return true, true
		}
	}
	return false, true
}

// anyMatch reports whether the context value v matches any of the
// condition's policy values under its base operator.
func (c *condition) anyMatch(env *Env, v string) (bool, bool) {
	switch c.base {
	case opStringEquals, opStringLike, opArnEquals, opArnLike, opBinaryEquals:
		in := stringInput(v)
		for i := range c.values {
			m, ok := c.values[i].pat.match(env, &in)
			if !ok {
				return false, false
			}
			if m {
				return true, true
			}
		}
		return false, true
	case opStringEqualsIgnoreCase:
		for i := range c.values {
			s, ok := c.values[i].pat.resolve(env)
			if !ok {
				return false, false
			}
			if strings.EqualFold(s, v) {
				return true, true
			}
		}
		return false, true
	case opBool:
		for i := range c.values {
			if strings.EqualFold(v, strconv.FormatBool(c.values[i].flag)) {
				return true, true
			}
		}
		return false, true
	case opIPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false, true
		}
		a = a.Unmap()
		for i := range c.values {
			if c.values[i].prefix.Contains(a) {
				return true, true
			}
		}
		return false, true
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, err := parseNumber(v)
		if err != nil {
			return false, true
		}
		for i := range c.values {
			if compare(c.base-opNumericEquals, cmpFloat(n, c.values[i].num)) {
				return true, true
			}
		}
		return false, true
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(v)
		if !ok {
			return false, true
		}
		for i := range c.values {
			if compare(c.base-opDateEquals, t.Compare(c.values[i].date)) {
				return true, true
			}
		}
		return false, true
	}
	return false, true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare applies the k-th comparison (equals, less than, less than or
// equals, greater than, greater than or equals) to a three-way result.
func compare(k baseOp, c int) bool {
	switch k {
	case 0:
		return c == 0
	case 1:
		return c < 0
	case 2:
		return c <= 0
	case 3:
		return c > 0
	case 4:
		return c >= 0
	}
	return false
}

// resolve returns the pattern's text with its variables substituted; only
// for patterns without wildcards.
func (p *pattern) resolve(env *Env) (string, bool) {
	if p.vars == 0 && len(p.tokens) <= 1 {
		if len(p.tokens) == 0 {
			return "", true
		}
		return p.tokens[0].text, true
	}
	var b strings.Builder
	for _, t := range p.tokens {
		switch t.kind {
		case tokVar:
			v, ok := t.ref.single(env)
			if !ok {
				return "", false
			}
			b.WriteString(v)
		case tokStar:
			b.WriteByte('*')
		case tokQuest:
			b.WriteByte('?')
		default:
			b.WriteString(t.text)
		}
	}
	return b.String(), true
}
