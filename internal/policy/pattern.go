package policy

import (
	"strings"
	"unicode/utf8"
)

// tokenKind is one element of a compiled pattern.
type tokenKind uint8

const (
	tokLiteral tokenKind = iota // text matched exactly
	tokStar                     // '*': any run of characters, possibly empty
	tokQuest                    // '?': exactly one character
	tokVar                      // ${...}: a policy variable, substituted as literal text
)

type token struct {
	kind tokenKind
	text string // tokLiteral
	ref  *ref   // tokVar
}

// pattern is a compiled resource or condition pattern: literals, wildcards
// and policy variables. Wildcards exist only in the policy text; a variable's
// value and the request's text are always literal, so a client ID or topic
// holding '*', '?', '+', '#' or "${" can never widen what a policy grants.
type pattern struct {
	src    string
	tokens []token
	vars   int  // number of tokVar tokens
	glob   bool // has '*' or '?'
}

// compilePattern compiles s. With glob, '*' and '?' are wildcards; without
// (StringEquals, ArnEquals values) they are literal. "${*}", "${?}" and "${$}"
// are always the literal characters. An unterminated "${" is an error.
func compilePattern(s string, glob bool) (*pattern, error) {
	p := &pattern{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.tokens = append(p.tokens, token{kind: tokLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, malformed("the policy variable starting at %q is not closed with '}'", clip(s[i:]))
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 1
			switch name {
			case "*", "?", "$":
				lit.WriteString(name)
				continue
			}
			r, err := parseRef(name)
			if err != nil {
				return nil, err
			}
			flush()
			p.tokens = append(p.tokens, token{kind: tokVar, ref: r})
			p.vars++
		case glob && c == '*':
			flush()
			// Consecutive stars are one star.
			if n := len(p.tokens); n == 0 || p.tokens[n-1].kind != tokStar {
				p.tokens = append(p.tokens, token{kind: tokStar})
			}
			p.glob = true
			i++
		case glob && c == '?':
			flush()
			p.tokens = append(p.tokens, token{kind: tokQuest})
			p.glob = true
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return p, nil
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// maxInlineVars is how many variable values a match resolves without
// allocating.
const maxInlineVars = 8

// match reports whether the input (the concatenation of parts, never
// interpreted) matches the pattern with its variables resolved in env. ok is
// false when a variable cannot be resolved: the pattern then matches nothing.
func (p *pattern) match(env *Env, in *input) (matched, ok bool) {
	var inline [maxInlineVars]string
	var vals []string
	if p.vars > 0 {
		if p.vars <= maxInlineVars {
			vals = inline[:0]
		} else {
			vals = make([]string, 0, p.vars)
		}
		for _, t := range p.tokens {
			if t.kind == tokVar {
				v, found := t.ref.single(env)
				if !found {
					return false, false
				}
				vals = append(vals, v)
			}
		}
	}
	if !p.glob {
		return p.matchExact(vals, in), true
	}
	return p.matchGlob(vals, in), true
}

// text returns the literal text of token k (a literal or a resolved variable).
func (p *pattern) text(k int, vals []string, vi int) string {
	if p.tokens[k].kind == tokVar {
		return vals[vi]
	}
	return p.tokens[k].text
}

func (p *pattern) matchExact(vals []string, in *input) bool {
	pos, vi := 0, 0
	for k, t := range p.tokens {
		s := p.text(k, vals, vi)
		if t.kind == tokVar {
			vi++
		}
		if !in.hasAt(pos, s) {
			return false
		}
		pos += len(s)
	}
	return pos == in.len()
}

// matchGlob is the classic linear-backtracking wildcard match, over tokens
// instead of bytes. '?' consumes one UTF-8 character of the input.
func (p *pattern) matchGlob(vals []string, in *input) bool {
	n := in.len()
	// Position in the pattern: token index, byte offset inside it, and the
	// index of the next variable value.
	type ppos struct{ k, off, vi int }
	cur := ppos{}
	var star ppos
	starSet := false
	mark := 0
	i := 0
	// normalize moves past exhausted literal tokens.
	normalize := func(q ppos) ppos {
		for q.k < len(p.tokens) {
			t := p.tokens[q.k]
			if t.kind != tokLiteral && t.kind != tokVar {
				return q
			}
			if q.off < len(p.text(q.k, vals, q.vi)) {
				return q
			}
			if t.kind == tokVar {
				q.vi++
			}
			q.k++
			q.off = 0
		}
		return q
	}
	// Fast path: leading literal text compared in runs, and a pattern that
	// ends in a star after it matches at once.
	for cur.k < len(p.tokens) {
		t := p.tokens[cur.k]
		if t.kind != tokLiteral && t.kind != tokVar {
			break
		}
		s := p.text(cur.k, vals, cur.vi)
		if !in.hasAt(i, s) {
			return false
		}
		i += len(s)
		if t.kind == tokVar {
			cur.vi++
		}
		cur.k++
	}
	if cur.k == len(p.tokens)-1 && p.tokens[cur.k].kind == tokStar {
		return true
	}
	cur = normalize(cur)
	for i < n {
		if cur.k < len(p.tokens) {
			t := p.tokens[cur.k]
			switch t.kind {
			case tokStar:
				star, starSet, mark = ppos{cur.k + 1, 0, cur.vi}, true, i
				cur = normalize(star)
				continue
			case tokQuest:
				_, size := in.runeAt(i)
				i += size
				cur = normalize(ppos{cur.k + 1, 0, cur.vi})
				continue
			default:
				if p.text(cur.k, vals, cur.vi)[cur.off] == in.at(i) {
					i++
					cur.off++
					cur = normalize(cur)
					continue
				}
			}
		}
		if !starSet {
			return false
		}
		// Let the last star absorb one more character and retry.
		_, size := in.runeAt(mark)
		mark += size
		i = mark
		cur = normalize(star)
	}
	for cur.k < len(p.tokens) && p.tokens[cur.k].kind == tokStar {
		cur = normalize(ppos{cur.k + 1, 0, cur.vi})
	}
	return cur.k == len(p.tokens)
}

// input is the text a pattern is matched against, as parts that are never
// copied together ("arn:aws:iot:", region, ":", account, ":topic/", name).
type input struct {
	parts [6]string
	n     int // total length
}

func makeInput(parts ...string) input {
	var in input
	for i, s := range parts {
		in.parts[i] = s
		in.n += len(s)
	}
	return in
}

func (in *input) len() int { return in.n }

func (in *input) at(i int) byte {
	for _, s := range in.parts {
		if i < len(s) {
			return s[i]
		}
		i -= len(s)
	}
	return 0
}

// runeAt returns the character starting at byte i and its size (1 for a
// byte that does not start valid UTF-8).
func (in *input) runeAt(i int) (rune, int) {
	c := in.at(i)
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	var buf [utf8.UTFMax]byte
	n := 0
	for j := i; j < in.n && n < utf8.UTFMax; j++ {
		buf[n] = in.at(j)
		n++
	}
	r, size := utf8.DecodeRune(buf[:n])
	if size == 0 {
		size = 1
	}
	return r, size
}

// hasAt reports whether s occurs in the input at byte offset pos, comparing
// whole runs of each part.
func (in *input) hasAt(pos int, s string) bool {
	if pos+len(s) > in.n {
		return false
	}
	for _, part := range in.parts {
		if len(s) == 0 {
			return true
		}
		if pos >= len(part) {
			pos -= len(part)
			continue
		}
		n := min(len(part)-pos, len(s))
		if part[pos:pos+n] != s[:n] {
			return false
		}
		s = s[n:]
		pos = 0
	}
	return len(s) == 0
}

// stringInput is the input of a single string.
func stringInput(s string) input { return makeInput(s) }
