// SPDX-License-Identifier: Apache-2.0

package schema

import (
	"bytes"
	"math"
	"strconv"
)

// parseInt parses an integral literal (as scanNumber returned it) and
// reports whether it lies within [lo, hi]. It compares exactly, at any length.
func parseInt(lit []byte, lo, hi int64) (int64, bool) {
	neg := lit[0] == '-'
	digits := lit
	if neg {
		digits = lit[1:]
	}
	limit := uint64(hi)
	if neg {
		limit = uint64(-(lo + 1)) + 1
	}
	var u uint64
	for _, c := range digits {
		d := uint64(c - '0')
		if u > (limit-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		return int64(-u), true // -u wraps correctly for the most negative value
	}
	return int64(u), true
}

// Bounds for exact comparisons of int64 values with float64 bounds. Both are
// exactly representable.
const (
	minInt64Float = -0x1p63
	twoTo63       = 0x1p63
)

// intAtLeast reports whether v >= min, exactly.
func intAtLeast(v int64, min float64) bool {
	switch {
	case min <= minInt64Float:
		return true
	case min >= twoTo63:
		return false
	}
	// Within (-2^63, 2^63), an integral float64 converts to int64 exactly.
	return v >= int64(math.Ceil(min))
}

// intAtMost reports whether v <= max, exactly.
func intAtMost(v int64, max float64) bool {
	switch {
	case max >= twoTo63:
		return true
	case max < minInt64Float:
		return false
	}
	return v <= int64(math.Floor(max))
}

// compareFloat compares the number literal lit, whose nearest float64 is f,
// with bound b, written bd in decimal, exactly: -1, 0 or +1 as lit is below,
// equal to or above bd.
func compareFloat(lit []byte, f, b float64, bd decimal) int {
	// Rounding is monotonic, so only a literal that rounds to b itself may
	// be on either side of it.
	switch {
	case f < b:
		return -1
	case f > b:
		return 1
	}
	return compareDecimals(parseDecimal(lit), bd)
}

// boundDecimal returns the shortest decimal that rounds to f: the number
// the spec's author wrote, such as 0.1, rather than the exact value of the
// nearest float64 (0.1000000000000000055511151231257827...), so that a body
// holding the same digits as the spec is on the bound.
func boundDecimal(f float64) decimal {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return decimal{}
	}
	return parseDecimal(strconv.AppendFloat(nil, f, 'e', -1, 64))
}

// decimal is a number as ±0.digits × 10^exp, digits without leading or
// trailing zeros; zero has no digits.
type decimal struct {
	neg    bool
	digits []byte // a subslice of the literal where possible
	exp    int64
}

// parseDecimal parses a JSON number literal (or strconv's 'e' format). It
// runs in linear time whatever the exponent.
func parseDecimal(lit []byte) decimal {
	var d decimal
	i := 0
	if i < len(lit) && lit[i] == '-' {
		d.neg = true
		i++
	}
	// Digits before and after the point, as one run with the point's position.
	start := i
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	intPart := lit[start:i]
	var frac []byte
	if i < len(lit) && lit[i] == '.' {
		i++
		fs := i
		for i < len(lit) && isDigit(lit[i]) {
			i++
		}
		frac = lit[fs:i]
	}
	var exp int64
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		eneg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			eneg = lit[i] == '-'
			i++
		}
		for ; i < len(lit); i++ {
			if exp < 1e15 { // beyond, the magnitude alone decides
				exp = exp*10 + int64(lit[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	var all []byte
	switch {
	case len(frac) == 0:
		all = intPart
	case len(bytes.TrimLeft(intPart, "0")) == 0:
		// Only zeros before the point: they are stripped below anyway.
		all = frac
		intPart = nil
	default:
		all = make([]byte, 0, len(intPart)+len(frac))
		all = append(append(all, intPart...), frac...)
	}
	point := int64(len(intPart))
	for len(all) > 0 && all[0] == '0' {
		all = all[1:]
		point--
	}
	for len(all) > 0 && all[len(all)-1] == '0' {
		all = all[:len(all)-1]
	}
	d.digits = all
	d.exp = point + exp
	return d
}

func compareDecimals(a, b decimal) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		return compareInts(sa, sb)
	}
	if sa == 0 {
		return 0
	}
	var c int
	switch {
	case a.exp < b.exp:
		c = -1
	case a.exp > b.exp:
		c = 1
	default:
		c = bytes.Compare(a.digits, b.digits)
	}
	return c * sa
}

func (d decimal) sign() int {
	switch {
	case len(d.digits) == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}
