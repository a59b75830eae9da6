// SPDX-License-Identifier: Apache-2.0

package golang

import (
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/taskwire/taskwire/generator"
	"github.com/taskwire/taskwire/generator/model"
	"github.com/taskwire/taskwire/runtime/audit"
)

// serverFile generates the service descriptor, NewEngine and NewServer.
func (g *gen) serverFile() *jen.File {
	f := g.newFile()
	f.Anon("embed")
	f.Comment("openAPIDocument is the OpenAPI document of the service, served at /openapi.json.")
	f.Comment("")
	f.Comment("//go:embed " + generator.OpenAPIFile)
	f.Var().Id("openAPIDocument").Index().Byte()

	f.Comment("ServiceName is the service's name, the spec's package. Processes of one")
	f.Comment("service share work through a broker under it, so that several services")
	f.Comment("can share one broker (see deploy.Flags).")
	f.Const().Id("ServiceName").Op("=").Lit(g.m.Package)

	f.Comment("Service describes the service to the HTTP layer: its title, security")
	f.Comment("policy and OpenAPI document, as the spec declares them.")
	f.Func().Id("Service").Params().Qual(httpapiPath, "Service").Block(jen.Return(g.service()))

	f.Comment("NewEngine binds impl to the spec's tasks and pipelines and returns an")
	f.Comment("engine running them, configured by opts (a backend, workers...). Shut it")
	f.Comment("down when done.")
	f.Func().Id("NewEngine").Params(
		jen.Id("impl").Id("Tasks"),
		jen.Id("opts").Op("...").Qual(runtimePath, "Option"),
	).Params(jen.Op("*").Qual(runtimePath, "Engine"), jen.Error()).Block(
		jen.Id("reg").Op(":=").Qual(runtimePath, "NewRegistry").Call(),
		jen.If(jen.Err().Op(":=").Id("Register").Call(jen.Id("reg"), jen.Id("impl")), jen.Err().Op("!=").Nil()).Block(
			jen.Return(jen.Nil(), jen.Err()),
		),
		jen.Return(jen.Qual(runtimePath, "New").Call(jen.Id("reg"), jen.Id("opts").Op("...")), jen.Nil()),
	)

	f.Comment("NewServer returns the HTTP server of the service over e, an engine made")
	f.Comment("by NewEngine, configured by opts.")
	f.Func().Id("NewServer").Params(
		jen.Id("e").Op("*").Qual(runtimePath, "Engine"),
		jen.Id("opts").Op("...").Qual(httpapiPath, "Option"),
	).Params(jen.Op("*").Qual(httpapiPath, "Server"), jen.Error()).Block(
		jen.Return(jen.Qual(httpapiPath, "New").Call(jen.Id("e"), jen.Id("Service").Call(), jen.Id("opts").Op("..."))),
	)
	return f
}

// service returns the httpapi.Service literal of the model.
func (g *gen) service() *jen.Statement {
	m := g.m
	var l lit
	l.set("Title", jen.Lit(m.Service.Title))
	l.set("Version", jen.Lit(m.Service.Version))
	l.set("Security", security(m.Security))
	l.set("OpenAPI", jen.Id("openAPIDocument"))
	return jen.Qual(httpapiPath, "Service").Add(l.multi())
}

// rate returns the httpapi.Rate literal of r.
func rate(r model.Rate) *jen.Statement {
	return jen.Qual(httpapiPath, "Rate").Values(jen.Id("N").Op(":").Lit(r.N), jen.Id("Per").Op(":").Add(duration(r.Per)))
}

// rateLimits returns the *httpapi.Limits literal of the spec's limits, or
// nil when limits are off.
func rateLimits(s *model.Security) *jen.Statement {
	rl := s.RateLimits
	if !s.Enabled || !rl.Enabled {
		return nil
	}
	var l lit
	if rl.Default != nil {
		l.set("Default", jen.Op("&").Add(rate(*rl.Default)))
	}
	if len(rl.Routes) > 0 {
		routes := jen.Dict{}
		for name, r := range rl.Routes {
			routes[jen.Lit(name)] = jen.Values(jen.Id("N").Op(":").Lit(r.N), jen.Id("Per").Op(":").Add(duration(r.Per)))
		}
		l.set("Routes", jen.Map(jen.String()).Qual(httpapiPath, "Rate").Values(routes))
	}
	return jen.Op("&").Qual(httpapiPath, "Limits").Add(l.multi())
}

// security returns the httpapi.Security literal of s.
func security(s *model.Security) *jen.Statement {
	var l lit
	if s == nil {
		return jen.Qual(httpapiPath, "Security").Values()
	}
	l.set("Enabled", jen.Lit(s.Enabled))
	if s.Has(model.AuthAPIKey) {
		l.set("APIKey", jen.True())
	}
	if s.Has(model.AuthJWT) {
		l.set("JWT", jen.True())
	}
	l.str("APIKeyHeader", s.APIKeyHeader)
	if len(s.Keys) > 0 {
		var keys lit
		for _, k := range s.Keys {
			var kl lit
			kl.set("ID", jen.Lit(k.ID))
			kl.str("Env", k.Env)
			kl.str("SHA256", k.SHA256)
			kl.set("Role", jen.Lit(k.Role))
			kl.set("Pipelines", stringSlice(k.Pipelines))
			if !k.Expires.IsZero() {
				kl.set("Expires", timeLit(k.Expires))
			}
			keys.add(kl.line())
		}
		l.set("Keys", jen.Index().Qual(httpapiPath, "Key").Add(keys.multi()))
	}
	l.str("KeysFile", s.KeysFile)
	if j := s.JWT; j != nil {
		var jl lit
		oneOrMany(&jl, "Algorithm", "Algorithms", j.Algorithms)
		jl.str("SecretEnv", j.SecretEnv)
		jl.str("PreviousSecretEnv", j.PreviousSecretEnv)
		jl.str("PublicKeyFile", j.PublicKeyFile)
		jl.str("JWKSURL", j.JWKSURL)
		if j.Discovery {
			jl.set("Discovery", jen.True())
		}
		oneOrMany(&jl, "Issuer", "Issuers", j.Issuers)
		oneOrMany(&jl, "Audience", "Audiences", j.Audiences)
		jl.set("RoleClaim", jen.Lit(j.RoleClaim))
		jl.set("PipelinesClaim", jen.Lit(j.PipelinesClaim))
		if j.Leeway != 0 {
			jl.set("Leeway", duration(j.Leeway))
		}
		l.set("JWTConfig", jen.Op("&").Qual(httpapiPath, "JWT").Add(jl.multi()))
	}
	if len(s.ACLs) > 0 {
		var acls lit
		for _, a := range s.ACLs {
			var al lit
			al.set("Pattern", jen.Lit(a.Pattern))
			al.set("Read", stringSlice(a.Grants[model.ActionRead]))
			al.set("Execute", stringSlice(a.Grants[model.ActionExecute]))
			al.set("Write", stringSlice(a.Grants[model.ActionWrite]))
			al.set("AllRuns", stringSlice(a.Grants[model.ActionAllRuns]))
			acls.add(al.line())
		}
		l.set("ACLs", jen.Index().Qual(httpapiPath, "ACL").Add(acls.multi()))
	}
	if s.RequireHTTPS {
		l.set("RequireHTTPS", jen.True())
	}
	if len(s.TrustedProxies) > 0 {
		ps := make([]string, len(s.TrustedProxies))
		for i, p := range s.TrustedProxies {
			ps[i] = p.String()
		}
		l.set("TrustedProxies", stringSlice(ps))
	}
	l.set("RateLimits", rateLimits(s))
	if a := s.RateLimits.Anonymous; a != nil && s.Enabled {
		l.set("Anonymous", jen.Op("&").Add(rate(*a)))
	}
	l.set("Audit", auditLit(s.Audit))
	if m := s.Metrics; m != nil {
		var ml lit
		if len(m.Roles) > 0 {
			ml.set("Roles", stringSlice(m.Roles))
		}
		ml.str("Listen", m.Listen)
		l.set("Metrics", jen.Op("&").Qual(httpapiPath, "MetricsAccess").Add(ml.line()))
	}
	return jen.Qual(httpapiPath, "Security").Add(l.multi())
}

// oneOrMany sets field one to the only value of list, or field many to
// list when it has several.
func oneOrMany(l *lit, one, many string, list []string) {
	switch len(list) {
	case 0:
	case 1:
		l.set(one, jen.Lit(list[0]))
	default:
		l.set(many, stringSlice(list))
	}
}

// syncModeNames are the httpapi names of the audit sync modes.
var syncModeNames = map[audit.SyncMode]string{audit.Interval: "AuditInterval", audit.Always: "AuditAlways"}

// auditLit is the httpapi.Audit literal of the audit configuration.
func auditLit(a model.Audit) *jen.Statement {
	var al lit
	al.set("Enabled", jen.Lit(a.Enabled))
	al.str("File", a.File)
	if a.MaxSize != 0 {
		al.set("MaxSize", jen.Lit(int(a.MaxSize)))
	}
	if name := syncModeNames[a.Sync]; name != "" {
		al.set("Sync", jen.Qual(httpapiPath, name))
	}
	if a.SyncInterval != 0 {
		al.set("SyncInterval", duration(a.SyncInterval))
	}
	switch {
	case a.MinFree == model.AuditMinFreeOff:
		al.set("MinFree", jen.Qual(httpapiPath, "AuditMinFreeOff"))
	case a.MinFree > 0:
		al.set("MinFree", jen.Lit(int(a.MinFree)))
	}
	al.str("KeyEnv", a.KeyEnv)
	if a.CheckpointInterval != 0 && a.CheckpointInterval != audit.DefaultCheckpointInterval {
		al.set("CheckpointInterval", duration(a.CheckpointInterval))
	}
	return jen.Qual(httpapiPath, "Audit").Add(al.line())
}

// timeLit returns t as a time.Date literal in UTC.
func timeLit(t time.Time) *jen.Statement {
	t = t.UTC()
	return jen.Qual("time", "Date").Call(
		jen.Lit(t.Year()), jen.Qual("time", t.Month().String()), jen.Lit(t.Day()),
		jen.Lit(t.Hour()), jen.Lit(t.Minute()), jen.Lit(t.Second()), jen.Lit(t.Nanosecond()),
		jen.Qual("time", "UTC"),
	)
}
