// SPDX-License-Identifier: Apache-2.0

package diff

import (
	"fmt"
	"strings"

	"github.com/taskwire/taskwire/generator/diag"
	"github.com/taskwire/taskwire/generator/model"
)

// rateChange is how the effective limit of a route changed; routes whose
// limits changed alike (one `default` raised) are reported together.
type rateChange struct {
	pos      diag.Pos
	severity diag.Severity
	message  string // with routesMark where the routes go
}

const routesMark = "\x00routes\x00"

// rateChange compares the effective rate limit of one route. fallback is
// where to report when the new limit is written nowhere.
func (d *differ) rateChange(a, b *model.Rate, fallback diag.Pos) (rateChange, bool) {
	const subject = "rate limit of " + routesMark
	switch {
	case a == nil && b == nil:
	case a == nil:
		return rateChange{first(d.new, b.Pos, fallback), diag.Warning, fmt.Sprintf("%s is now %s (it was unlimited); callers above it get 429", subject, b.String())}, true
	case b == nil:
		return rateChange{first(d.old, a.Pos), diag.Info, fmt.Sprintf("%s was removed (it was %s)", subject, a.String())}, true
	default:
		pos := first(d.new, b.Pos, fallback)
		ra, rb := perSecond(a), perSecond(b)
		switch {
		case rb < ra:
			return rateChange{pos, diag.Warning, fmt.Sprintf("%s lowered from %s to %s; callers above it get 429", subject, a.String(), b.String())}, true
		case b.N < a.N:
			return rateChange{pos, diag.Warning, fmt.Sprintf("%s changed from %s to %s: the burst shrinks from %d to %d requests, so bursts that passed get 429", subject, a.String(), b.String(), a.N, b.N)}, true
		case rb > ra:
			return rateChange{pos, diag.Info, fmt.Sprintf("%s raised from %s to %s", subject, a.String(), b.String())}, true
		case b.N > a.N:
			return rateChange{pos, diag.Info, fmt.Sprintf("%s changed from %s to %s: the burst grows from %d to %d requests", subject, a.String(), b.String(), a.N, b.N)}, true
		}
	}
	return rateChange{}, false
}

// anonymous compares the limit per client address of the requests that are
// not authenticated (security.rate_limits.anonymous, or its default).
func (d *differ) anonymous() {
	a, b := d.old.AnonymousRate(), d.new.AnonymousRate()
	if a == nil || b == nil { // security turned on or off: reported with security
		return
	}
	c, ok := d.rateChange(a, b, at(d.new, d.new.Security.Pos))
	if ok {
		d.report(c.pos, c.severity, nowhere, "%s", strings.Replace(c.message, routesMark, "requests without credentials (security.rate_limits.anonymous, per client address)", 1))
	}
}

func perSecond(r *model.Rate) float64 { return float64(r.N) / r.Per.Seconds() }

// routes compares the effective rate limit of every route both versions
// serve, execute routes included (a route of a removed pipeline is reported
// with the pipeline).
func (d *differ) routes() {
	var order []rateChange
	byChange := map[rateChange][]*model.Route{}
	for _, rb := range d.new.Routes {
		if rb.Public {
			continue
		}
		var ra *model.Route
		for _, r := range d.old.Routes {
			if r.OperationID == rb.OperationID {
				ra = r
			}
		}
		if ra == nil {
			continue
		}
		fallback := d.new.Security.Pos
		if p := d.new.Pipeline(rb.Pipeline); p != nil {
			fallback = p.Pos
		}
		c, ok := d.rateChange(d.old.RouteRate(ra), d.new.RouteRate(rb), at(d.new, fallback))
		if !ok {
			continue
		}
		if byChange[c] == nil {
			order = append(order, c)
		}
		byChange[c] = append(byChange[c], rb)
	}
	for _, c := range order {
		rs := byChange[c]
		names := fmt.Sprintf("route %s (%s %s)", rs[0].OperationID, rs[0].Method, rs[0].Path)
		if len(rs) > 1 {
			ids := make([]string, len(rs))
			for i, r := range rs {
				ids[i] = r.OperationID
			}
			names = "routes " + strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
		}
		d.report(c.pos, c.severity, nowhere, "%s", strings.Replace(c.message, routesMark, names, 1))
	}
}
